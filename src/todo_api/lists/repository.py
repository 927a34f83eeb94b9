"""List storage: the only place list statements are built and rows read.

Every statement filters on the owner (``user_id``), so another user's list is
simply not found. A list's counts are counted when it is read, from the
``(list_id, ...)`` index on ``tasks``: exact whatever writes tasks, with no
counter row for concurrent writers to fight over.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from todo_api.kit.compiled import Row
from todo_api.kit.database import Statements
from todo_api.kit.pagination import page_offset
from todo_api.kit.positions import (
    LAST,
    AfterId,
    Neighbours,
    key_between,
    neighbour_keys,
    position_parameters,
    position_value,
    takes_next_key,
)
from todo_api.lists.models import LISTS, ListFields
from todo_api.tasks.models import TASKS

USER_ID = bindparam("user_id", type_=String())
LIST_ID = bindparam("list_id", type_=BigInteger())
_OWNER_ID = bindparam("owner_id", type_=String())
"""The owner in an UPDATE, whose parameters may not share a column's name."""


@dataclass(frozen=True, slots=True)
class StoredList:
    """A list as stored: its public ``fields`` (with its counts) and its ``version``."""

    fields: ListFields
    version: int

    @property
    def id(self) -> int:
        return self.fields["id"]

    @property
    def is_inbox(self) -> bool:
        return self.fields["is_inbox"]


def _count(*conditions: ColumnElement[bool]) -> ColumnElement[int]:
    return (
        select(func.count())
        .select_from(TASKS)
        .where(TASKS.c.list_id == LISTS.c.id, *conditions)
        .scalar_subquery()
    )


_COLUMNS = (
    LISTS.c.id,
    LISTS.c.name,
    LISTS.c.is_inbox,
    LISTS.c.position,
    _count().label("task_count"),
    _count(TASKS.c.completed == True).label("completed_count"),  # noqa: E712 (SQL)
    LISTS.c.created_at,
    LISTS.c.updated_at,
    LISTS.c.version,
)
"""A list's public fields, its counts counted, and its version."""
_FIELDS = tuple(ListFields.__annotations__)


def _stored(row: Row) -> StoredList:
    return StoredList(cast(ListFields, {name: row[name] for name in _FIELDS}), row["version"])


_OWNED = LISTS.c.user_id == USER_ID
_SIBLINGS = (_OWNED,)
"""A list's siblings: the user's lists (``kit.positions.neighbour_keys``)."""
_PAGE: Select[Any] = (
    select(
        *_COLUMNS,
        select(func.count()).select_from(LISTS).where(_OWNED).scalar_subquery().label("total"),
    )
    .where(_OWNED)
    .order_by(LISTS.c.position, LISTS.c.id)
    .limit(bindparam("limit", type_=BigInteger()))
    .offset(bindparam("offset", type_=BigInteger()))
)
"""A page of the user's lists in manual order, each row carrying ``total``."""
_TOTAL = select(func.count().label("total")).select_from(LISTS).where(_OWNED)
_GET = select(*_COLUMNS).where(LISTS.c.id == LIST_ID, _OWNED)


async def list_page(
    db: Statements, user_id: str, page: int, page_size: int
) -> tuple[list[ListFields], int]:
    """One page of ``user_id``'s lists in manual order, and how many lists they have.

    One statement; a page past the end takes a second, the total alone.
    """
    parameters = {"user_id": user_id, "limit": page_size, "offset": page_offset(page, page_size)}
    rows = await db.fetch(_PAGE, parameters)
    if rows:
        total = int(rows[0]["total"])
    else:
        total = int((await db.fetch(_TOTAL, parameters))[0]["total"]) if page > 1 else 0
    return [_stored(row).fields for row in rows], total


async def find_list(
    db: Statements, user_id: str, list_id: int, *, lock: bool = False
) -> StoredList | None:
    """``user_id``'s list ``list_id`` with its counts, if there is one; ``lock``: its row
    locked first (``lock_list``), so that the counts are read after the lock, in a
    statement of their own: a waiting lock would see only the row's new version, not
    tasks added meanwhile."""
    if lock and not await lock_list(db, user_id, list_id):
        return None
    rows = await db.fetch(_GET, {"list_id": list_id, "user_id": user_id})
    return _stored(rows[0]) if rows else None


