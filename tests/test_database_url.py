"""``DATABASE_URL`` in every accepted form, Neon's strings included (operations.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import make_settings
from todo_api.kit.database_url import DatabaseTarget, direct_host_url, normalise_database_url
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
        ("sslmode=disable", None),
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


def test_other_query_options_are_kept() -> None:
    target = normalise_database_url(
        "postgresql://u@db.example.com/db?sslmode=require&application_name=todo-api"
    )

    assert target.url.query["application_name"] == "todo-api"


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
