"""Account storage: the statements on ``users`` and on Better Auth's ``session`` table.

A user's own row is found by its id (the owner) or, to sign in, by its
email. Statements are built once and run with ``todo_api.kit.database``.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, TypedDict, cast

from sqlalchemy import Table, bindparam, select, update
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


@lru_cache(maxsize=4)
def _insert_user(dialect: Dialect) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: no row back when the id or
    the email is taken."""
    return dialect_insert(dialect)(USERS).on_conflict_do_nothing().returning(USERS.c.id)


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
