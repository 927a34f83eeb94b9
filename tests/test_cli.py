"""The ``todo-api`` command (operations.md, "Commands" and "Environment").

Most tests run the Typer app in process with ``CliRunner``; one runs the
installed console script as a real process, end to end (exit code, stderr).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import SECRET
from todo_api import cli
from todo_api.config import get_settings

SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "ENVIRONMENT",
    "DOCS_ENABLED",
    "CORS_ORIGINS",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "RATE_LIMIT_STORAGE_URL",
    "RATE_LIMIT_AUTH",
    "RATE_LIMIT_API",
    "HOST",
    "PORT",
)
SCRIPT = Path(sys.executable).with_name("todo-api")

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Valid settings for a fresh SQLite file, in an empty working directory (no ``.env``).

    ``get_settings`` is cached per process, so the cache is cleared around each
    test; logging is left as pytest set it up (the commands would reconfigure it),
    and ``serve`` can never start a server here.
    """
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "configure_logging", lambda level, fmt: None)

    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve must not start a server in this test")

    monkeypatch.setattr(cli.uvicorn, "run", no_server)
    get_settings.cache_clear()
    yield {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "ENVIRONMENT": "test",
        "BETTER_AUTH_SECRET": SECRET,
    }
    get_settings.cache_clear()


def invoke(args: list[str], env: dict[str, str]) -> Result:
    get_settings.cache_clear()
    return runner.invoke(cli.app, args, env=env)


def assert_clean_exit(result: Result, code: int, *names: str) -> None:
    """Exit ``code`` with a message naming ``names``; no traceback, no uncaught exception."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for name in names:
        assert name in result.output, result.output


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


# --- help -----------------------------------------------------------------------------------


def test_help_lists_the_three_commands(env: dict[str, str]) -> None:
    result = invoke(["--help"], env)

    assert result.exit_code == 0, result.output
    for command in ("serve", "migrate", "openapi"):
        assert command in result.output


def test_serve_help_lists_its_options(env: dict[str, str]) -> None:
    result = invoke(["serve", "--help"], env)

    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--workers", "--reload"):
        assert option in result.output


def test_unknown_command_is_a_usage_error(env: dict[str, str]) -> None:
    result = invoke(["frobnicate"], env)

    assert result.exit_code == 2
    assert "Traceback" not in result.output


# --- openapi --------------------------------------------------------------------------------


@pytest.mark.parametrize("docs_enabled", ["true", "false"])
def test_openapi_prints_the_document(env: dict[str, str], docs_enabled: str) -> None:
    result = invoke(["openapi"], {**env, "DOCS_ENABLED": docs_enabled})

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["info"]["title"] == "Todo API"
    assert "/api/{user_id}/tasks" in document["paths"]
    assert "/api/auth/token" in document["paths"]


# --- migrate --------------------------------------------------------------------------------


def test_migrate_creates_the_tables_and_is_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    assert not database.exists()

    first = invoke(["migrate"], env)
    created = tables(database)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO users (id, email, created_at, updated_at) "
            "VALUES ('keepme', 'keep@example.com', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    second = invoke(["migrate"], env)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert {"users", "tasks", "alembic_version"} <= created
    assert tables(database) == created
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert connection.execute("SELECT email FROM users WHERE id = 'keepme'").fetchone() == (
            "keep@example.com",
        )


def test_migrate_with_unreachable_database_fails_cleanly(env: dict[str, str]) -> None:
    result = invoke(["migrate"], {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nope"})

    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "database" in result.output.lower()


# --- bad configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "migrate", "openapi"])
@pytest.mark.parametrize(
    "secret",
    [pytest.param("too-short", id="short"), pytest.param("x" * 31, id="31-chars")],
)
def test_production_with_short_secret_exits_2_naming_the_variable(
    env: dict[str, str], command: str, secret: str
) -> None:
    result = invoke([command], {**env, "ENVIRONMENT": "production", "BETTER_AUTH_SECRET": secret})

    assert_clean_exit(result, 2, "BETTER_AUTH_SECRET")
    assert secret not in result.output


def test_production_without_secret_exits_2_naming_the_variable(env: dict[str, str]) -> None:
    settings = {k: v for k, v in env.items() if k != "BETTER_AUTH_SECRET"}

    result = invoke(["migrate"], {**settings, "ENVIRONMENT": "production"})

    assert_clean_exit(result, 2, "BETTER_AUTH_SECRET")


def test_production_with_long_secret_runs(env: dict[str, str]) -> None:
    result = invoke(
        ["migrate"], {**env, "ENVIRONMENT": "production", "BETTER_AUTH_SECRET": "s" * 32}
    )

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param("not a database url", id="not-a-url"),
        pytest.param("://nohost", id="no-scheme"),
        pytest.param("mysql://user@localhost/todo", id="unsupported"),
    ],
)
@pytest.mark.parametrize("command", ["migrate", "openapi"])
def test_malformed_database_url_exits_2_naming_the_variable(
    env: dict[str, str], database_url: str, command: str
) -> None:
    result = invoke([command], {**env, "DATABASE_URL": database_url})

    assert_clean_exit(result, 2, "DATABASE_URL")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENVIRONMENT", "staging"),
        ("MAX_BODY_BYTES", "a lot"),
        ("RATE_LIMIT_AUTH", "often"),
        ("LOG_FORMAT", "xml"),
        ("BETTER_AUTH_URL", "ftp://auth.example.com"),
    ],
)
def test_other_bad_settings_exit_2_naming_the_variable(
    env: dict[str, str], variable: str, value: str
) -> None:
    result = invoke(["migrate"], {**env, variable: value})

    assert_clean_exit(result, 2, variable)


# --- the installed script, as a real process ------------------------------------------------


def run_script(
    args: list[str], overrides: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    environment.update(overrides)
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_script_refuses_short_secret_in_production(tmp_path: Path) -> None:
    overrides = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'script.db'}",
        "ENVIRONMENT": "production",
        "BETTER_AUTH_SECRET": "short",
    }

    completed = run_script(["migrate"], overrides, tmp_path)

    assert completed.returncode == 2, completed.stderr
    assert "BETTER_AUTH_SECRET" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    assert not (tmp_path / "script.db").exists()
