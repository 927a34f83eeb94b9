"""Account storage: the statements on ``users`` and on Better Auth's ``session`` table.

A user's own row is found by its id (the owner) or, to sign in, by its
email. Statements are built once and run with ``todo_api.kit.database``.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, TypedDict, cast

from sqlalchemy import String, Table, bindparam, case, delete, exists, null, or_, select, update
from sqlalchemy.engine import Dialect

from todo_api.auth.models import USERS
from todo_api.kit.database import Statements
from todo_api.kit.engine import dialect_insert


class UserRow(TypedDict):
    """A ``users`` row."""

    id: str
    email: str | None
    name: str | None
    password_hash: str | None
    created_at: datetime
    updated_at: datetime


class SessionRow(TypedDict):
    """What a Better Auth session row says: whose it is and until when."""

    user_id: str
    expires_at: datetime


_USER_BY_ID = select(USERS).where(USERS.c.id == bindparam("user_id"))
_USER_BY_EMAIL = select(USERS).where(USERS.c.email == bindparam("email"))
_SET_PASSWORD_HASH = update(USERS).where(USERS.c.id == bindparam("user_id"))
_SET_NAME = update(USERS).where(USERS.c.id == bindparam("user_id")).returning(*USERS.c)
_DELETE_USER = delete(USERS).where(USERS.c.id == bindparam("user_id"))
"""Their tasks, tags, tag links and task counts go with them (``ON DELETE CASCADE``)."""


@lru_cache(maxsize=4)
def _insert_user(dialect: Dialect) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: no row back when the id or
    the email is taken."""
    return dialect_insert(dialect)(USERS).on_conflict_do_nothing().returning(USERS.c.id)


@lru_cache(maxsize=4)
def _provision_user(dialect: Dialect) -> Any:
    """Insert the user of a verified token, or bring its stored profile up to the claims.

    ``email`` and ``name`` are the claims, ``None`` when absent; an absent
    claim keeps the stored value. An email that another user holds is not
    taken: the row gets no email (the API contract, "Details": accounts are
    never merged by email). A profile that already says what the claims say
    is not written.

    On PostgreSQL: ``WITH changed AS (UPDATE ... WHERE`` something differs``)
    INSERT ... SELECT ... WHERE NOT EXISTS`` the row ``ON CONFLICT (id) DO
    NOTHING``. When nothing differs (a process's first request of a known
    user) it locks nothing, and a profile update locks the row as any
    ``UPDATE`` does: only an email that changes takes the lock that waits for
    the foreign key checks of the user's concurrent task writes. ``INSERT ...
    ON CONFLICT DO UPDATE`` would take that lock every time, even when its
    ``WHERE`` is false, and 50 parallel first requests of one user
    deadlocked with their own task writes. SQLite has no data-modifying
    CTEs, nor row locks: there it is ``INSERT ... ON CONFLICT (id) DO UPDATE
    ... WHERE`` something differs.
    """
    other = USERS.alias("other_users")
    user_id = bindparam("user_id", type_=USERS.c.id.type)
    email = bindparam("email", type_=String())
    name = bindparam("name", type_=USERS.c.name.type)
    now = bindparam("now", type_=USERS.c.created_at.type)
    taken = exists().where(other.c.email == email, other.c.id != user_id)
    claimed_email = case((taken, null()), else_=email)
    if dialect.name == "postgresql":
        new_email = case((email.is_(None), USERS.c.email), else_=claimed_email)
        new_name = case((name.is_(None), USERS.c.name), else_=name)
        changed = (
            update(USERS)
            .where(
                USERS.c.id == user_id,
                or_(
                    USERS.c.email.is_distinct_from(new_email),
                    USERS.c.name.is_distinct_from(new_name),
                ),
            )
            .values(email=new_email, name=new_name, updated_at=now)
            .returning(USERS.c.id)
            .cte("changed")
        )
        absent = ~exists().where(USERS.c.id == user_id)
        return (
            dialect_insert(dialect)(USERS)
            .from_select(
                ["id", "email", "name", "created_at", "updated_at"],
                select(user_id, claimed_email, name, now, now).where(absent),
            )
            .on_conflict_do_nothing(index_elements=[USERS.c.id])
            .add_cte(changed)
        )
    statement = dialect_insert(dialect)(USERS).values(
        id=user_id, email=claimed_email, name=name, created_at=now, updated_at=now
    )
    new_email = case((email.is_(None), USERS.c.email), else_=statement.excluded.email)
    new_name = case((name.is_(None), USERS.c.name), else_=statement.excluded.name)
    return statement.on_conflict_do_update(
        index_elements=[USERS.c.id],
        set_={"email": new_email, "name": new_name, "updated_at": now},
        where=or_(
            USERS.c.email.is_distinct_from(new_email), USERS.c.name.is_distinct_from(new_name)
        ),
    )


async def find_user(db: Statements, user_id: str) -> UserRow | None:
    """The user ``user_id``, if stored."""
    rows = await db.fetch(_USER_BY_ID, {"user_id": user_id})
    return cast(UserRow, rows[0]) if rows else None


async def find_user_by_email(db: Statements, email: str) -> UserRow | None:
    """The user whose (lower-cased) email is ``email``, if any."""
    rows = await db.fetch(_USER_BY_EMAIL, {"email": email})
    return cast(UserRow, rows[0]) if rows else None


async def insert_user(db: Statements, user: UserRow) -> bool:
    """Store ``user``; ``False`` (nothing stored) when its id or email is taken."""
    inserted = await db.fetch(_insert_user(db.dialect), dict(user))
    return bool(inserted)


async def provision_user(
    db: Statements, user_id: str, email: str | None, name: str | None, now: datetime
) -> None:
    """Store the user ``user_id`` of a verified token, or update its profile to the
    claims ``email`` and ``name`` (``None``: absent, the stored value stays); an
    email another user holds is left out (see ``_provision_user``).

    Raises:
        asyncpg.UniqueViolationError, sqlalchemy.exc.IntegrityError: another user
            took the email between the statement's check and its write (tell it
            with ``kit.errors.is_unique_violation``).
    """
    parameters = {"user_id": user_id, "email": email, "name": name, "now": now}
    await db.execute(_provision_user(db.dialect), parameters)


async def delete_user(db: Statements, user_id: str) -> None:
    """Delete the user and, by cascade, everything they own."""
    await db.execute(_DELETE_USER, {"user_id": user_id})


async def set_password_hash(db: Statements, user_id: str, password_hash: str) -> None:
    """Replace the user's password hash (a re-hash with current parameters)."""
    await db.execute(_SET_PASSWORD_HASH, {"user_id": user_id, "password_hash": password_hash})


async def set_name(db: Statements, user_id: str, name: str | None, now: datetime) -> UserRow | None:
    """Set the user's name; the row as updated, ``None`` if there is no such user."""
    rows = await db.fetch(_SET_NAME, {"user_id": user_id, "name": name, "updated_at": now})
    return cast(UserRow, rows[0]) if rows else None


@lru_cache(maxsize=4)
def _session_statement(sessions: Table) -> Any:
    return select(sessions.c.user_id, sessions.c.expires_at).where(
        sessions.c.token == bindparam("token")
    )


async def find_session(db: Statements, sessions: Table, token: str) -> SessionRow | None:
    """The Better Auth session whose token value is ``token``, if any
    (``sessions``: ``auth.models.better_auth_sessions``)."""
    rows = await db.fetch(_session_statement(sessions), {"token": token})
    return cast(SessionRow, rows[0]) if rows else None
