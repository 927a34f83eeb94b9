"""Where a task is: the reads and writes of a move (the API contract, "Subtasks and
manual order").

A move runs in a unit of work that has locked the moved task's row
(``writes.lock_task``). The parent it goes under is read ``FOR SHARE``, so
it cannot become a subtask before the move commits; a task that is made a
subtask of the moved one meanwhile has had to lock the moved row the same
way, so the one-level rule holds under concurrent moves on PostgreSQL too.
The write sets the moved row's place alone; its subtasks follow it to
another list.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import BigInteger, String, bindparam, select, update

from todo_api.kit.database import Statements
from todo_api.kit.positions import AfterId, Neighbours, neighbour_keys, position_between
from todo_api.tasks.models import TASKS
from todo_api.tasks.repository.statements import TASK_ID, USER_ID, sibling_group

# An UPDATE's own parameters may not share a column's name (SQLAlchemy keeps those
# for its SET): the owner is ``owner_id`` there, the new place ``new_...``.
_OWNER_ID = bindparam("owner_id", type_=String())
_NEW_LIST_ID = bindparam("new_list_id", type_=BigInteger())


class Parent(NamedTuple):
    """The task a subtask would go under: its list, and its own parent (``None``: top level)."""

    list_id: int
    parent_id: int | None


_PARENT_ID = bindparam("parent_id", type_=BigInteger())
_PARENT = (
    select(TASKS.c.list_id, TASKS.c.parent_id)
    .where(TASKS.c.id == _PARENT_ID, TASKS.c.user_id == USER_ID)
    .with_for_update(of=TASKS, read=True)
)
_FIRST_SUBTASK = (
    select(TASKS.c.id).where(TASKS.c.parent_id == TASK_ID, TASKS.c.user_id == USER_ID).limit(1)
)


async def find_parent(db: Statements, user_id: str, parent_id: int) -> Parent | None:
    """``user_id``'s task ``parent_id``, its row share-locked until the unit of work ends."""
    rows = await db.fetch(_PARENT, {"parent_id": parent_id, "user_id": user_id})
    return Parent(rows[0]["list_id"], rows[0]["parent_id"]) if rows else None


async def has_subtasks(db: Statements, user_id: str, task_id: int) -> bool:
    """Whether ``user_id``'s task ``task_id`` has a subtask."""
    return bool(await db.fetch(_FIRST_SUBTASK, {"task_id": task_id, "user_id": user_id}))


def _group_values(user_id: str, list_id: int, parent_id: int | None) -> dict[str, Any]:
    return {"user_id": user_id, "group_list_id": list_id, "group_parent_id": parent_id}


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
        _group_values(user_id, list_id, parent_id),
        task_id,
        after_id,
    )


async def place_task(
    db: Statements,
    user_id: str,
    task_id: int,
    list_id: int,
    parent_id: int | None,
    neighbours: Neighbours,
    now: Any,
) -> None:
    """Put ``user_id``'s task ``task_id`` in list ``list_id`` under ``parent_id``,
    between ``neighbours``, as its next version: this row alone is written."""
    statement = (
        update(TASKS)
        .where(TASKS.c.id == TASK_ID, TASKS.c.user_id == _OWNER_ID)
        .values(
            list_id=_NEW_LIST_ID,
            parent_id=bindparam("new_parent_id", type_=BigInteger()),
            position=position_between(db.dialect, neighbours),
            version=TASKS.c.version + 1,
            updated_at=bindparam("now"),
        )
    )
    parameters = {
        "task_id": task_id,
        "owner_id": user_id,
        "new_list_id": list_id,
        "new_parent_id": parent_id,
        "now": now,
    }
    await db.execute(statement, parameters)


_CARRY_SUBTASKS = (
    update(TASKS)
    .where(TASKS.c.parent_id == TASK_ID, TASKS.c.user_id == _OWNER_ID)
    .values(
        list_id=_NEW_LIST_ID,
        version=TASKS.c.version + 1,
        updated_at=bindparam("now"),
    )
)


async def carry_subtasks(
    db: Statements, user_id: str, task_id: int, list_id: int, now: Any
) -> None:
    """Move the subtasks of ``user_id``'s task ``task_id`` into list ``list_id``, each as
    its next version; their positions among themselves are kept."""
    await db.execute(
        _CARRY_SUBTASKS,
        {"task_id": task_id, "owner_id": user_id, "new_list_id": list_id, "now": now},
    )
