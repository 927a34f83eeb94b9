"""The list schemas of the API contract ("Lists").

``ListCreate`` (POST), ``ListUpdate`` (PATCH), ``ListMove`` (the move's body),
``TaskList`` (responses: the schema name a generated client sees; "list"
alone would shadow every language's own), and ``ListQuery`` (the page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, field_validator
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig  # type: ignore[attr-defined]

from todo_api.kit.columns import MAX_INT64
from todo_api.kit.pagination import PageNumber, PageSize
from todo_api.kit.routing import never_null, request_body_schema
from todo_api.kit.text import DECIMAL_DIGITS, BodyId, RequestBody, clean_text

ListName = Annotated[str, Field(min_length=1, max_length=100), BeforeValidator(clean_text)]
"""1 to 100 characters after stripping; names may repeat."""

ListId = Annotated[int, Field(ge=1, le=MAX_INT64), DECIMAL_DIGITS]
"""A list's id in a path: a positive 64-bit integer in plain decimal digits."""


class ListCreate(RequestBody):
    """``POST`` body: the new list's name; it is added last."""

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    name: ListName = Field(schema_extra={"examples": ["Groceries"]})


class ListUpdate(RequestBody):
    """``PATCH`` body: ``name`` if sent (not nullable); an empty body changes nothing."""

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    name: ListName | None = Field(
        default=None, schema_extra={"examples": ["Shopping"], "json_schema_extra": never_null}
    )

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class ListMove(RequestBody):
    """The move's body: ``after_id`` is one of the user's other lists (the moved list goes
    right after it), ``null`` (first) or omitted (last)."""

    model_config = SQLModelConfig(json_schema_extra=request_body_schema)

    after_id: BodyId | None = Field(default=None, schema_extra={"examples": [7]})


class TaskList(SQLModel):
    """A list as clients see it (the table is ``models.TaskList``)."""

    id: int = Field(schema_extra={"examples": [7]})
    name: str = Field(schema_extra={"examples": ["Groceries"]})
    is_inbox: bool = Field(schema_extra={"examples": [False]})
    position: str = Field(
        description="Opaque; lists sort by it (manual order).", schema_extra={"examples": ["a1"]}
    )
    task_count: int = Field(
        description="The list's tasks, subtasks included.", schema_extra={"examples": [12]}
    )
    completed_count: int = Field(
        description="Those of them completed.", schema_extra={"examples": [5]}
    )
    created_at: datetime = Field(schema_extra={"examples": ["2026-11-20T17:05:00Z"]})
    updated_at: datetime = Field(schema_extra={"examples": ["2026-11-20T17:05:00Z"]})


class ListEnvelope(SQLModel):
    data: TaskList


class ListPage(SQLModel):
    """A page of the user's lists, in manual order: ``total`` counts them all."""

    data: list[TaskList]
    total: int = Field(schema_extra={"examples": [3]})
    page: int = Field(schema_extra={"examples": [1]})
    page_size: int = Field(schema_extra={"examples": [20]})


class ListQuery(SQLModel):
    """The list route's query parameters: the page. Unknown parameters are ignored."""

    page: PageNumber = 1
    page_size: PageSize = 20
