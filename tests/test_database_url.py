"""``DATABASE_URL`` in every accepted form, Neon's strings included (operations.md)."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.conftest import TEST_DATABASE_URL, make_settings
from todo_api.config import SettingsError
from todo_api.kit.database_url import (
    DatabaseTarget,
    DatabaseUrlError,
    direct_host_url,
    normalise_database_url,
)
from todo_api.kit.engine import create_engine
from todo_api.main import close_resources, create_app

NEON = (
    "postgresql://u:p@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech/neondb"
    "?sslmode=require&channel_binding=require"
)
NEON_DIRECT_HOST = "ep-cool-name-123456.eu-central-1.aws.neon.tech"
LIBPQ_ONLY = {"sslmode", "channel_binding", "sslrootcert", "sslcert", "sslkey"}


@pytest.mark.parametrize(
    "raw",
    [
        "postgres://u:p@db.example.com:5433/todo",
        "postgresql://u:p@db.example.com:5433/todo",
        "postgresql+psycopg2://u:p@db.example.com:5433/todo",
        "postgresql+psycopg://u:p@db.example.com:5433/todo",
        "postgresql+asyncpg://u:p@db.example.com:5433/todo",
    ],
)
def test_postgres_forms_become_asyncpg(raw: str) -> None:
    target = normalise_database_url(raw)

    assert target.url.drivername == "postgresql+asyncpg"
    assert (target.url.username, target.url.password) == ("u", "p")
    assert (target.url.host, target.url.port, target.url.database) == (
        "db.example.com",
        5433,
        "todo",
    )
    assert target.pooler is False
    assert not target.is_sqlite


@pytest.mark.parametrize(
    ("raw", "database"),
    [
        ("sqlite:///x.db", "x.db"),
        ("sqlite:///./todo.db", "./todo.db"),
        ("sqlite:////var/lib/todo/todo.db", "/var/lib/todo/todo.db"),
        ("sqlite+aiosqlite:///./todo.db", "./todo.db"),
        ("sqlite://", None),
    ],
)
def test_sqlite_forms_become_aiosqlite(raw: str, database: str | None) -> None:
    target = normalise_database_url(raw)

    assert target.url.drivername == "sqlite+aiosqlite"
    assert target.url.database == database
    assert target.is_sqlite
    assert target.connect_args == {}


def test_password_with_special_characters_survives() -> None:
    target = normalise_database_url("postgres://u:p%40ss%2Fw%3Ard@h/db")

    assert target.url.password == "p@ss/w:rd"
    assert target.url.render_as_string(hide_password=False).startswith(
        "postgresql+asyncpg://u:p%40ss%2Fw%3Ard@h/db"
    )


def test_connect_timeout_bounds_each_attempt() -> None:
    target = normalise_database_url("postgresql://u@h/db", connect_timeout=2.5)

    assert target.connect_args["timeout"] == 2.5


@pytest.fixture
def neon() -> DatabaseTarget:
    return normalise_database_url(NEON)


def test_neon_libpq_options_leave_the_url(neon: DatabaseTarget) -> None:
    assert neon.url.drivername == "postgresql+asyncpg"
    assert not LIBPQ_ONLY & set(neon.url.query)
    rendered = neon.url.render_as_string(hide_password=False)
    assert "sslmode" not in rendered
    assert "channel_binding" not in rendered
    assert neon.url.host == "ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech"
    assert neon.url.database == "neondb"


def test_neon_sslmode_becomes_asyncpg_ssl(neon: DatabaseTarget) -> None:
    assert neon.connect_args["ssl"] == "require"


def test_neon_pooler_disables_statement_caches(neon: DatabaseTarget) -> None:
    assert neon.pooler is True
    assert neon.connect_args["statement_cache_size"] == 0
    assert neon.url.query["prepared_statement_cache_size"] == "0"


def test_neon_pooler_prepared_statement_names_are_unique(neon: DatabaseTarget) -> None:
    name_of = neon.connect_args["prepared_statement_name_func"]

    names = [name_of() for _ in range(100)]

    assert all(isinstance(name, str) and name for name in names)
    assert len(set(names)) == 100


@pytest.mark.parametrize(
    ("query", "ssl"),
    [
        ("sslmode=require", "require"),
        ("sslmode=verify-full", "verify-full"),
        ("sslmode=prefer", "prefer"),
        ("sslmode=disable", "disable"),
        ("ssl=require", "require"),
        ("channel_binding=require", None),
        ("", None),
    ],
)
def test_sslmode_maps_to_ssl_argument(query: str, ssl: str | None) -> None:
    target = normalise_database_url(f"postgresql://u@db.example.com/db?{query}")

    assert target.connect_args.get("ssl") == ssl
    assert not LIBPQ_ONLY & set(target.url.query)
    assert target.pooler is False
    assert "statement_cache_size" not in target.connect_args


def test_application_name_becomes_a_server_setting() -> None:
    target = normalise_database_url(
        "postgresql://u@db.example.com/db?sslmode=require&application_name=todo-api"
    )

    assert target.connect_args["server_settings"] == {"application_name": "todo-api"}
    assert not target.url.query


@pytest.mark.parametrize(
    ("options", "server_settings"),
    [
        ("-c%20search_path%3Dapp,public", {"search_path": "app,public"}),
        ("-c search_path=app", {"search_path": "app"}),
        ("-cwork_mem%3D64MB", {"work_mem": "64MB"}),
        ("--statement-timeout%3D5s", {"statement_timeout": "5s"}),
        (
            "-c%20statement_timeout%3D5s%20-c%20lock_timeout%3D1s",
            {"statement_timeout": "5s", "lock_timeout": "1s"},
        ),
        ("-c%20application_name%3Dtodo\\%20api", {"application_name": "todo api"}),
        # Neon's workaround for clients without SNI: sent as libpq sends it.
        ("endpoint%3Dep-cool-name-123456", {"options": "endpoint=ep-cool-name-123456"}),
        ("project%3Dep-cool-name-123456", {"options": "project=ep-cool-name-123456"}),
        (
            "endpoint%3Dep-cool-name-123456%20-c%20search_path%3Dapp",
            {"options": "endpoint=ep-cool-name-123456", "search_path": "app"},
        ),
    ],
)
def test_options_become_server_settings(options: str, server_settings: dict[str, str]) -> None:
    target = normalise_database_url(f"postgresql://u@db.example.com/db?options={options}")

    assert target.connect_args["server_settings"] == server_settings
    assert "options" not in target.url.query


def test_neon_string_with_endpoint_option() -> None:
    target = normalise_database_url(f"{NEON}&options=endpoint%3Dep-cool-name-123456")

    assert target.connect_args["server_settings"] == {"options": "endpoint=ep-cool-name-123456"}
    assert target.connect_args["ssl"] == "require"
    assert direct_host_url(target).connect_args["server_settings"] == {
        "options": "endpoint=ep-cool-name-123456"
    }


def test_connect_timeout_in_the_url_wins() -> None:
    target = normalise_database_url("postgresql://u@h/db?connect_timeout=12", connect_timeout=5)

    assert target.connect_args["timeout"] == 12.0


def test_libpq_parameters_asyncpg_reads_from_a_dsn_reach_it_as_one() -> None:
    target = normalise_database_url(
        "postgresql://u@h/db?sslmode=verify-full&sslrootcert=/etc/ssl/neon.pem"
        "&target_session_attrs=read-write"
    )

    assert target.connect_args["ssl"] == "verify-full"
    dsn = make_url(target.connect_args["dsn"])
    assert dict(dsn.query) == {
        "sslrootcert": "/etc/ssl/neon.pem",
        "target_session_attrs": "read-write",
    }
    assert not target.url.query


def test_sslrootcert_system_trusts_the_system_cas_with_full_verification() -> None:
    """libpq 16's ``sslrootcert=system``: asyncpg would read it as a file name, so it
    becomes a default TLS context (system CAs, certificate and host name checked)."""
    for query in ("sslrootcert=system", "sslmode=verify-full&sslrootcert=system"):
        target = normalise_database_url(f"postgresql://u@db.example.com/db?{query}")
        context = target.connect_args["ssl"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert "dsn" not in target.connect_args


def test_sqlalchemy_parameters_stay_in_the_url() -> None:
    target = normalise_database_url(
        "postgresql://u@/db?host=/var/run/postgresql&prepared_statement_cache_size=50"
    )

    assert dict(target.url.query) == {
        "host": "/var/run/postgresql",
        "prepared_statement_cache_size": "50",
    }


@pytest.mark.parametrize("mode", ["disable", "prefer"])
def test_channel_binding_asyncpg_does_anyway_is_quiet(mode: str) -> None:
    target = normalise_database_url(f"postgresql://u@h/db?channel_binding={mode}")

    assert target.warnings == ()


def test_channel_binding_require_is_said_not_dropped(neon: DatabaseTarget) -> None:
    (warning,) = neon.warnings

    assert "channel_binding=require" in warning
    assert "\n" not in warning
    assert direct_host_url(neon).warnings == neon.warnings


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sslmode=requir", "sslmode"),
        ("ssl=true", "ssl"),
        ("channel_binding=always", "channel_binding"),
        ("options=-x%20foo", "options"),
        ("options=-c", "options"),
        ("options=-c%20search_path", "options"),
        ("options=endpoint", "options"),
        ("connect_timeout=soon", "connect_timeout"),
        ("connect_timeout=0", "connect_timeout"),
        ("sslmode=require&sslmode=disable", "sslmode"),
        ("statement_cache_size=0", "statement_cache_size"),
        ("pool_size=5", "pool_size"),
        ("search_path=app", "search_path"),
        ("target_session_attrs=bogus", "target_session_attrs"),
        ("sslnegotiation=bogus", "sslnegotiation"),
        ("sslmode=require&sslrootcert=system", "sslrootcert"),
    ],
)
def test_a_parameter_that_cannot_be_honoured_stops_start_up(query: str, named: str) -> None:
    raw = f"postgresql://u:secret-pw@db.example.com/db?{query}"
    with pytest.raises(DatabaseUrlError, match=named) as refused:
        normalise_database_url(raw)
    with pytest.raises(SettingsError) as stopped:
        make_settings(raw)

    message = str(stopped.value)
    assert "DATABASE_URL" in message
    assert str(refused.value) in message
    assert "secret-pw" not in message
    assert "\n" not in str(refused.value)


async def test_lifespan_logs_what_the_url_cannot_enforce(database_url: str, backend: str) -> None:
    url = make_url(database_url)
    if backend == "postgresql":
        url = url.update_query_dict({"channel_binding": "require"})
    app = create_app(make_settings(url.render_as_string(hide_password=False)))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("todo_api.main")
    logger.addHandler(handler)
    try:
        async with app.router.lifespan_context(app):
            pass
    finally:
        logger.removeHandler(handler)
        await close_resources(app)

    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    said = [w for w in warnings if "channel_binding" in w]
    assert len(said) == (1 if backend == "postgresql" else 0)


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL")
async def test_options_and_dsn_parameters_reach_a_real_server() -> None:
    url = make_url(TEST_DATABASE_URL).update_query_dict(
        {
            "options": "-c search_path=todo_url_check,public --statement-timeout=7s",
            "application_name": "todo-api url check",
            "target_session_attrs": "read-write",
            "connect_timeout": "4",
            "channel_binding": "prefer",
        }
    )
    engine = create_engine(normalise_database_url(url.render_as_string(hide_password=False)))
    try:
        async with engine.connect() as connection:
            shown = {
                name: (await connection.execute(text(f"SHOW {name}"))).scalar_one()
                for name in ("search_path", "statement_timeout", "application_name")
            }
    finally:
        await engine.dispose()

    assert shown == {
        "search_path": "todo_url_check,public",
        "statement_timeout": "7s",
        "application_name": "todo-api url check",
    }


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL")
async def test_a_dsn_parameter_is_enforced_by_asyncpg() -> None:
    """``target_session_attrs=standby`` on a primary: asyncpg refuses, so it was read."""
    url = make_url(TEST_DATABASE_URL).update_query_dict({"target_session_attrs": "standby"})
    engine = create_engine(normalise_database_url(url.render_as_string(hide_password=False)))
    try:
        with pytest.raises(DBAPIError, match="target attribute"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


def test_direct_host_url_turns_pooler_into_direct_host(neon: DatabaseTarget) -> None:
    direct = direct_host_url(neon)

    assert direct.url.host == NEON_DIRECT_HOST
    assert direct.pooler is False
    assert direct.connect_args["ssl"] == "require"
    assert "statement_cache_size" not in direct.connect_args
    assert "prepared_statement_name_func" not in direct.connect_args
    assert "prepared_statement_cache_size" not in direct.url.query
    assert (direct.url.username, direct.url.password, direct.url.database) == ("u", "p", "neondb")
    assert direct.url.drivername == "postgresql+asyncpg"


def test_direct_host_url_leaves_other_hosts_alone() -> None:
    target = normalise_database_url("postgresql://u:p@db.example.com/db?sslmode=require")

    assert direct_host_url(target) == target


def test_settings_accept_neon_string_as_it_is() -> None:
    settings = make_settings(NEON)

    assert settings.database_url == NEON
    assert not settings.is_sqlite


async def test_app_serves_on_url_with_libpq_options(database_url: str, backend: str) -> None:
    """``sslmode`` / ``channel_binding`` in the URL (as Neon gives it) do not stop the app."""
    url = make_url(database_url)
    if backend == "postgresql":
        url = url.update_query_dict({"sslmode": "prefer", "channel_binding": "prefer"})
    app = create_app(make_settings(url.render_as_string(hide_password=False)))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/api/health")
    finally:
        await close_resources(app)

    body: dict[str, Any] = response.json()
    assert response.status_code == 200, response.text
    assert body["database"] == "ok"
