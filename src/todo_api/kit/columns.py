"""What every table shares: the metadata's constraint naming convention, the
UTC timestamp column type, and the clock.

Timestamps are UTC throughout (the API contract, "Conventions"): a value without an
offset is taken as UTC, and every value read back is timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

POSTGRESQL_ONLY: dict[str, Any] = {"dialect": "postgresql"}
"""``info`` of a model index that only PostgreSQL has (an expression SQLite's Python
``lower`` could not index, a trigram index), declared with
``.ddl_if(dialect="postgresql")``; ``todo_api.migrate.in_this_schema`` reads it."""

MAX_INT64 = 2**63 - 1
"""The largest integer either database stores (``BIGINT``): the bound of ids and page numbers."""


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a value without an offset is taken as UTC (the API contract,
    "Conventions")."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond."""
    return datetime.now(UTC)


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
        # per-value call on PostgreSQL, where a list page reads many of them.
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)


BIGINT_ID = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit id; ``INTEGER`` on SQLite, where only that type is the rowid (and autoincrements)."""


def id_field() -> Any:
    """A table's ``id``: a 64-bit primary key the database assigns."""
    return Field(default=None, sa_column=Column(BIGINT_ID, primary_key=True, autoincrement=True))


def owner_field() -> Any:
    """A table's ``user_id``: the owning user, whose deletion deletes the row."""
    return Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
