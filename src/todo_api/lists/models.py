"""The ``lists`` table: the lists that hold a user's tasks (the API contract, "Lists")."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import Column, Index, Table, text
from sqlmodel import Field, SQLModel

from todo_api.kit.columns import UTCDateTime, id_field, owner_field, utcnow
from todo_api.kit.positions import POSITION_TYPE


class TaskList(SQLModel, table=True):
    """A user's list of tasks. ``version`` grows on every write of the list itself.

    Every user has exactly one inbox (``is_inbox``; a partial unique index), named
    "Inbox" until renamed: a trigger on ``users`` makes it with the user, whatever inserts the user
    (signup, provisioning from a token, an operator), migration 0003. Deleting
    a list deletes its tasks (``tasks.list_id`` cascades). ``position`` orders
    the user's lists (``kit.positions``).
    """

    __tablename__ = "lists"
    __table_args__ = (
        Index("ix_lists_user_id_position_id", "user_id", "position", "id"),
        Index(
            "uq_lists_user_id_inbox",
            "user_id",
            unique=True,
            postgresql_where=text("is_inbox"),
            sqlite_where=text("is_inbox"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = id_field()
    user_id: str = owner_field()
    name: str = Field(max_length=100)
    is_inbox: bool = False
    position: str = Field(sa_column=Column(POSITION_TYPE, nullable=False))
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ListFields(TypedDict):
    """A list as clients see it (the fields of ``schemas.TaskList``), ready to serialise."""

    id: int
    name: str
    is_inbox: bool
    position: str
    task_count: int
    completed_count: int
    created_at: datetime
    updated_at: datetime


LISTS: Table = TaskList.__table__  # type: ignore[attr-defined]
"""``TaskList`` as a Core table, for the repository's statements."""
