"""The tag rules of the API contract ("Tags"): what the tag picker reads.

A read is one statement outside any transaction (``Database.reading``), so a
page's ``total`` agrees with its rows.
"""

from __future__ import annotations

from todo_api.kit.database import Database
from todo_api.tags import repository
from todo_api.tags.repository import TagFields
from todo_api.tags.schemas import TagQuery


async def list_tags(
    database: Database, user_id: str, query: TagQuery
) -> tuple[list[TagFields], int]:
    """One page of the tags ``user_id``'s tasks carry, sorted by name, and how many
    such tags there are in all."""
    async with database.reading() as db:
        return await repository.list_page(db, user_id, query.page, query.page_size)
