"""Core statements that SQLAlchemy compiles and, on PostgreSQL, asyncpg executes.

On PostgreSQL a statement is compiled once for the engine's dialect (and, for
an ``INSERT`` or ``UPDATE``, the parameter names it is given), then run by
asyncpg on a connection checked out of the engine's pool: the same SQL, the
same pool and the same column types' conversions, without SQLAlchemy's
per-execution layer (execution context, ``Result``, connection events),
which cost more CPU than asyncpg's whole round trip (docs/benchmarks.md,
"Where the time goes"). On SQLite the statements run through SQLAlchemy as
usual. Either way the service sees one interface, ``Statements``:

* ``reading(engine)``: one connection, no transaction (each statement sees
  one snapshot);
* ``unit_of_work(engine)``: one transaction, committed when the block ends
  and rolled back if it raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
from cachetools import LRUCache
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, ColumnElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ReturnsRows
from sqlalchemy.util import greenlet_spawn

from todo_api.errors import ApiError, is_database_unavailable

Row = Mapping[str, Any]
"""A result row: its column keys (a ``select()``'s column keys, or ``RETURNING``'s) to values."""


class Statements(Protocol):
    """Runs Core statements on one connection (see the module's docstring)."""

    dialect: Dialect

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row]:
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


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[Statements]:
    """A connection for reads of one statement each, outside any transaction.

    Raises:
        sqlalchemy.exc.TimeoutError: no pooled connection within the pool timeout.
    """
    if engine.dialect.name != "postgresql":
        async with engine.connect() as connection:
            yield _SQLAlchemyStatements(connection)
        return
    async with _driver_connection(engine) as statements:
        yield statements


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[Statements]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Raises:
        sqlalchemy.exc.TimeoutError: no pooled connection within the pool timeout.
        Whatever the commit raises: a client never hears of a write that failed.
    """
    if engine.dialect.name != "postgresql":
        async with engine.begin() as connection:
            yield _SQLAlchemyStatements(connection)
        return
    async with _driver_connection(engine) as statements, statements.connection.transaction():
        yield statements


class _SQLAlchemyStatements:
    """``Statements`` on a SQLAlchemy ``AsyncConnection`` (SQLite)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row]:
        result = await self.connection.execute(statement, parameters)
        return [dict(row) for row in result.mappings()]

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> None:
        await self.connection.execute(statement, parameters)

    async def execute_many(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]]
    ) -> None:
        await self.connection.execute(statement, list(parameters))


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A statement compiled for one dialect: SQL with ``$1``-style parameters.

    ``parameter_names`` give the order of the positional parameters; the
    bind and result processors are the column types' own (``PriorityRank``
    turns a ``Priority`` into its rank and back, for example).
    """

    statement: Executable
    sql: str
    compiled: SQLCompiler
    parameter_names: tuple[str, ...]
    bind_processors: tuple[Processor, ...]
    keys: tuple[str, ...]
    result_processors: tuple[tuple[str, Callable[[Any], Any]], ...]

    @classmethod
    def of(
        cls, statement: Executable, dialect: Dialect, column_keys: Sequence[str]
    ) -> CompiledStatement:
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys))
        assert isinstance(compiled, SQLCompiler)
        assert compiled.positiontup is not None, "asyncpg's paramstyle is positional"
        names = tuple(compiled.positiontup)
        columns: list[tuple[str, ColumnElement[Any]]] = (
            list(statement.exported_columns.items()) if isinstance(statement, ReturnsRows) else []
        )
        results = [
            (key, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for key, column in columns
        ]
        return cls(
            statement=statement,
            sql=compiled.string,
            compiled=compiled,
            parameter_names=names,
            bind_processors=tuple(
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ),
            keys=tuple(key for key, _ in results),
            result_processors=tuple((key, process) for key, process in results if process),
        )

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        """Positional arguments from ``parameters`` and the statement's own bound values."""
        values = self.compiled.construct_params(parameters)
        return [
            value if process is None or value is None else process(value)
            for value, process in zip(
                (values[name] for name in self.parameter_names), self.bind_processors, strict=True
            )
        ]

    def rows(self, records: Sequence[Sequence[Any]]) -> Sequence[Row]:
        """Each record as a dict of the statement's column keys, values converted."""
        rows: list[dict[str, Any]] = [
            dict(zip(self.keys, record, strict=True)) for record in records
        ]
        for key, process in self.result_processors:
            for row in rows:
                if row[key] is not None:
                    row[key] = process(row[key])
        return rows


