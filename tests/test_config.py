"""Settings (operations.md, "Environment"): defaults, parsing, the secret rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from todo_api.config import Environment, SettingsError, get_settings, load_settings

VARIABLES = (
    "DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "BETTER_AUTH_URL",
    "BETTER_AUTH_JWKS_PATH",
    "BETTER_AUTH_SESSION_TOKENS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "ENVIRONMENT",
    "CORS_ORIGINS",
    "RATE_LIMIT_STORAGE_URL",
    "RATE_LIMIT_AUTH",
    "RATE_LIMIT_API",
    "MAX_BODY_BYTES",
    "DOCS_ENABLED",
    "LOG_LEVEL",
    "LOG_FORMAT",
)
LONG_SECRET = "s" * 32


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No settings variable in the environment and no ``.env`` in the working directory."""
    monkeypatch.chdir(tmp_path)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("database_url", "sqlite+aiosqlite:///./todo.db"),
        ("better_auth_url", None),
        ("better_auth_jwks_path", "/api/auth/jwks"),
        ("better_auth_session_tokens", False),
        ("jwt_issuer", None),
        ("jwt_audience", None),
        ("access_token_expire_minutes", 60),
        ("environment", Environment.development),
        ("cors_origins", ["http://localhost:3000"]),
        ("rate_limit_storage_url", "memory://"),
        ("rate_limit_auth", "10/minute"),
        ("rate_limit_api", "600/minute"),
        ("max_body_bytes", 1_048_576),
        ("docs_enabled", True),
        ("log_level", "info"),
        ("log_format", "text"),
    ],
)
def test_defaults_match_operations_md(
    clean_env: pytest.MonkeyPatch, field: str, default: Any
) -> None:
    settings = load_settings()

    assert getattr(settings, field) == default


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("https://app.example.com", ["https://app.example.com"]),
        (
            "https://app.example.com,http://localhost:3000",
            ["https://app.example.com", "http://localhost:3000"],
        ),
        (
            " https://a.example.com , https://b.example.com ,",
            ["https://a.example.com", "https://b.example.com"],
        ),
        ("*", ["*"]),
    ],
)
def test_cors_origins_are_comma_separated(
    clean_env: pytest.MonkeyPatch, raw: str, origins: list[str]
) -> None:
    clean_env.setenv("CORS_ORIGINS", raw)

    assert load_settings().cors_origins == origins
    assert load_settings(cors_origins=raw).cors_origins == origins


@pytest.mark.parametrize(
    ("variable", "raw", "field", "value"),
    [
        ("DOCS_ENABLED", "false", "docs_enabled", False),
        ("DOCS_ENABLED", "0", "docs_enabled", False),
        ("BETTER_AUTH_SESSION_TOKENS", "true", "better_auth_session_tokens", True),
        ("MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "15", "access_token_expire_minutes", 15),
        ("LOG_LEVEL", "DEBUG", "log_level", "debug"),
        ("LOG_FORMAT", "json", "log_format", "json"),
        ("ENVIRONMENT", "test", "environment", Environment.test),
        ("BETTER_AUTH_URL", "http://localhost:3000/", "better_auth_url", "http://localhost:3000"),
        ("JWT_ISSUER", "https://auth.example.com", "jwt_issuer", "https://auth.example.com"),
        (
            "RATE_LIMIT_STORAGE_URL",
            "redis://h:6379/0",
            "rate_limit_storage_url",
            "redis://h:6379/0",
        ),
    ],
)
def test_variables_are_read_from_the_environment(
    clean_env: pytest.MonkeyPatch, variable: str, raw: str, field: str, value: Any
) -> None:
    clean_env.setenv("BETTER_AUTH_SECRET", LONG_SECRET)
    clean_env.setenv(variable, raw)

    assert getattr(load_settings(), field) == value


def test_dot_env_file_in_working_directory_is_read(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "DOCS_ENABLED=false\nMAX_BODY_BYTES=4096\nCORS_ORIGINS=https://app.example.com\n",
        encoding="utf-8",
    )

    settings = load_settings()

    assert settings.docs_enabled is False
    assert settings.max_body_bytes == 4096
    assert settings.cors_origins == ["https://app.example.com"]


def test_environment_variable_wins_over_dot_env(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("MAX_BODY_BYTES=4096\n", encoding="utf-8")
    clean_env.setenv("MAX_BODY_BYTES", "8192")

    assert load_settings().max_body_bytes == 8192


# --- the secret -----------------------------------------------------------------------------


def test_development_without_secret_generates_one(clean_env: pytest.MonkeyPatch) -> None:
    first = load_settings()
    second = load_settings()

    assert first.environment is Environment.development
    assert first.secret_was_generated is True
    assert len(first.better_auth_secret) >= 32
    assert first.better_auth_secret != second.better_auth_secret


def test_development_with_secret_keeps_it(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BETTER_AUTH_SECRET", "short-is-fine-in-development")

    settings = load_settings()

    assert settings.better_auth_secret == "short-is-fine-in-development"
    assert settings.secret_was_generated is False


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("length", [32, 64])
def test_secret_of_32_or_more_is_accepted_outside_development(
    clean_env: pytest.MonkeyPatch, environment: str, length: int
) -> None:
    clean_env.setenv("ENVIRONMENT", environment)
    clean_env.setenv("BETTER_AUTH_SECRET", "k" * length)

    settings = load_settings()

    assert settings.better_auth_secret == "k" * length
    assert settings.secret_was_generated is False


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("secret", [None, "", "k" * 31])
def test_missing_or_short_secret_stops_start_up_outside_development(
    clean_env: pytest.MonkeyPatch, environment: str, secret: str | None
) -> None:
    clean_env.setenv("ENVIRONMENT", environment)
    if secret is not None:
        clean_env.setenv("BETTER_AUTH_SECRET", secret)

    with pytest.raises(SettingsError, match="BETTER_AUTH_SECRET") as raised:
        load_settings()

    assert "32" in str(raised.value)
    if secret:
        assert secret not in str(raised.value)


# --- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("DATABASE_URL", "not a url"),
        ("DATABASE_URL", "mysql://u@localhost/db"),
        ("ENVIRONMENT", "staging"),
        ("MAX_BODY_BYTES", "lots"),
        ("MAX_BODY_BYTES", "10"),
        ("RATE_LIMIT_AUTH", "often"),
        ("RATE_LIMIT_API", "600 per fortnight"),
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "xml"),
        ("BETTER_AUTH_URL", "localhost:3000"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
    ],
)
def test_bad_value_is_a_settings_error_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, raw: str
) -> None:
    clean_env.setenv(variable, raw)

    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_several_bad_values_are_all_reported(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MAX_BODY_BYTES", "lots")
    clean_env.setenv("LOG_FORMAT", "xml")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "MAX_BODY_BYTES" in str(raised.value)
    assert "LOG_FORMAT" in str(raised.value)


def test_get_settings_is_loaded_once(clean_env: pytest.MonkeyPatch) -> None:
    first = get_settings()
    clean_env.setenv("MAX_BODY_BYTES", "4096")

    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().max_body_bytes == 4096
