"""``Database``: the engine, and the executor that every repository runs statements with.

On PostgreSQL a Core statement is compiled once (``todo_api.kit.compiled``)
and run by asyncpg on a connection checked out of SQLAlchemy's pool: the same
SQL, pool and column conversions, without SQLAlchemy's per-execution layer,
which cost more CPU than asyncpg's whole round trip (docs/design.md). On
SQLite the statements run through SQLAlchemy as usual. Either way a
repository sees one interface, ``Statements``:

* ``database.reading()``: one connection, no transaction (each statement
  sees one snapshot);
* ``database.unit_of_work()``: one transaction, committed when the block
  ends and rolled back if it raises;
* ``database.atomic_write()``: one statement on PostgreSQL, no ``BEGIN`` or
  ``COMMIT`` round trips (a transaction on SQLite).

Only SQLAlchemy's public API is used: connections come from
``AsyncEngine.raw_connection()`` and go back with ``close()``; a connection
that may be unusable is discarded with ``invalidate()``; and after a failure
that means the database went away, a pool ``checkout`` listener discards
every connection made before it (see ``Database.discard_older``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, literal, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

from todo_api.kit.compiled import Row, compiled_statement
from todo_api.kit.database_errors import is_database_unavailable, is_transient_conflict
from todo_api.kit.errors import ApiError

logger = logging.getLogger(__name__)

_PING = select(literal(1).label("one"))

CONNECTED_AT = "todo_api.connected_at"
"""Key in a pooled connection's ``info``: when it was opened (``time.monotonic()``)."""


class Statements(Protocol):
    """Runs Core statements on one connection (see the module's docstring).

    Every method raises ``UnsupportedStatement`` for a statement with
    parameters rendered at execution (an expanding ``IN``), on either database.
    """

    dialect: Dialect

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        """The rows that ``statement`` returns (a ``select()``, or DML with ``RETURNING``)."""
        ...

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> None:
        """Run ``statement`` once (DML without ``RETURNING``)."""
        ...

    async def execute_many(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]]
    ) -> None:
        """Run ``statement`` once per parameter set, pipelined (``executemany``)."""
        ...


