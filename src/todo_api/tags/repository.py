"""Tag storage: the only place the tag picker's statements are built and rows read.

Both statements filter on the owner (``tags.user_id``), so another user's tags
are never seen. They are Core on the task tables (``todo_api.tasks.models``),
built once at import with bound parameters (so each is compiled once), and run
with ``todo_api.kit.database``. A tag is listed only while a task carries it:
the page is an inner join to ``task_tags``, and the total counts only linked
tags, so a tag whose last task was deleted or retagged drops out of both.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import BigInteger, Select, bindparam, exists, func, select

from todo_api.kit.database import Statements
from todo_api.kit.pagination import page_offset
from todo_api.tasks.models import TAGS, TASK_TAGS


class TagFields(TypedDict):
    """A tag as clients see it (the fields of ``schemas.TagCount``), ready to serialise."""

    name: str
    task_count: int


_OWNER = TAGS.c.user_id == bindparam("user_id")

_TOTAL = (
    select(func.count())
    .select_from(TAGS)
    .where(_OWNER, exists().where(TASK_TAGS.c.tag_id == TAGS.c.id))
    .correlate(None)
    .scalar_subquery()
    .label("total")
)
"""How many of the user's tags a task carries: an uncorrelated scalar subquery,
evaluated once per statement (``correlate(None)``: its ``tags`` is its own, not
the page's)."""

_PAGE: Select[Any] = (
    select(TAGS.c.name, func.count().label("task_count"), _TOTAL)
    .select_from(TAGS.join(TASK_TAGS, TASK_TAGS.c.tag_id == TAGS.c.id))
    .where(_OWNER)
    .group_by(TAGS.c.id, TAGS.c.name)
    .order_by(TAGS.c.name)
    .limit(bindparam("limit", type_=BigInteger()))
    .offset(bindparam("offset", type_=BigInteger()))
)
"""One page of the user's carried tags, sorted by name (unique per user), each with
its task count and the ``total``."""

_TOTAL_ONLY: Select[Any] = select(_TOTAL)
"""The total alone, for a page past the end, which has no row to carry it."""


async def list_page(
    db: Statements, user_id: str, page: int, page_size: int
) -> tuple[list[TagFields], int]:
    """One page of the tags ``user_id``'s tasks carry, and how many such tags there are.

    One statement; a page past the end (no row to carry ``total``) takes a
    second, the total alone.

    Returns:
        ``(tags, total)``; a page past the end is ``([], total)``.
    """
    parameters = {
        "user_id": user_id,
        "limit": page_size,
        "offset": page_offset(page, page_size),
    }
    rows = await db.fetch(_PAGE, parameters)
    if rows:
        total = int(rows[0]["total"])
    elif page == 1:
        total = 0
    else:
        total = int((await db.fetch(_TOTAL_ONLY, parameters))[0]["total"])
    tags: list[TagFields] = [
        {"name": row["name"], "task_count": int(row["task_count"])} for row in rows
    ]
    return tags, total
