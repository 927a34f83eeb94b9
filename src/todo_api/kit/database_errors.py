"""What a database error means for the API: the database is unreachable (503), a
unique or foreign key constraint was violated, the caller's user is gone.

Both drivers' errors are read: asyncpg's ``sqlstate`` and ``constraint_name``,
and SQLite's extended result codes, directly or wrapped by SQLAlchemy
(``DBAPIError.orig``).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class OwnerMissing(Exception):
    """The caller's ``users`` row is gone (deleted through another process): what a
    foreign key violation on ``user_id`` says, found another way (no inbox to put
    a task in). ``AuthenticatedRoute`` answers both alike."""


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means "cannot reach the database", not a bug.

    Covers a refused or timed-out connect (``OSError``, ``TimeoutError``), a
    connection dropped mid-request (DBAPI errors flagged as disconnects,
    asyncpg's "connection is closed"), an exhausted pool, and the server's
    own word for it: an SQLSTATE in ``_UNAVAILABLE_SQLSTATES`` or of class 08,
    connection exception (a pooler's included), whether asyncpg raised it
    (``todo_api.kit.database``) or SQLAlchemy's adapter wraps it (``orig``).
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return is_database_unavailable(exc.orig) if exc.orig is not None else False
    if isinstance(exc, OSError | TimeoutError | PoolTimeoutError | DisconnectionError):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    ):
        return True
    if type(exc).__name__ == "InterfaceError" and "connection is closed" in str(exc):
        return True  # asyncpg, on a pooled connection the server has dropped
    return exc.__cause__ is not None and is_database_unavailable(exc.__cause__)


_UNAVAILABLE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
"""Too many connections; admin shutdown, crash shutdown, cannot connect now."""

_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
"""Deadlock detected; serialization failure."""


def is_transient_conflict(exc: BaseException) -> bool:
    """Whether PostgreSQL aborted the transaction because of a concurrent one (a
    deadlock it broke, a serialization failure): nothing was written, the connection
    is sound, and the same work run again succeeds."""
    return _sqlstate(exc) in _CONFLICT_SQLSTATES


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error: asyncpg's ``sqlstate``, or SQLite's extended
    result code mapped to the two states told apart here."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate
    return {
        "SQLITE_CONSTRAINT_FOREIGNKEY": "23503",
        "SQLITE_CONSTRAINT_UNIQUE": "23505",
    }.get(getattr(exc, "sqlite_errorname", ""))


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is a unique constraint violation, on either database."""
    return _sqlstate(exc) == "23505"


def is_foreign_key_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is a foreign key violation, on either database."""
    return _sqlstate(exc) == "23503"


def violated_constraint(exc: BaseException) -> str | None:
    """The name of the constraint a database error violated, where the database says
    it (PostgreSQL: ``fk_tasks_list_id_lists``); ``None`` on SQLite."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    name = getattr(exc, "constraint_name", None)
    return name if isinstance(name, str) else None


def is_owner_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says the caller's ``users`` row is gone: ``OwnerMissing``, or a
    foreign key violation of a ``user_id`` (every such constraint's name ends in
    ``_users``, the naming convention of ``kit.columns``; SQLite names none)."""
    if isinstance(exc, OwnerMissing):
        return True
    if not is_foreign_key_violation(exc):
        return False
    constraint = violated_constraint(exc)
    return constraint is None or constraint.endswith("_users")
