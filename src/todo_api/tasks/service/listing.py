"""The listing rules of the API contract ("Listing"): a page of tasks by number or by
cursor (keyset pagination), its total, and the cursor of the next page.

A cursor carries the sort key and ``id`` of the last row of its page, and what
it was made for: the user, the sort, the order and a digest of the filters. A
cursor used with anything else is refused (422 ``field_errors.cursor``), as is
one that is malformed or altered (``kit.cursors``: signed), so a page never
silently starts at a row of another query. An empty ``cursor=`` asks for
nothing, as ``q=`` does: the first page.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from todo_api.kit.columns import MAX_INT64, as_utc
from todo_api.kit.cursors import CursorSigner
from todo_api.kit.database import Database
from todo_api.kit.errors import ValidationFailed
from todo_api.tasks import repository
from todo_api.tasks.models import Priority, TaskFields
from todo_api.tasks.repository import After
from todo_api.tasks.schemas import TaskQuery

MALFORMED = "Malformed cursor: use a next_cursor as it was given"
ANOTHER_QUERY = "The cursor was made for another query: same filters and sort"
_FILTERS = ("status", "priority", "tag", "list_id", "parent_id", "q", "due_before", "due_after")


async def list_tasks(
    database: Database, user_id: str, query: TaskQuery, cursors: CursorSigner
) -> tuple[list[TaskFields], int, str | None]:
    """One page of ``user_id``'s tasks that match ``query`` (after ``query.cursor`` when
    given), how many match in all, and the cursor of the next page (``None``: last).

    Raises:
        ValidationFailed: ``query.cursor`` is malformed, altered, or made for another
            user, sort, order or filters (422 ``field_errors.cursor``).
    """
    after = _after(cursors, user_id, query) if query.cursor else None
    async with database.reading() as db:
        page = await repository.list_page(db, user_id, query, after)
    following = page.next_after
    next_cursor = None if following is None else _cursor(cursors, user_id, query, following)
    return page.tasks, page.total, next_cursor


def _made_for(user_id: str, query: TaskQuery) -> dict[str, Any]:
    """What a cursor is good for: the user, the sort, the order, the filters' digest."""
    filters = query.model_dump(include=set(_FILTERS), mode="json")
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]
    return {"u": user_id, "s": query.sort, "o": query.order, "f": digest}


def _cursor(cursors: CursorSigner, user_id: str, query: TaskQuery, after: After) -> str:
    key = after.key
    if isinstance(key, datetime):
        key = key.isoformat()
    elif isinstance(key, Priority):
        key = key.value
    return cursors.sign({**_made_for(user_id, query), "k": key, "i": after.id})


def _after(cursors: CursorSigner, user_id: str, query: TaskQuery) -> After:
    """Where the page of ``query.cursor`` starts.

    Raises:
        ValidationFailed: the cursor does not fit this query (422 ``cursor``).
    """
    assert query.cursor is not None
    payload = cursors.payload(query.cursor)
    if payload is None:
        raise ValidationFailed.of_field(
            "cursor", "Malformed cursor: use a next_cursor as it was given"
        )
    if {name: payload.get(name) for name in ("u", "s", "o", "f")} != _made_for(user_id, query):
        raise ValidationFailed.of_field(
            "cursor", "The cursor was made for another query: same filters and sort"
        )
    identity, key = payload.get("i"), payload.get("k")
    try:
        if not isinstance(identity, int) or isinstance(identity, bool):
            raise TypeError("id")
        if not 1 <= identity <= MAX_INT64:
            raise ValueError("id")
        return After(_sort_key(query, key), identity)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed.of_field(
            "cursor", "Malformed cursor: use a next_cursor as it was given"
        ) from None


def _sort_key(query: TaskQuery, key: object) -> Any:
    """The sort key a cursor's payload carries, as the column holds it.

    Raises:
        ValueError, TypeError, OverflowError: it is not one of this sort.
    """
    if query.sort == "due_date" and key is None:
        return None
    if not isinstance(key, str):
        raise TypeError("key")
    if query.sort in ("created_at", "updated_at", "due_date"):
        return as_utc(datetime.fromisoformat(key))  # OverflowError past year 9999 in UTC
    if query.sort == "priority":
        return Priority(key)
    return key  # title (lower-cased, as the database made it) or position
