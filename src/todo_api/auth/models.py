"""The ``users`` table, and Better Auth's ``session`` table as this service reads it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlmodel import Field, SQLModel

from todo_api.config import SessionColumnStyle, Settings
from todo_api.kit.columns import UTCDateTime, utcnow

USER_ID_LENGTH = 32
"""Better Auth's user ids are 32 alphanumeric characters; ours have the same shape."""


class User(SQLModel, table=True):
    """An account: signed up here, or provisioned from a verified token's claims.

    ``email`` is stored lower-cased and unique; it is ``None`` for a
    provisioned user whose claimed email belongs to another local account
    (accounts are never merged by email). ``password_hash`` is an Argon2id
    PHC string, ``None`` for users who sign in through Better Auth.
    """

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=64)
    email: str | None = Field(default=None, max_length=320, unique=True)
    name: str | None = Field(default=None, max_length=100)
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


USERS: Table = User.__table__  # type: ignore[attr-defined]
"""``User`` as a Core table, for the repository's statements."""


def better_auth_sessions(settings: Settings) -> Table:
    """Better Auth's ``session`` table (``BETTER_AUTH_SESSION_TABLE``), the columns
    this service reads, under the keys ``token``, ``user_id`` and ``expires_at``.

    Not in our metadata: Better Auth owns it and its migrations.
    """
    camel = settings.better_auth_session_columns is SessionColumnStyle.camel
    schema, _, name = settings.better_auth_session_table.rpartition(".")
    return Table(
        name,
        MetaData(schema=schema or None),
        Column("token", String),
        Column("userId" if camel else "user_id", String, key="user_id"),
        Column("expiresAt" if camel else "expires_at", DateTime, key="expires_at"),
    )
