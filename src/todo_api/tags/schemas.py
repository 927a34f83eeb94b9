"""The tag schemas of the API contract ("Tags"): the picker's query string and its page.

The class names are the schema names of the OpenAPI document, so they are
what a generated client calls them (``components["schemas"]["TagCount"]``).
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from todo_api.kit.pagination import PageNumber, PageSize


class TagQuery(SQLModel):
    """The picker's query parameters (``page`` and ``page_size`` as in the API contract,
    "Listing"), validated as one model. Unknown parameters are ignored."""

    page: PageNumber = 1
    page_size: PageSize = 20


class TagCount(SQLModel):
    """One of the user's tags (stored lower-cased) and how many of their tasks carry it."""

    name: str = Field(schema_extra={"examples": ["home"]})
    task_count: int = Field(schema_extra={"examples": [3]})


class TagPage(SQLModel):
    """A page of the user's tags, sorted by name: ``total`` counts every tag, not just
    this page's."""

    data: list[TagCount]
    total: int = Field(schema_extra={"examples": [7]})
    page: int = Field(schema_extra={"examples": [1]})
    page_size: int = Field(schema_extra={"examples": [20]})