class Database:
    """The app's engine and the three ways to run statements on it.

    Raises (from ``reading``, ``unit_of_work`` and ``atomic_write``):
        sqlalchemy.exc.TimeoutError: no pooled connection within the pool timeout.
        Whatever the statements or the commit raise: a client never hears of a
        write that failed.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._by_driver = engine.dialect.name == "postgresql"
        self._stale_before = float("-inf")
        self.waiting = 0
        """Requests waiting for a pooled connection now (kit/metrics.py's gauge)."""
        event.listen(engine.sync_engine, "connect", _stamp_connected_at)
        event.listen(engine.sync_engine, "checkout", self._refuse_stale)

    def reading(self) -> AbstractAsyncContextManager[Statements]:
        """A connection for reads of one statement each, outside any transaction."""
        return self._statements(transaction=False)

    def unit_of_work(self) -> AbstractAsyncContextManager[Statements]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        return self._statements(transaction=True)

    async def in_transaction[Result](
        self, work: Callable[[Statements], Awaitable[Result]], *, attempts: int = 2
    ) -> Result:
        """``work`` in a unit of work, run again (up to ``attempts`` times in all) when
        PostgreSQL aborts it for a concurrent transaction (``is_transient_conflict``:
        a deadlock it broke), which wrote nothing.

        Raises:
            Whatever ``work`` raises; the conflict itself after the last attempt.
        """
        for attempt in range(1, attempts + 1):
            try:
                async with self.unit_of_work() as db:
                    return await work(db)
            except Exception as exc:
                if attempt == attempts or not is_transient_conflict(exc):
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises

    @asynccontextmanager
    async def _statements(self, *, transaction: bool) -> AsyncIterator[Statements]:
        if not self._by_driver:
            connect = self.engine.begin if transaction else self.engine.connect
            self.waiting += 1
            waiting = True
            try:
                async with connect() as connection:
                    self.waiting -= 1
                    waiting = False
                    yield _SQLAlchemyStatements(connection)
            finally:
                if waiting:  # the connection never came
                    self.waiting -= 1
        elif transaction:
            async with self._driver_connection() as driver, driver.transaction():
                yield _DriverStatements(driver, self.dialect)
        else:
            async with self._driver_connection() as driver:
                yield _DriverStatements(driver, self.dialect)

    @asynccontextmanager
    async def atomic_write(self) -> AsyncIterator[Statements]:
        """A write that a repository runs as one statement on PostgreSQL, and as a
        transaction of several on SQLite.

        On PostgreSQL the statement runs outside any explicit transaction: it is
        atomic on its own and committed when it returns, so a write costs one
        round trip instead of three (``BEGIN``, the statement, ``COMMIT``). A
        second statement in the block raises ``RuntimeError``.
        """
        if not self._by_driver:
            async with self.unit_of_work() as statements:
                yield statements
            return
        async with self._driver_connection() as driver:
            yield _DriverStatements(driver, self.dialect, statement_limit=1)

    async def ping(self, seconds: float) -> bool:
        """Whether ``SELECT 1`` round-trips within ``seconds`` (never raises)."""
        try:
            async with asyncio.timeout(seconds), self.reading() as db:
                await db.fetch(_PING, {})  # one round trip, as every read
        except Exception as exc:  # any failure means "not healthy"
            logger.warning("database unreachable: %r", exc)
            return False
        return True

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    def discard_older(self) -> None:
        """Discard every pooled connection opened before now, at its next checkout.

        For a failure that means the database went away: the other pooled
        connections are most likely dead too, and each would fail one more
        request. As SQLAlchemy's own disconnect handling, this touches no
        connection in use; they are replaced when next checked out.
        """
        self._stale_before = time.monotonic()

    def _refuse_stale(
        self, _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        # The pool's ``checkout`` event: ``DisconnectionError`` makes the pool
        # replace this connection with a new one (SQLAlchemy's documented
        # pessimistic disconnect handling).
        if record.info.get(CONNECTED_AT, float("-inf")) < self._stale_before:
            raise DisconnectionError("connection opened before the database went away")

    @asynccontextmanager
    async def _driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection's asyncpg connection, given back or discarded at the end.

        The end is synchronous, so a cancelled request cannot abandon it
        halfway: ``close()`` returns a healthy connection to the pool without
        I/O (we never open a transaction through SQLAlchemy's adapter, so its
        reset has nothing to roll back), and ``invalidate()`` outside a
        greenlet terminates the asyncpg connection at once, without waiting
        for the server (tests/kit/test_framework.py holds both).
        """
        self.waiting += 1
        try:
            pooled = await self.engine.raw_connection()
        finally:
            self.waiting -= 1
        driver: asyncpg.Connection = pooled.driver_connection
        try:
            yield driver
        except BaseException as failure:
            if is_database_unavailable(failure):
                self.discard_older()
                pooled.invalidate(failure)
            elif not _usable(driver, failure):
                pooled.invalidate(failure)
            else:
                pooled.close()
            raise
        if driver.is_closed() or driver.is_in_transaction():
            pooled.invalidate()
        else:
            pooled.close()


def _stamp_connected_at(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[CONNECTED_AT] = time.monotonic()


def _usable(connection: asyncpg.Connection, failure: BaseException) -> bool:
    """Whether a connection may go back to the pool after ``failure``.

    Not if it is closed or still in a transaction, or if the failure is
    neither one of ours (404, 412) nor a server-side SQL error (a bad value,
    a constraint): a cancelled query or a timeout may leave it mid-protocol.
    """
    if connection.is_closed() or connection.is_in_transaction():
        return False
    return isinstance(failure, ApiError | asyncpg.PostgresError)


class _SQLAlchemyStatements:
    """``Statements`` on a SQLAlchemy ``AsyncConnection`` (SQLite)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        # Compiled too, so that SQLite refuses what asyncpg would refuse, and so that
        # rows are keyed as on PostgreSQL: by the statement's column keys.
        keys = compiled_statement(statement, self.dialect, parameters).keys
        result = await self.connection.execute(statement, parameters)
        return [dict(zip(keys, row, strict=True)) for row in result]

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> None:
        compiled_statement(statement, self.dialect, parameters)
        await self.connection.execute(statement, parameters)

    async def execute_many(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]]
    ) -> None:
        if parameters:
            compiled_statement(statement, self.dialect, parameters[0])
            await self.connection.execute(statement, list(parameters))


class _DriverStatements:
    """``Statements`` run by asyncpg on a connection from the engine's pool (PostgreSQL)."""

    def __init__(
        self, connection: asyncpg.Connection, dialect: Dialect, statement_limit: int | None = None
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.statements_left = statement_limit

    def _count(self) -> None:
        if self.statements_left is not None:
            if self.statements_left == 0:
                raise RuntimeError("an atomic write runs one statement on PostgreSQL")
            self.statements_left -= 1

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        self._count()
        compiled = compiled_statement(statement, self.dialect, parameters)
        records = await self.connection.fetch(compiled.sql, *compiled.arguments(parameters))
        return compiled.rows(records)

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> None:
        self._count()
        compiled = compiled_statement(statement, self.dialect, parameters)
        await self.connection.execute(compiled.sql, *compiled.arguments(parameters))

    async def execute_many(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]]
    ) -> None:
        if not parameters:
            return
        self._count()
        compiled = compiled_statement(statement, self.dialect, parameters[0])
        await self.connection.executemany(
            compiled.sql, [compiled.arguments(one) for one in parameters]
        )
