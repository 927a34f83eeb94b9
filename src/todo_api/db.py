"""Engine, session factory and the unit-of-work dependency.

``DATABASE_URL`` is accepted in the forms operations.md lists, Neon's console
strings included: ``sslmode`` and ``channel_binding`` (libpq options that
asyncpg does not take) become asyncpg's ``ssl`` argument, and a ``-pooler``
host (PgBouncer in transaction mode) gets unique prepared-statement names, as
SQLAlchemy's asyncpg dialect documents for PgBouncer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import uuid4

from fastapi import Depends, Request
from sqlalchemy import DateTime, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

POOL_RECYCLE_SECONDS = 240
"""Under Neon's five-minute idle suspend, so no pooled connection outlives its server."""

_LIBPQ_ONLY_PARAMS = ("sslmode", "channel_binding", "sslrootcert", "sslcert", "sslkey")


@dataclass(frozen=True)
class DatabaseTarget:
    """A normalised ``DATABASE_URL``: the SQLAlchemy URL plus driver arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    pooler: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def normalise_database_url(raw: str, *, connect_timeout: float = 5.0) -> DatabaseTarget:
    """Turn any accepted ``DATABASE_URL`` into an async SQLAlchemy URL.

    ``postgres://``, ``postgresql://`` and ``postgresql+<driver>://`` become
    ``postgresql+asyncpg://``; ``sqlite://`` becomes ``sqlite+aiosqlite://``.
    ``sslmode`` is passed to asyncpg as ``ssl`` (asyncpg understands the libpq
    mode names); ``channel_binding`` is dropped because asyncpg negotiates
    SCRAM itself. ``connect_timeout`` (seconds) bounds each connection attempt,
    so an unreachable database fails in seconds rather than the OS default.

    Raises:
        sqlalchemy.exc.ArgumentError: ``raw`` is not a URL.
    """
    url = make_url(raw)
    if url.get_backend_name() == "sqlite":
        return DatabaseTarget(url=url.set(drivername="sqlite+aiosqlite"))

    query = dict(url.query)
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    sslmode = query.pop("sslmode", None)
    if isinstance(sslmode, str) and sslmode != "disable":
        connect_args["ssl"] = sslmode
    for name in _LIBPQ_ONLY_PARAMS:
        query.pop(name, None)
    host = url.host or ""
    pooler = "-pooler." in host
    if pooler:
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
        query["prepared_statement_cache_size"] = "0"
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return DatabaseTarget(url=url, connect_args=connect_args, pooler=pooler)


def direct_host_url(target: DatabaseTarget) -> DatabaseTarget:
    """The same database through Neon's direct host (``ep-x-pooler`` → ``ep-x``).

    Migrations take advisory locks and run DDL, which PgBouncer in transaction
    mode does not carry reliably, so they go through the direct host.
    """
    if not target.pooler or target.url.host is None:
        return target
    url = target.url.set(host=target.url.host.replace("-pooler.", ".", 1))
    args = {
        k: v
        for k, v in target.connect_args.items()
        if k not in {"statement_cache_size", "prepared_statement_name_func"}
    }
    query = {k: v for k, v in url.query.items() if k != "prepared_statement_cache_size"}
    return DatabaseTarget(url=url.set(query=query), connect_args=args, pooler=False)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4()}__"


def create_engine(
    target: DatabaseTarget, *, pool_size: int = 20, pre_ping: bool = False
) -> AsyncEngine:
    """An ``AsyncEngine`` for ``target``.

    PostgreSQL: ``pool_size`` connections, kept open, and no overflow. (Under
    load beyond the pool, overflow connections were closed on return and
    reopened on the next request, each a new backend with a cold asyncpg
    statement cache: docs/benchmarks.md.) A request waits up to 10 s for a
    connection, then gets 503 "busy". Connections are recycled within four
    minutes, under Neon's five-minute idle suspend, so a pooled connection
    does not outlive its server; a connection that died anyway fails one
    request (503) and the whole pool is then renewed (by SQLAlchemy, or by
    ``todo_api.statements`` for the task routes). ``pre_ping`` (opt-in,
    ``DB_POOL_PRE_PING``) instead tests each connection at checkout, which
    the asyncpg dialect does with three round trips (BEGIN, ping, ROLLBACK)
    on every request: measured in docs/benchmarks.md.

    SQLite: one connection (writers serialise instead of failing with
    "database is locked"), WAL journal, foreign keys on, and a
    Unicode-aware ``lower()``.
    """
    if target.is_sqlite:
        database = target.url.database or ""
        in_memory = database in {"", ":memory:"} or "mode=memory" in database
        engine = create_async_engine(
            target.url,
            poolclass=StaticPool if in_memory else None,
            **({} if in_memory else {"pool_size": 1, "max_overflow": 0}),
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        target.url,
        connect_args=target.connect_args,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=pre_ping,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=10,
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


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (responses are built from them)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a value without an offset is taken as UTC (api.md, "Conventions")."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dialect_insert(dialect: Dialect) -> Any:
    """PostgreSQL's or SQLite's ``insert``, which has ``on_conflict_do_nothing``."""
    if dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (UTC).

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so naive
    values read from it are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        # asyncpg already returns ``timestamptz`` as aware datetimes in UTC: no
        # per-value call on PostgreSQL, where a list page reads 80 of them.
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond."""
    return datetime.now(UTC)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commit on success, roll back on error.

    Used with ``scope="function"`` so that the commit happens before the
    response is sent: a client that got 201/200 holds a durable write, and a
    failed commit becomes an error response, never a false success.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def app_engine(request: Request) -> AsyncEngine:
    """The app's engine (``create_app``'s ``app.state.engine``); task routes read and
    write through it with ``todo_api.statements``.

    A plain call, not a dependency: FastAPI solves each declared dependency
    per request, 5 % of a get's instructions (docs/benchmarks.md, "Before and after").
    """
    engine: AsyncEngine = request.app.state.engine
    return engine
