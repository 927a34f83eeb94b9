"""Pages of a listing (the API contract, "Listing"): ``page`` and ``page_size`` in, and
``{"data", "total", "page", "page_size"}`` out."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from todo_api.kit.columns import MAX_INT64
from todo_api.kit.text import DECIMAL_DIGITS

MAX_PAGE_SIZE = 100

PageNumber = Annotated[int, Field(ge=1, le=MAX_INT64), DECIMAL_DIGITS]
"""A 1-based page number."""

PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), DECIMAL_DIGITS]
"""Items per page, 1 to ``MAX_PAGE_SIZE``."""


def page_offset(page: int, page_size: int) -> int:
    """Rows before page ``page``; a huge page is simply past the end (capped at ``MAX_INT64``)."""
    return min((page - 1) * page_size, MAX_INT64)


def page_body(data: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """The page envelope: ``total`` counts every match, not just this page's."""
    return {"data": data, "total": total, "page": page, "page_size": page_size}
