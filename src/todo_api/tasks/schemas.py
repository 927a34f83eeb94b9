"""The task schemas of the API contract ("Tasks", "Listing").

Model family as in the SQLModel tutorial: ``TaskBase`` (shared fields and
rules), ``models.Task`` (the table), ``TaskCreate`` (POST and PUT bodies),
``TaskUpdate`` (PATCH, all optional), ``Task`` (responses; ``TaskPublic`` in
the tutorial), and ``TaskQuery`` (the list's query string).

The class names are the schema names of the OpenAPI document, so they are
what a generated client calls them (``components["schemas"]["Task"]``). The
request bodies' schemas are written for generated clients too: a field with a
default is optional (``request_body_schema``), and a PATCH field that refuses
``null`` is not nullable (``never_null``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, StrictBool, field_validator
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig  # type: ignore[attr-defined]

from todo_api.kit.columns import MAX_INT64, as_utc
from todo_api.kit.pagination import PageNumber, PageSize
from todo_api.kit.routing import never_null, request_body_schema
from todo_api.kit.text import (
    DECIMAL_DIGITS,
    BodyId,
    QueryText,
    RequestBody,
    check_query_text,
    clean_text,
    decimal_digits,
)
from todo_api.tasks.models import Priority

MAX_TAGS = 10


def in_utc(value: datetime) -> datetime:
    """``as_utc`` for input: a time that has no UTC equivalent is a validation error.

    ``9999-12-31T23:00:00-14:00`` is after the last instant a ``datetime`` holds
    once it is moved to UTC, ``0001-01-01T00:00:00+14:00`` before the first.

    Raises:
        ValueError: the time is out of range in UTC.
    """
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("Datetime is out of range once converted to UTC") from None


UTCInput = Annotated[datetime, AfterValidator(in_utc)]
# The bounds sit on the ``str`` itself, before the cleaning validator: so they are
# checked after stripping and reported in characters ("String should have at
# most 200 characters"). After a ``BeforeValidator`` (``CleanText``'s) they would
# be Pydantic's generic length check: "Value should have at most 200 items".
Title = Annotated[str, Field(min_length=1, max_length=200), BeforeValidator(clean_text)]
Description = Annotated[str, Field(max_length=1000), BeforeValidator(clean_text)]


def clean_tag(value: object) -> object:
    """``clean_text``, then lower-cased: tags are stored lower-cased (the API contract,
    "Details"), and the 30-character limit holds for what is stored (``"İ"`` lowers
    to two characters)."""
    cleaned = clean_text(value)
    return cleaned.lower() if isinstance(cleaned, str) else cleaned


TagName = Annotated[str, Field(min_length=1, max_length=30), BeforeValidator(clean_tag)]


def distinct_tags_first(tags: object) -> object:
    """The list as sent, without the items that repeat an earlier tag, checked for
    length before any item is validated.

    Runs before item validation so that the cost of a ``tags`` list is bounded by
    what the contract allows (``MAX_TAGS`` distinct tags), not by its length: a
    list of 300,000 items stops at the eleventh distinct one. Tags repeat when
    equal after stripping and lower-casing (the API contract, "Details"); items
    that are not strings count as distinct, for Pydantic to report.

    Raises:
        ValueError: more than ``MAX_TAGS`` distinct tags.
    """
    if not isinstance(tags, list):
        return tags
    distinct: dict[object, object] = {}
    for item in tags:
        key = item.strip().lower() if isinstance(item, str) else ("not a string", len(distinct))
        if key not in distinct:
            distinct[key] = item
            if len(distinct) > MAX_TAGS:
                raise ValueError(f"List should have at most {MAX_TAGS} distinct tags")
    return list(distinct.values())


Tags = Annotated[list[TagName], BeforeValidator(distinct_tags_first)]
"""At most ``MAX_TAGS`` distinct tags, each stripped and lower-cased, in the order of
first appearance: counted before the items are validated (``distinct_tags_first``),
then each item cleaned (``clean_tag``)."""


class TaskBase(RequestBody):
    """Fields a client may write, with the rules of the API contract ("Tasks")."""

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    title: Title = Field(schema_extra={"examples": ["Buy milk"]})
    description: Description | None = Field(
        default=None, schema_extra={"examples": ["Two litres, semi-skimmed"]}
    )
    completed: StrictBool = False
    priority: Priority = Priority.medium
    due_date: UTCInput | None = Field(
        default=None, schema_extra={"examples": ["2026-11-21T09:00:00Z"]}
    )
    tags: Tags = Field(
        default_factory=list,
        description="Default: `[]`.",
        schema_extra={"examples": [["home", "errands"]]},
    )
    list_id: BodyId | None = Field(
        default=None,
        description=(
            "One of the user's lists. Omitted on create: the parent's list, else the inbox; "
            "omitted on PUT: where the task is."
        ),
        schema_extra={"examples": [7], "json_schema_extra": never_null},
    )
    parent_id: BodyId | None = Field(
        default=None,
        description=(
            "A top-level task of the same list: the task is its subtask. `null`: top level. "
            "Omitted on PUT: where the task is."
        ),
        schema_extra={"examples": [None]},
    )

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class TaskCreate(TaskBase):
    """``POST`` and ``PUT`` body: ``title`` required; omitted fields take their defaults,
    except ``list_id`` and ``parent_id`` on PUT, which stay where they are."""


class TaskUpdate(RequestBody):
    """``PATCH`` body: only the fields sent change; ``null`` clears a nullable field.

    ``title``, ``completed``, ``priority`` and ``tags`` are not nullable:
    ``null`` for them is 422 (the API contract, "Details"), and their schemas
    do not offer it (``never_null``).
    """

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    title: Title | None = Field(
        default=None, schema_extra={"examples": ["Buy oat milk"], "json_schema_extra": never_null}
    )
    description: Description | None = None
    completed: StrictBool | None = Field(
        default=None, schema_extra={"json_schema_extra": never_null}
    )
    priority: Priority | None = Field(default=None, schema_extra={"json_schema_extra": never_null})
    due_date: UTCInput | None = None
    tags: Tags | None = Field(default=None, schema_extra={"json_schema_extra": never_null})
    list_id: BodyId | None = Field(
        default=None,
        description="Moves the task (and its subtasks) to the end of this list.",
        schema_extra={"examples": [7], "json_schema_extra": never_null},
    )
    parent_id: BodyId | None = Field(
        default=None,
        description="A top-level task of the same list: the task becomes its subtask; `null`: "
        "top level.",
        schema_extra={"examples": [41]},
    )

    @field_validator("title", "completed", "priority", "tags", "list_id", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class TaskMove(RequestBody):
    """The move's body (the API contract, "Subtasks and manual order"): where the task
    goes. ``list_id`` and ``parent_id`` (``null``: top level) default to where it is;
    ``after_id`` is a sibling there to go right after, ``null`` for first, omitted for
    last."""

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    list_id: BodyId | None = Field(
        default=None, schema_extra={"examples": [7], "json_schema_extra": never_null}
    )
    parent_id: BodyId | None = Field(default=None, schema_extra={"examples": [None]})
    after_id: BodyId | None = Field(default=None, schema_extra={"examples": [41]})

    @field_validator("list_id", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class CompleteRequest(RequestBody):
    """Optional body of ``PATCH .../complete``: set ``completed`` instead of toggling."""

    completed: StrictBool


class Task(SQLModel):
    """A task as clients see it (the table is ``models.Task``)."""

    id: int = Field(schema_extra={"examples": [42]})
    user_id: str = Field(schema_extra={"examples": ["3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe"]})
    list_id: int = Field(schema_extra={"examples": [7]})
    parent_id: int | None = Field(schema_extra={"examples": [None]})
    position: str = Field(
        description="Opaque; the task's place among the tasks of its list and parent.",
        schema_extra={"examples": ["a0"]},
    )
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
    data: Task


class TaskPage(SQLModel):
    """A page of the list: ``total`` counts every match, not just this page;
    ``next_cursor`` fetches the next page however deep (``null`` on the last)."""

    data: list[Task]
    total: int = Field(schema_extra={"examples": [57]})
    page: int = Field(schema_extra={"examples": [1]})
    page_size: int = Field(schema_extra={"examples": [20]})
    next_cursor: str | None = Field(
        description="Send as `cursor`, with the same filters and sort, for the next page.",
        schema_extra={"examples": ["eyJ1IjoiM2tReDltVzJwTDd2TjRyVDh5QjFjRjZoSjBkUzVhR2UifQ.sig"]},
    )


class TaskStatus(StrEnum):
    all = "all"
    pending = "pending"
    completed = "completed"


TaskSort = Literal["created_at", "updated_at", "due_date", "priority", "title", "position"]


SortOrder = Literal["asc", "desc"]


def _accept_created(value: object) -> object:
    """The hackathon spelling ``sort=created`` means ``created_at`` (the API contract)."""
    return "created_at" if value == "created" else value


TOP_LEVEL: Literal["none"] = "none"
"""``parent_id=none``: top-level tasks only."""


def _parent_filter(value: object) -> object:
    """``none``, or a task id in plain decimal digits."""
    return value if value == TOP_LEVEL else decimal_digits(value)


TagFilter = Annotated[str, Field(max_length=30), AfterValidator(check_query_text)]


def _without_empty(tags: list[str]) -> list[str]:
    """The tags asked for, without the empty ones: ``tag=`` filters nothing, as ``q=``."""
    return [tag for tag in tags if tag]


class TaskQuery(SQLModel):
    """The list's query parameters (the API contract, "Listing"), validated as one model.

    One model for the route's query parameters, and the filter type the
    service takes. ``tag`` may repeat (``validated_query`` gives a list
    field every value). Unknown parameters are ignored.
    """

    status: TaskStatus = TaskStatus.all
    priority: Priority | None = None
    tag: Annotated[list[TagFilter], AfterValidator(_without_empty)] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Tasks carrying this tag; repeated, tasks carrying all of them.",
    )
    list_id: Annotated[int, Field(ge=1, le=MAX_INT64), DECIMAL_DIGITS] | None = Field(
        default=None, description="Tasks in this list."
    )
    parent_id: (
        Annotated[
            Annotated[int, Field(ge=1, le=MAX_INT64)] | Literal["none"],
            BeforeValidator(_parent_filter),
        ]
        | None
    ) = Field(default=None, description="A task's id: its subtasks; `none`: top level.")
    q: QueryText = Field(
        default=None,
        max_length=200,
        description="Case-insensitive literal text in title or description.",
    )
    due_before: UTCInput | None = Field(default=None, description="Inclusive upper bound.")
    due_after: UTCInput | None = Field(default=None, description="Inclusive lower bound.")
    sort: Annotated[TaskSort, BeforeValidator(_accept_created)] = "created_at"
    order: SortOrder = "desc"
    page: PageNumber = 1
    page_size: PageSize = 20
    cursor: QueryText = Field(
        default=None,
        max_length=2000,
        description=(
            "A `next_cursor`: the page after it, at the cost of a first page (`page` is "
            "then ignored). Made for another sort, filter or user, or altered: 422."
        ),
    )