_compiled: LRUCache[tuple[int, str, tuple[str, ...]], CompiledStatement] = LRUCache(maxsize=256)
"""By statement (``id``), dialect and column keys; each entry keeps its statement
alive, so that an ``id`` in the cache is never another object's. Bounded: the
list alone has hundreds of filter shapes, each compiled statement tens of kB."""


def compiled_statement(
    statement: Executable, dialect: Dialect, column_keys: Sequence[str] = ()
) -> CompiledStatement:
    """``statement`` compiled for ``dialect``, kept for the next execution.

    ``column_keys`` name the columns an ``INSERT`` or ``UPDATE`` sets (its
    parameters' names; others are ignored), as SQLAlchemy does per execution.
    """
    key = (id(statement), dialect.name, tuple(column_keys))
    found = _compiled.get(key)
    if found is None or found.statement is not statement:
        found = _compiled[key] = CompiledStatement.of(statement, dialect, column_keys)
    return found


class _DriverStatements:
    """``Statements`` run by asyncpg on a connection from the engine's pool (PostgreSQL)."""

    def __init__(self, connection: asyncpg.Connection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect

    def _compiled(self, statement: Executable, parameters: Mapping[str, Any]) -> CompiledStatement:
        dml = getattr(statement, "is_dml", False) is True
        return compiled_statement(statement, self.dialect, sorted(parameters) if dml else ())

    async def fetch(self, statement: Executable, parameters: Mapping[str, Any]) -> Sequence[Row]:
        compiled = self._compiled(statement, parameters)
        records = await self.connection.fetch(compiled.sql, *compiled.arguments(parameters))
        return compiled.rows(records)

    async def execute(self, statement: Executable, parameters: Mapping[str, Any]) -> None:
        compiled = self._compiled(statement, parameters)
        await self.connection.execute(compiled.sql, *compiled.arguments(parameters))

    async def execute_many(
        self, statement: Executable, parameters: Sequence[Mapping[str, Any]]
    ) -> None:
        if not parameters:
            return
        compiled = self._compiled(statement, parameters[0])
        await self.connection.executemany(
            compiled.sql, [compiled.arguments(one) for one in parameters]
        )


@asynccontextmanager
async def _driver_connection(engine: AsyncEngine) -> AsyncIterator[_DriverStatements]:
    """A pooled connection's asyncpg connection, given back (or discarded) at the end."""
    pooled = await engine.raw_connection()
    failure: BaseException | None = None
    try:
        yield _DriverStatements(pooled.driver_connection, engine.dialect)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        give_back = greenlet_spawn(_give_back, engine, pooled, failure)
        if failure is None:
            await give_back  # a healthy connection's return awaits nothing: no cancel lands
        else:
            await _to_completion(give_back)  # discarding may await a graceful close


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` to its end even if this task is cancelled meanwhile, then re-raise.

    A connection's return to the pool must not be abandoned halfway (a client
    that disconnects cancels its request's task): a pool without overflow
    would lose that connection for good. SQLAlchemy guards its own
    ``AsyncConnection`` exit the same way.
    """
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            cancelled = error
    task.result()  # the cleanup's own error, if any
    if cancelled is not None:
        raise cancelled


def _give_back(
    engine: AsyncEngine, pooled: PoolProxiedConnection, failure: BaseException | None
) -> None:
    """Return the connection to the pool, or discard it if it may be unusable.

    When ``failure`` means the database went away, every connection made
    before now is discarded at its next checkout, as SQLAlchemy's own
    disconnect handling does (``Pool._invalidate``: a timestamp, no I/O, so
    the connections other requests hold are not touched): they are most
    likely dead too, and each would otherwise fail one more request.
    Otherwise the connection is discarded if it is closed, still in a
    transaction, or failed other than with an error of ours (404, 412) or a
    server-side SQL error (a bad value, a constraint); a cancelled query or
    a timeout may leave it mid-protocol.
    """
    if failure is not None and is_database_unavailable(failure):
        engine.sync_engine.pool._invalidate(pooled, failure)  # this one and all older ones
    elif not _usable(pooled.driver_connection, failure):
        pooled.invalidate()
    pooled.close()


def _usable(connection: asyncpg.Connection, failure: BaseException | None) -> bool:
    if connection.is_closed() or connection.is_in_transaction():
        return False
    return failure is None or isinstance(failure, ApiError | asyncpg.PostgresError)
