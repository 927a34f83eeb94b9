"""The task rules of the API contract ("Tasks"): what each route reads and writes.

A read is one statement outside any transaction (``Database.reading``). A
write is one unit of work (``Database.unit_of_work``), committed before the
route returns, so a client that got 200/201 holds a durable write; it locks
the row first and checks the ``If-Match`` precondition under the lock, so of
N concurrent writers with one ETag exactly one wins.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Final

from todo_api.kit.columns import utcnow
from todo_api.kit.conditional import Precondition
from todo_api.kit.database import Database, Statements
from todo_api.kit.errors import NotFound
from todo_api.tasks import repository
from todo_api.tasks.models import TaskFields
from todo_api.tasks.repository import LockedTask, StoredTask, task_fields
from todo_api.tasks.schemas import TaskCreate, TaskQuery, TaskUpdate

_EDITABLE = {"title", "description", "priority", "due_date"}
"""The fields a client writes as they are; ``completed`` and ``tags`` have rules of their own."""


class Toggle(Enum):
    """``complete_task`` without a body: flip ``completed``."""

    TOGGLE = "toggle"


TOGGLE: Final = Toggle.TOGGLE


async def list_tasks(
    database: Database, user_id: str, query: TaskQuery
) -> tuple[list[TaskFields], int]:
    """One page of ``user_id``'s tasks that match ``query``, and how many match in all."""
    async with database.reading() as db:
        return await repository.list_page(db, user_id, query)


async def get_task(database: Database, user_id: str, task_id: int) -> StoredTask:
    """``user_id``'s task ``task_id``.

    Raises:
        NotFound: no such task for this user (another user's task included; 404).
    """
    async with database.reading() as db:
        found = await repository.find_task(db, user_id, task_id)
    if found is None:
        raise NotFound("Task not found")
    return found


async def create_task(database: Database, user_id: str, data: TaskCreate) -> StoredTask:
    """Store a new task for ``user_id``; ``completed: true`` sets ``completed_at`` now."""
    now = utcnow()
    columns: dict[str, Any] = {
        "user_id": user_id,
        "title": data.title,
        "description": data.description,
        "completed": data.completed,
        "completed_at": now if data.completed else None,
        "priority": data.priority,
        "due_date": data.due_date,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    async with database.unit_of_work() as db:
        await repository.store_tags(db, user_id, data.tags)  # before the task: docs/design.md
        columns["id"] = await repository.insert_task(db, columns)
        await repository.link_tags(db, user_id, columns["id"], data.tags)
    return StoredTask(task_fields(columns, data.tags), 1)


async def write_task(
    database: Database,
    user_id: str,
    task_id: int,
    data: TaskCreate | TaskUpdate,
    precondition: Precondition,
) -> StoredTask:
    """PUT with a ``TaskCreate``: every writable field takes the body's value or its
    default. PATCH with a ``TaskUpdate``: only the fields sent change, and ``null``
    clears ``description`` or ``due_date`` (the API contract, "Tasks").

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    fields = data.model_dump(include=_EDITABLE, exclude_unset=isinstance(data, TaskUpdate))
    completed, tags = data.completed, data.tags  # a PATCH's are None when not sent: unchanged
    return await _rewrite(database, user_id, task_id, precondition, fields, completed, tags)


async def complete_task(
    database: Database,
    user_id: str,
    task_id: int,
    completed: bool | None,
    precondition: Precondition,
) -> StoredTask:
    """Set ``completed``, or toggle it when ``completed`` is ``None``.

    The row lock makes concurrent toggles serialise, so none is lost.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    toggle_or_set = TOGGLE if completed is None else completed
    return await _rewrite(database, user_id, task_id, precondition, {}, toggle_or_set, None)


async def delete_task(
    database: Database, user_id: str, task_id: int, precondition: Precondition
) -> None:
    """Delete the task and its tag links.

    Raises:
        NotFound: no such task for this user (a second DELETE included; 404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    async with database.unit_of_work() as db:
        await _lock_for_write(db, user_id, task_id, precondition)
        await repository.delete_task(db, user_id, task_id)


async def _lock_for_write(
    db: Statements, user_id: str, task_id: int, precondition: Precondition
) -> LockedTask:
    """Lock the task's row for the rest of the unit of work, then check ``precondition``.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``precondition`` does not hold for the locked version.
    """
    task = await repository.lock_task(db, user_id, task_id)
    if task is None:
        raise NotFound("Task not found")
    precondition.check(task_id, task.columns["version"])
    return task


async def _rewrite(
    database: Database,
    user_id: str,
    task_id: int,
    precondition: Precondition,
    fields: dict[str, Any],
    completed: bool | Toggle | None,
    tags: list[str] | None,
) -> StoredTask:
    """Write the task's next version: ``fields`` (of ``_EDITABLE``) set, ``completed``
    set or toggled (``None``: unchanged), its tags replaced (``None``: unchanged).

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``precondition`` does not hold for the locked version.
    """
    async with database.unit_of_work() as db:
        task = await _lock_for_write(db, user_id, task_id, precondition)
        columns = task.columns
        columns.update(fields)  # type: ignore[typeddict-item]
        if completed is not None:
            now_completed = not columns["completed"] if completed is TOGGLE else bool(completed)
            if now_completed and not columns["completed"]:
                columns["completed_at"] = utcnow()  # only when the value changes (API contract)
            elif not now_completed:
                columns["completed_at"] = None
            columns["completed"] = now_completed
        if tags is not None:
            task.tags = tags
            await repository.replace_tags(db, user_id, task_id, tags)
        return await _write_new_version(db, task)


async def _write_new_version(db: Statements, task: LockedTask) -> StoredTask:
    """Write the task's columns as its next version, updated now."""
    task.columns["version"] += 1
    task.columns["updated_at"] = utcnow()
    await repository.update_task(db, task.columns)
    return StoredTask(task_fields(task.columns, task.tags), task.columns["version"])
