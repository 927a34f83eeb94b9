"""The SQLAlchemy engine for a ``DATABASE_URL``: pool sizes, timeouts, SQLite's settings.

PostgreSQL keeps ``DB_POOL_SIZE`` connections open, without overflow, and
recycles them within four minutes, under Neon's five-minute idle suspend.
SQLite gets one connection, so writers queue instead of failing with
"database is locked".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from todo_api.kit.database_url import DatabaseTarget

POOL_RECYCLE_SECONDS = 240
"""Under Neon's five-minute idle suspend, so no pooled connection outlives its server."""

POOL_TIMEOUT_SECONDS = 10
"""How long a request waits for a pooled connection before it is 503 "busy"."""


def create_engine(
    target: DatabaseTarget, *, pool_size: int = 20, pre_ping: bool = False
) -> AsyncEngine:
    """An ``AsyncEngine`` for ``target``.

    PostgreSQL: ``pool_size`` connections, kept open, and no overflow
    (overflow connections were closed on return and reopened, each a new
    backend with a cold statement cache: docs/benchmarks.md). Last in, first
    out: a request takes the connection used last, whose asyncpg statement
    cache already holds the statement, rather than the one idle longest,
    which would first spend a round trip preparing it (docs/benchmarks.md,
    "Round trips"). A request waits
    ``POOL_TIMEOUT_SECONDS`` for a connection. ``pre_ping``
    (``DB_POOL_PRE_PING``) tests each connection at checkout, three round
    trips on every request with the asyncpg dialect; without it a connection
    that died fails one request (503) and ``Database`` then renews the pool.

    SQLite: one connection (writers serialise instead of failing with
    "database is locked"), WAL journal, foreign keys on, and a
    Unicode-aware ``lower()``.

    Both: ``hide_parameters``, so an error's message and a logged trace show
    the SQL but never the values bound to it (a password hash, an email).
    """
    if target.is_sqlite:
        database = target.url.database or ""
        in_memory = database in {"", ":memory:"} or "mode=memory" in database
        engine = create_async_engine(
            target.url,
            poolclass=StaticPool if in_memory else None,
            **({} if in_memory else {"pool_size": 1, "max_overflow": 0}),
            connect_args={"timeout": 30},
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        target.url,
        connect_args=target.connect_args,
        pool_size=pool_size,
        max_overflow=0,
        pool_use_lifo=True,
        pool_pre_ping=pre_ping,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        hide_parameters=True,
    )


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's built-in lower() folds ASCII only; case-insensitive search
    # (``q``) must fold "Ä" as PostgreSQL does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def dialect_insert(dialect: Dialect) -> Any:
    """PostgreSQL's or SQLite's ``insert``, which has ``on_conflict_do_nothing``."""
    if dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
