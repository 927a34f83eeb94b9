"""The task tables: tasks, tags, the task-tag link and the per-user task counts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy import BigInteger, Column, ForeignKey, Index, SmallInteger, Table, func, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from todo_api.kit.columns import (
    BIGINT_ID,
    POSTGRESQL_ONLY,
    UTCDateTime,
    id_field,
    owner_field,
    utcnow,
)
from todo_api.kit.positions import POSITION_TYPE


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


_PRIORITY_RANK = {Priority.low: 1, Priority.medium: 2, Priority.high: 3}
_PRIORITY_BY_RANK = {rank: priority for priority, rank in _PRIORITY_RANK.items()}


class PriorityRank(TypeDecorator[Priority]):
    """Stores ``Priority`` as its rank (low 1, medium 2, high 3).

    So ``ORDER BY priority`` sorts by rank, not alphabetically (the API contract,
    "Listing"), and an index on the column serves that sort.
    """

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Priority | str | None, dialect: Any) -> int | None:
        return None if value is None else _PRIORITY_RANK[Priority(value)]

    def process_result_value(self, value: int | None, dialect: Any) -> Priority | None:
        return None if value is None else _PRIORITY_BY_RANK[value]


class Task(SQLModel, table=True):
    """A user's task. ``version`` grows on every write; the ETag is derived from it.

    It lives in one of its user's lists (``list_id``; deleting the list deletes
    it) and is top-level or the subtask of a top-level task of that list
    (``parent_id``; deleting the parent deletes it). ``position`` orders it
    among the tasks of the same list and parent (``kit.positions``); on
    PostgreSQL its default is a new "last" key.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_tasks_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index(
            "ix_tasks_user_id_completed_created_at_id", "user_id", "completed", "created_at", "id"
        ),
        Index("ix_tasks_user_id_priority_id", "user_id", "priority", "id"),
        Index("ix_tasks_user_id_due_date_id", "user_id", "due_date", "id"),
        Index(
            "ix_tasks_list_id_position_id",
            "list_id",
            "position",
            "id",
            postgresql_where=text("parent_id IS NULL"),
            sqlite_where=text("parent_id IS NULL"),
        ),
        Index("ix_tasks_parent_id_position_id", "parent_id", "position", "id"),
        Index("ix_tasks_list_id_completed", "list_id", "completed"),
        # sort=due_date: the undated tasks, last in either order, by id (migration 0005).
        Index(
            "ix_tasks_user_id_id_undated",
            "user_id",
            "id",
            postgresql_where=text("due_date IS NULL"),
            sqlite_where=text("due_date IS NULL"),
        ),
        # sort=due_date&order=desc, tasks without a due date last (migration 0004).
        Index(
            "ix_tasks_user_id_due_date_desc_id",
            "user_id",
            text("due_date DESC NULLS LAST"),
            text("id DESC"),
            info=POSTGRESQL_ONLY,
        ).ddl_if(dialect="postgresql"),
        # q: ILIKE '%text%' on either column, of one user's tasks (pg_trgm and
        # btree_gin, migration 0006).
        *(
            Index(
                f"ix_tasks_user_id_{column}_trgm",
                "user_id",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
                info=POSTGRESQL_ONLY,
            ).ddl_if(dialect="postgresql")
            for column in ("title", "description")
        ),
        # sort=title: SQLite's lower() is a Python function (kit.engine), which an
        # index there could not use without it.
        Index("ix_tasks_user_id_lower_title_id", "user_id", func.lower(text("title")), "id").ddl_if(
            dialect="postgresql"
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = id_field()
    user_id: str = owner_field()
    list_id: int = Field(
        sa_column=Column(BIGINT_ID, ForeignKey("lists.id", ondelete="CASCADE"), nullable=False)
    )
    parent_id: int | None = Field(
        default=None,
        sa_column=Column(BIGINT_ID, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=True),
    )
    position: str = Field(sa_column=Column(POSITION_TYPE, nullable=False))
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    completed: bool = False
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    priority: Priority = Field(default=Priority.medium, sa_type=PriorityRank)
    due_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Tag(SQLModel, table=True):
    """A user's tag name, stored lower-cased, unique per user."""

    __tablename__ = "tags"
    __table_args__ = (Index("uq_tags_user_id_name", "user_id", "name", unique=True),)

    id: int | None = id_field()
    user_id: str = owner_field()
    name: str = Field(max_length=30)


class TaskCount(SQLModel, table=True):
    """How many tasks a user has, and how many of them are completed.

    A sharded counter: a user's counts are the sums over their rows, one row
    per ``shard`` (task id modulo 8) that has had a task. Kept by database
    triggers on ``tasks`` (migration 0002) in the writing transaction, so a
    list without filters other than ``status`` reads its ``total`` from at
    most 8 rows instead of counting every task (docs/design.md, "Totals").
    """

    __tablename__ = "task_counts"

    user_id: str = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    shard: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    completed: int = Field(sa_column=Column(BigInteger, nullable=False))


class TaskTag(SQLModel, table=True):
    """The task-tag link; ``position`` keeps the order in which the client gave the tags."""

    __tablename__ = "task_tags"
    __table_args__ = (Index("ix_task_tags_tag_id_task_id", "tag_id", "task_id"),)

    task_id: int = Field(
        sa_column=Column(
            BIGINT_ID,
            ForeignKey("tasks.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    tag_id: int = Field(
        sa_column=Column(
            BIGINT_ID,
            ForeignKey("tags.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    position: int = Field(sa_type=SmallInteger)


class _TaskRow(TypedDict):
    """What ``TaskColumns`` and ``TaskFields`` share."""

    id: int
    user_id: str
    list_id: int
    parent_id: int | None
    position: str
    title: str
    description: str | None
    completed: bool
    completed_at: datetime | None
    priority: Priority
    due_date: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskColumns(_TaskRow):
    """A ``tasks`` row."""

    version: int


class TaskFields(_TaskRow):
    """A task as clients see it (the fields of ``schemas.Task``), ready to serialise."""

    tags: list[str]


TASKS: Table = Task.__table__  # type: ignore[attr-defined]
TAGS: Table = Tag.__table__  # type: ignore[attr-defined]
TASK_TAGS: Table = TaskTag.__table__  # type: ignore[attr-defined]
TASK_COUNTS: Table = TaskCount.__table__  # type: ignore[attr-defined]
"""The SQLModel tables as Core ``Table`` objects, for the repository's statements."""
