"""The list rules of the API contract ("Lists"): what each route reads and writes.

A read is one statement. A write is a short unit of work: the list's row is
locked and read with its counts, so the ``If-Match`` check (against the
list's ETag, which carries the counts: ``lists.router``), the inbox rule and
the write see one state. A move reads its neighbours' keys and writes the
moved list alone.
"""

from __future__ import annotations

from todo_api.kit.columns import utcnow
from todo_api.kit.conditional import Precondition, entity_tag
from todo_api.kit.database import Database, Statements
from todo_api.kit.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from todo_api.kit.positions import AfterId
from todo_api.lists import repository
from todo_api.lists.models import ListFields
from todo_api.lists.repository import StoredList

LIST_NOT_FOUND = "List not found"


def list_etag(stored: StoredList) -> str:
    """The list's strong ETag: its id, its version and its counts (``"7.3.12.5"``), so
    that it changes whenever its representation does, a task added to it included."""
    fields = stored.fields
    version = f"{stored.version}.{fields['task_count']}.{fields['completed_count']}"
    return entity_tag(stored.id, version)


async def list_lists(
    database: Database, user_id: str, page: int, page_size: int
) -> tuple[list[ListFields], int]:
    """One page of ``user_id``'s lists in manual order, and how many they have."""
    async with database.reading() as db:
        return await repository.list_page(db, user_id, page, page_size)


async def get_list(database: Database, user_id: str, list_id: int) -> StoredList:
    """``user_id``'s list ``list_id``.

    Raises:
        NotFound: no such list for this user (another user's list included; 404).
    """
    async with database.reading() as db:
        found = await repository.find_list(db, user_id, list_id)
    if found is None:
        raise NotFound(LIST_NOT_FOUND)
    return found


async def create_list(database: Database, user_id: str, name: str) -> StoredList:
    """Store a new list for ``user_id``, last in their order."""
    async with database.atomic_write() as db:
        return await repository.create_list(db, user_id, name, utcnow())


async def rename_list(
    database: Database, user_id: str, list_id: int, name: str | None, precondition: Precondition
) -> StoredList:
    """Rename the list; ``None`` or its current name changes nothing (200, same ETag).

    Raises:
        NotFound: no such list for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """

    async def work(db: Statements) -> StoredList:
        stored = await _locked(db, user_id, list_id, precondition)
        if name is None or name == stored.fields["name"]:
            return stored
        await repository.rename_list(db, user_id, list_id, name, utcnow())
        return await _found(db, user_id, list_id)

    return await database.in_transaction(work)


async def delete_list(
    database: Database, user_id: str, list_id: int, precondition: Precondition
) -> None:
    """Delete the list and its tasks.

    Raises:
        NotFound: no such list for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
        Conflict: the list is the user's inbox, which cannot be deleted (409).
    """

    async def work(db: Statements) -> None:
        stored = await _locked(db, user_id, list_id, precondition)
        if stored.is_inbox:
            raise Conflict("The inbox cannot be deleted")
        await repository.delete_list(db, user_id, list_id)

    await database.in_transaction(work)


async def move_list(
    database: Database,
    user_id: str,
    list_id: int,
    after_id: AfterId,
    precondition: Precondition,
) -> StoredList:
    """Put the list right after the user's list ``after_id``, first (``None``) or last
    (``LAST``), writing its row alone; a move to where it is changes nothing. Moves of
    one user's lists take turns (``lock_list_order``).

    Raises:
        NotFound: no such list for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
        ValidationFailed: ``after_id`` is the list itself or not one of the user's
            lists (422 ``field_errors.after_id``).
    """
    if after_id == list_id:
        raise ValidationFailed.of_field("after_id", "A list cannot go after itself")

    async def work(db: Statements) -> StoredList:
        await repository.lock_list_order(db, user_id)  # the order first, then the list
        stored = await _locked(db, user_id, list_id, precondition)
        neighbours = await repository.list_neighbours(db, user_id, list_id, after_id)
        if not neighbours.found:
            raise ValidationFailed.of_field("after_id", LIST_NOT_FOUND)
        if neighbours.hold(stored.fields["position"]):
            return stored  # already there: nothing changes
        await repository.place_list(db, user_id, list_id, neighbours, utcnow())
        return await _found(db, user_id, list_id)

    return await database.in_transaction(work)


async def _locked(
    db: Statements, user_id: str, list_id: int, precondition: Precondition
) -> StoredList:
    """The list, its row locked until the unit of work ends.

    Raises:
        NotFound: no such list for this user.
        PreconditionFailed: ``precondition`` does not hold for it.
    """
    stored = await repository.find_list(db, user_id, list_id, lock=True)
    if stored is None:
        raise NotFound(LIST_NOT_FOUND)
    if not precondition.allows(list_etag(stored)):
        raise PreconditionFailed("The list has changed since you read it (If-Match)")
    return stored


async def _found(db: Statements, user_id: str, list_id: int) -> StoredList:
    found = await repository.find_list(db, user_id, list_id)
    assert found is not None  # written in this unit of work
    return found
