"""The task rules of api.md ("Tasks"): what each route reads and writes.

A read is one statement outside any transaction (``Database.reading``). A
write is one unit of work (``Database.unit_of_work``), committed before the
route returns, so a client that got 200/201 holds a durable write; it locks
the row first and checks the ``If-Match`` precondition under the lock, so of
N concurrent writers with one ETag exactly one wins.
"""

from __future__ import annotations

from typing import Any

from todo_api.kit.columns import utcnow
from todo_api.kit.conditional import Precondition
from todo_api.kit.database import Database, Statements
from todo_api.kit.errors import NotFound
from todo_api.tasks import repository
from todo_api.tasks.models import TaskColumns, TaskFields
from todo_api.tasks.repository import LockedTask, StoredTask, task_fields
from todo_api.tasks.schemas import TaskCreate, TaskQuery, TaskUpdate


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
        found = await repository.task_by_id(db, user_id, task_id)
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


async def replace_task(
    database: Database, user_id: str, task_id: int, data: TaskCreate, precondition: Precondition
) -> StoredTask:
    """PUT: every writable field takes the body's value or its default.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    async with database.unit_of_work() as db:
        task = await _lock_for_write(db, user_id, task_id, precondition)
        _set_completed(task.columns, data.completed)
        task.columns["title"] = data.title
        task.columns["description"] = data.description
        task.columns["priority"] = data.priority
        task.columns["due_date"] = data.due_date
        task.tags = data.tags
        await repository.replace_tags(db, user_id, task_id, data.tags)
        return await _write_new_version(db, task)


async def update_task(
    database: Database, user_id: str, task_id: int, data: TaskUpdate, precondition: Precondition
) -> StoredTask:
    """PATCH: only the fields the client sent change.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    async with database.unit_of_work() as db:
        task = await _lock_for_write(db, user_id, task_id, precondition)
        sent = data.model_fields_set
        if "title" in sent and data.title is not None:
            task.columns["title"] = data.title
        if "description" in sent:
            task.columns["description"] = data.description
        if "priority" in sent and data.priority is not None:
            task.columns["priority"] = data.priority
        if "due_date" in sent:
            task.columns["due_date"] = data.due_date
        if "completed" in sent and data.completed is not None:
            _set_completed(task.columns, data.completed)
        if "tags" in sent and data.tags is not None:
            task.tags = data.tags
            await repository.replace_tags(db, user_id, task_id, data.tags)
        return await _write_new_version(db, task)


async def complete_task(
    database: Database,
    user_id: str,
    task_id: int,
    completed: bool | None,
    precondition: Precondition,
) -> StoredTask:
    """Toggle ``completed``, or set it when ``completed`` is given (idempotent).

    The row lock makes concurrent toggles serialise, so none is lost.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    async with database.unit_of_work() as db:
        task = await _lock_for_write(db, user_id, task_id, precondition)
        _set_completed(
            task.columns, (not task.columns["completed"]) if completed is None else completed
        )
        return await _write_new_version(db, task)


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


def _set_completed(columns: TaskColumns, completed: bool) -> None:
    """Set ``completed``; ``completed_at`` moves only when the value changes (api.md)."""
    if completed and not columns["completed"]:
        columns["completed_at"] = utcnow()
    elif not completed:
        columns["completed_at"] = None
    columns["completed"] = completed


async def _write_new_version(db: Statements, task: LockedTask) -> StoredTask:
    """Write the task's columns as its next version, updated now."""
    task.columns["version"] += 1
    task.columns["updated_at"] = utcnow()
    await repository.update_task(db, task.columns)
    return StoredTask(task_fields(task.columns, task.tags), task.columns["version"])
