"""Tasks, tags and the task-tag link; the task schemas of api.md ("Tasks").

Model family as in the SQLModel tutorial: ``TaskBase`` (shared fields and
rules), ``Task`` (table), ``TaskCreate`` (POST and PUT bodies), ``TaskUpdate``
(PATCH, all optional), ``TaskPublic`` (responses).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, StrictBool, field_validator
from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, SmallInteger
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from todo_api.db import UTCDateTime, as_utc, utcnow
from todo_api.models import FORBID_EXTRA, CleanText, QueryText

MAX_TAGS = 10


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


_PRIORITY_RANK = {Priority.low: 1, Priority.medium: 2, Priority.high: 3}
_PRIORITY_BY_RANK = {rank: priority for priority, rank in _PRIORITY_RANK.items()}


class PriorityRank(TypeDecorator[Priority]):
    """Stores ``Priority`` as its rank (low 1, medium 2, high 3).

    So ``ORDER BY priority`` sorts by rank, not alphabetically (api.md,
    "Listing"), and an index on the column serves that sort.
    """

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Priority | str | None, dialect: Any) -> int | None:
        return None if value is None else _PRIORITY_RANK[Priority(value)]

    def process_result_value(self, value: int | None, dialect: Any) -> Priority | None:
        return None if value is None else _PRIORITY_BY_RANK[value]


UTCInput = Annotated[datetime, AfterValidator(as_utc)]
Title = Annotated[CleanText, Field(min_length=1, max_length=200)]
Description = Annotated[CleanText, Field(max_length=1000)]
TagName = Annotated[CleanText, Field(min_length=1, max_length=30)]


def normalise_tags(tags: list[str] | None) -> list[str]:
    """Lower-case and de-duplicate, keeping the order of first appearance.

    Raises:
        ValueError: more than ``MAX_TAGS`` distinct tags remain.
    """
    seen: dict[str, None] = {}
    for tag in tags or []:
        seen.setdefault(tag.lower(), None)
    if len(seen) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} distinct tags")
    return list(seen)


# --- tables ---------------------------------------------------------------


class Task(SQLModel, table=True):
    """A user's task. ``version`` grows on every write; the ETag is derived from it."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_tasks_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index(
            "ix_tasks_user_id_completed_created_at_id", "user_id", "completed", "created_at", "id"
        ),
        Index("ix_tasks_user_id_priority_id", "user_id", "priority", "id"),
        Index("ix_tasks_user_id_due_date_id", "user_id", "due_date", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    user_id: str = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
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

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    user_id: str = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
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
            BigInteger().with_variant(Integer, "sqlite"),
            ForeignKey("tasks.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    tag_id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"),
            ForeignKey("tags.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    position: int = Field(sa_type=SmallInteger)


# --- request and response schemas -------------------------------------------


class TaskBase(SQLModel):
    """Fields a client may write, with the rules of api.md ("Tasks")."""

    model_config = FORBID_EXTRA

    title: Title = Field(schema_extra={"examples": ["Buy milk"]})
    description: Description | None = Field(
        default=None, schema_extra={"examples": ["Two litres, semi-skimmed"]}
    )
    completed: StrictBool = False
    priority: Priority = Priority.medium
    due_date: UTCInput | None = Field(
        default=None, schema_extra={"examples": ["2026-11-21T09:00:00Z"]}
    )
    tags: list[TagName] = Field(
        default_factory=list, schema_extra={"examples": [["home", "errands"]]}
    )

    @field_validator("tags", mode="after")
    @classmethod
    def _normalise_tags(cls, tags: list[str]) -> list[str]:
        return normalise_tags(tags)


class TaskCreate(TaskBase):
    """``POST`` and ``PUT`` body: ``title`` required; omitted fields take their defaults."""


class TaskUpdate(SQLModel):
    """``PATCH`` body: only the fields sent change; ``null`` clears a nullable field.

    ``title``, ``completed``, ``priority`` and ``tags`` are not nullable:
    ``null`` for them is 422 (api.md, "Details").
    """

    model_config = FORBID_EXTRA

    title: Title | None = Field(default=None, schema_extra={"examples": ["Buy oat milk"]})
    description: Description | None = None
    completed: StrictBool | None = None
    priority: Priority | None = None
    due_date: UTCInput | None = None
    tags: list[TagName] | None = None

    @field_validator("title", "completed", "priority", "tags", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("tags", mode="after")
    @classmethod
    def _normalise_tags(cls, tags: list[str] | None) -> list[str]:
        return normalise_tags(tags)


class CompleteRequest(SQLModel):
    """Optional body of ``PATCH .../complete``: set ``completed`` instead of toggling."""

    model_config = FORBID_EXTRA

    completed: StrictBool


class TaskPublic(SQLModel):
    """A task as clients see it."""

    id: int = Field(schema_extra={"examples": [42]})
    user_id: str = Field(schema_extra={"examples": ["3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe"]})
    title: str = Field(schema_extra={"examples": ["Buy milk"]})
    description: str | None = Field(schema_extra={"examples": [None]})
    completed: bool = Field(schema_extra={"examples": [False]})
    completed_at: datetime | None = Field(schema_extra={"examples": [None]})
    priority: Priority = Field(schema_extra={"examples": ["medium"]})
    due_date: datetime | None = Field(schema_extra={"examples": [None]})
    tags: list[str] = Field(schema_extra={"examples": [["home"]]})
    created_at: datetime = Field(schema_extra={"examples": ["2026-11-20T17:05:00Z"]})
    updated_at: datetime = Field(schema_extra={"examples": ["2026-11-20T17:05:00Z"]})


class TaskEnvelope(SQLModel):
    data: TaskPublic


class TaskPage(SQLModel):
    """A page of the list: ``total`` counts every match, not just this page."""

    data: list[TaskPublic]
    total: int = Field(schema_extra={"examples": [57]})
    page: int = Field(schema_extra={"examples": [1]})
    page_size: int = Field(schema_extra={"examples": [20]})


class TaskStatus(StrEnum):
    all = "all"
    pending = "pending"
    completed = "completed"


TaskSort = Literal["created_at", "updated_at", "due_date", "priority", "title"]


SortOrder = Literal["asc", "desc"]

MAX_INT64 = 2**63 - 1


def _accept_created(value: object) -> object:
    """The hackathon spelling ``sort=created`` means ``created_at`` (api.md)."""
    return "created_at" if value == "created" else value


class TaskQuery(SQLModel):
    """The list's query parameters (api.md, "Listing"), validated as one model.

    One model for the route's ten query parameters, and the filter type the
    service takes. Unknown parameters are ignored.
    """

    status: TaskStatus = TaskStatus.all
    priority: Priority | None = None
    tag: QueryText = Field(default=None, max_length=30, description="Tasks carrying this tag.")
    q: QueryText = Field(
        default=None,
        max_length=200,
        description="Case-insensitive literal text in title or description.",
    )
    due_before: UTCInput | None = Field(default=None, description="Inclusive upper bound.")
    due_after: UTCInput | None = Field(default=None, description="Inclusive lower bound.")
    sort: Annotated[TaskSort, BeforeValidator(_accept_created)] = "created_at"
    order: SortOrder = "desc"
    page: int = Field(default=1, ge=1, le=MAX_INT64)
    page_size: int = Field(default=20, ge=1, le=100)