async def create_list(db: Statements, user_id: str, name: str, now: Any) -> StoredList:
    """Store a new list named ``name`` for ``user_id``, last in their order.

    PostgreSQL gives it a new "last" key (the column default): one statement.
    SQLite, where writers are serialised, a key after the greatest of the user's.
    """
    values: dict[str, Any] = {
        "user_id": user_id,
        "name": name,
        "is_inbox": False,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    if db.dialect.name != "postgresql":
        last = await neighbour_keys(db, LISTS, _SIBLINGS, {"user_id": user_id}, None, LAST)
        values["position"] = key_between(last.before, None)
    statement = insert(LISTS).values(values).returning(*LISTS.c)
    row = (await db.fetch(statement, {}))[0]
    return _stored({**row, "task_count": 0, "completed_count": 0})  # a new list is empty


async def rename_list(db: Statements, user_id: str, list_id: int, name: str, now: Any) -> None:
    """Set the name of ``user_id``'s list ``list_id`` as its next version."""
    statement = (
        update(LISTS)
        .where(LISTS.c.id == LIST_ID, LISTS.c.user_id == _OWNER_ID)
        .values(
            name=bindparam("new_name"), version=LISTS.c.version + 1, updated_at=bindparam("now")
        )
    )
    parameters = {"list_id": list_id, "owner_id": user_id, "new_name": name, "now": now}
    await db.execute(statement, parameters)


async def delete_list(db: Statements, user_id: str, list_id: int) -> None:
    """Delete ``user_id``'s list ``list_id``; its tasks go with it (``ON DELETE CASCADE``)."""
    statement = delete(LISTS).where(LISTS.c.id == LIST_ID, _OWNED)
    await db.execute(statement, {"list_id": list_id, "user_id": user_id})


async def list_neighbours(
    db: Statements, user_id: str, list_id: int, after_id: AfterId
) -> Neighbours:
    """The keys around the place ``after_id`` names among ``user_id``'s other lists."""
    return await neighbour_keys(db, LISTS, _SIBLINGS, {"user_id": user_id}, list_id, after_id)


@lru_cache(maxsize=2)
def _place_statement(next_key: bool) -> Any:
    return (
        update(LISTS)
        .where(LISTS.c.id == LIST_ID, LISTS.c.user_id == _OWNER_ID)
        .values(
            position=position_value(next_key),
            version=LISTS.c.version + 1,
            updated_at=bindparam("now"),
        )
    )


async def place_list(
    db: Statements, user_id: str, list_id: int, neighbours: Neighbours, now: Any
) -> None:
    """Give ``user_id``'s list ``list_id`` a position between ``neighbours``, as its next
    version: one row written, however many lists the user has."""
    statement = _place_statement(takes_next_key(db.dialect, neighbours))
    parameters = {"list_id": list_id, "owner_id": user_id, "now": now}
    await db.execute(statement, {**parameters, **position_parameters(db.dialect, neighbours)})


_LOCK_GROUP = select(LISTS.c.id).with_for_update(of=LISTS, key_share=True)
"""``FOR NO KEY UPDATE``: a list's key never changes, so tasks inserted into it meanwhile
(whose foreign key check takes ``FOR KEY SHARE``) need not wait."""
_LOCK_BY_ID = _LOCK_GROUP.where(LISTS.c.id == LIST_ID, _OWNED)
_LOCK_INBOX = _LOCK_GROUP.where(_OWNED, LISTS.c.is_inbox)


async def lock_list(db: Statements, user_id: str, list_id: int) -> bool:
    """Lock ``user_id``'s list ``list_id`` until the unit of work ends, so that moves into
    it take turns (each reads its neighbours after the one before committed: two moves
    into one gap never get one key); whether there is such a list."""
    return bool(await db.fetch(_LOCK_BY_ID, {"list_id": list_id, "user_id": user_id}))


async def lock_list_order(db: Statements, user_id: str) -> None:
    """Lock ``user_id``'s order of lists (their inbox's row stands for it) until the unit
    of work ends, so that moves of their lists take turns, as ``lock_list``."""
    await db.fetch(_LOCK_INBOX, {"user_id": user_id})


_EXISTS = select(LISTS.c.id).where(LISTS.c.id == LIST_ID, _OWNED)


async def list_exists(db: Statements, user_id: str, list_id: int) -> bool:
    """Whether ``user_id`` has a list ``list_id``."""
    return bool(await db.fetch(_EXISTS, {"list_id": list_id, "user_id": user_id}))
