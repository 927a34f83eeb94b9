"""Core statements compiled once per dialect, for execution by the driver itself.

A ``CompiledStatement`` is the SQL SQLAlchemy renders for a statement (``$1``
parameters for asyncpg), the order of its parameters, and the column types'
own bind and result conversions, so that ``Database`` can hand the SQL to
asyncpg without SQLAlchemy's per-execution layer (docs/design.md, "SQLAlchemy
compiles, asyncpg executes"). Compiled statements are kept in a bounded LRU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, ColumnElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ReturnsRows

Row = dict[str, Any]
"""A result row: its column keys (a ``select()``'s column keys, or ``RETURNING``'s) to values."""

Processor = Callable[[Any], Any] | None


class UnsupportedStatement(TypeError):
    """A statement whose SQL is only final at execution (an expanding ``IN``, a
    ``literal_execute`` parameter), which a statement compiled once cannot carry.

    Raised at its first execution on either database, so that it fails in
    the SQLite tests too and not only on PostgreSQL.
    """


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A statement compiled for one dialect: SQL with positional parameters.

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
        """Compile ``statement`` for ``dialect``.

        Raises:
            UnsupportedStatement: the statement has parameters rendered at execution.
        """
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys))
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise UnsupportedStatement(
                "statement has parameters rendered at execution (an expanding IN or a "
                "literal_execute parameter), which a statement compiled once cannot run; "
                f"compare with = ANY(array) instead: {compiled.string}"
            )
        names = tuple(compiled.positiontup or ())
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

    def rows(self, records: Sequence[Sequence[Any]]) -> list[Row]:
        """Each record as a dict of the statement's column keys, values converted."""
        rows: list[Row] = [dict(zip(self.keys, record, strict=True)) for record in records]
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
    statement: Executable, dialect: Dialect, parameters: Mapping[str, Any]
) -> CompiledStatement:
    """``statement`` compiled for ``dialect``, kept for the next execution.

    An ``INSERT`` or ``UPDATE`` sets the columns its ``parameters`` name
    (others are ignored), as SQLAlchemy decides per execution, so it is
    compiled once per set of names.

    Raises:
        UnsupportedStatement: the statement has parameters rendered at execution.
    """
    column_keys = tuple(sorted(parameters)) if getattr(statement, "is_dml", False) else ()
    key = (id(statement), dialect.name, column_keys)
    found = _compiled.get(key)
    if found is None or found.statement is not statement:
        found = _compiled[key] = CompiledStatement.of(statement, dialect, column_keys)
    return found
