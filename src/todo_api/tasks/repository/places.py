"""Where a task is: the reads and writes of a move (the API contract, "Subtasks and
manual order").

A move runs in a unit of work that locks, container first, the destination
list, the parent it goes under (``FOR SHARE``: it cannot become a subtask or
go before the move commits) and the moved task (``writes.lock_task``); a
task made a subtask of the moved one meanwhile has had to share-lock the
moved row, so the one-level rule holds under concurrent moves on PostgreSQL
too. The write sets the moved row's place alone; its subtasks follow it to
another list.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import BigInteger, String, bindparam, case, or_, select, update

from todo_api.kit.database import Statements
from todo_api.kit.positions import (
    AfterId,
    Neighbours,
    neighbour_keys,
    position_parameters,
    position_value,
    takes_next_key,
)
from todo_api.tasks.models import TASKS, TaskColumns
from todo_api.tasks.repository.statements import TASK_ID, USER_ID, sibling_group, sibling_values
from todo_api.tasks.repository.writes import Place

# An UPDATE's own parameters may not share a column's name (SQLAlchemy keeps those
# for its SET): the owner is ``owner_id`` there, the new place ``new_...``.
_OWNER_ID = bindparam("owner_id", type_=String())
_NEW_LIST_ID = bindparam("new_list_id", type_=BigInteger())


class Parent(NamedTuple):
    """The task a subtask would go under: its list, and its own parent (``None``: top level)."""

    list_id: int
    parent_id: int | None


_PARENT_ID = bindparam("parent_id", type_=BigInteger())
_PARENT = select(TASKS.c.list_id, TASKS.c.parent_id).where(
    TASKS.c.id == _PARENT_ID, TASKS.c.user_id == USER_ID
)
_LOCK_PARENT = _PARENT.with_for_update(of=TASKS, read=True)
_PLACE = select(TASKS.c.list_id, TASKS.c.parent_id, TASKS.c.position).where(
    TASKS.c.id == TASK_ID, TASKS.c.user_id == USER_ID
)
_FIRST_SUBTASK = (
    select(TASKS.c.id).where(TASKS.c.parent_id == TASK_ID, TASKS.c.user_id == USER_ID).limit(1)
)


async def find_parent(
    db: Statements, user_id: str, parent_id: int, *, lock: bool = False
) -> Parent | None:
    """``user_id``'s task ``parent_id``; ``lock``: its row share-locked until the unit of
    work ends (it cannot move or go meanwhile; others may share it)."""
    statement = _LOCK_PARENT if lock else _PARENT
    rows = await db.fetch(statement, {"parent_id": parent_id, "user_id": user_id})
    return Parent(rows[0]["list_id"], rows[0]["parent_id"]) if rows else None


async def find_place(db: Statements, user_id: str, task_id: int) -> Place | None:
    """Where ``user_id``'s task ``task_id`` is, read without a lock (a move's plan)."""
    rows = await db.fetch(_PLACE, {"task_id": task_id, "user_id": user_id})
    return Place(rows[0]["list_id"], rows[0]["parent_id"], rows[0]["position"]) if rows else None


async def has_subtasks(db: Statements, user_id: str, task_id: int) -> bool:
    """Whether ``user_id``'s task ``task_id`` has a subtask."""
    return bool(await db.fetch(_FIRST_SUBTASK, {"task_id": task_id, "user_id": user_id}))


async def sibling_neighbours(
    db: Statements,
    user_id: str,
    task_id: int | None,
    list_id: int,
    parent_id: int | None,
    after_id: AfterId,
) -> Neighbours:
    """The keys around the place ``after_id`` names among the tasks of ``user_id`` in
    list ``list_id`` under ``parent_id`` (``None``: top level), ``task_id`` left out."""
    return await neighbour_keys(
        db,
        TASKS,
        sibling_group(parent_id is not None),
        sibling_values(user_id, list_id, parent_id),
        task_id,
        after_id,
    )


@lru_cache(maxsize=4)
def _place_statement(carry: bool, next_key: bool) -> Any:
    """``place_task``'s statement, built once per shape."""
    moved = TASKS.c.id == TASK_ID
    return (
        update(TASKS)
        .where(
            TASKS.c.user_id == _OWNER_ID,
            or_(moved, TASKS.c.parent_id == TASK_ID) if carry else moved,
        )
        .values(
            list_id=_NEW_LIST_ID,
            parent_id=case(
                (moved, bindparam("new_parent_id", type_=BigInteger())),
                else_=TASKS.c.parent_id,
            ),
            position=case((moved, position_value(next_key)), else_=TASKS.c.position),
            version=TASKS.c.version + 1,
            updated_at=bindparam("now"),
        )
        .returning(*TASKS.c)
    )


class NewPlace(NamedTuple):
    """Where a move puts a task: list, parent (``None``: top level), the keys around it."""

    list_id: int
    parent_id: int | None
    neighbours: Neighbours


async def place_task(
    db: Statements, user_id: str, task_id: int, place: NewPlace, carry: bool, now: Any
) -> TaskColumns:
    """Put ``user_id``'s task ``task_id`` at ``place`` as its next version, in one
    statement: its row alone, and with ``carry`` its subtasks' (they follow it to
    ``place.list_id``, their own order kept, each as its next version).

    Returns:
        The moved task's columns as written.
    """
    statement = _place_statement(carry, takes_next_key(db.dialect, place.neighbours))
    parameters = {
        "task_id": task_id,
        "owner_id": user_id,
        "new_list_id": place.list_id,
        "new_parent_id": place.parent_id,
        "now": now,
        **position_parameters(db.dialect, place.neighbours),
    }
    rows = await db.fetch(statement, parameters)
    (row,) = [row for row in rows if row["id"] == task_id]
    return cast(TaskColumns, {column.key: row[column.key] for column in TASKS.c})
