"""The task rules of the API contract ("Tasks"): what each route reads and writes.

A read is one statement outside any transaction (``Database.reading``). A
write is one atomic write (``Database.atomic_write``: one statement on
PostgreSQL), committed before the route returns, so a client that got
200/201 holds a durable write. The statement checks the ``If-Match``
precondition against the row it locks, so of N concurrent writers with one
ETag exactly one wins; it applies the ``completed_at`` rule and writes
nothing when nothing changes (``tasks.repository.writes``).
"""

from __future__ import annotations

from typing import Any

from todo_api.kit.columns import utcnow
from todo_api.kit.conditional import Precondition
from todo_api.kit.database import Database
from todo_api.kit.errors import NotFound, PreconditionFailed
from todo_api.tasks import repository
from todo_api.tasks.models import TaskFields
from todo_api.tasks.repository import TOGGLE, StoredTask, TaskChange, task_fields
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
    async with database.atomic_write() as db:
        columns["id"] = await repository.create_task(db, columns, data.tags)
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
    partial = isinstance(data, TaskUpdate)
    fields = data.model_dump(include=set(repository.EDITABLE), exclude_unset=partial)
    # A PATCH's completed and tags are None when not sent: kept.
    change = TaskChange(fields, data.completed, data.tags)
    return await _write(database, user_id, task_id, change, precondition)


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
    change = TaskChange({}, TOGGLE if completed is None else completed)
    return await _write(database, user_id, task_id, change, precondition)


async def delete_task(
    database: Database, user_id: str, task_id: int, precondition: Precondition
) -> None:
    """Delete the task and its tag links.

    Raises:
        NotFound: no such task for this user (a second DELETE included; 404).
        PreconditionFailed: ``precondition`` does not hold (412).
    """
    async with database.atomic_write() as db:
        deleted = await repository.delete_task(db, user_id, task_id, precondition.versions(task_id))
    if deleted is None:
        raise NotFound("Task not found")
    if not deleted:
        raise PreconditionFailed()


async def _write(
    database: Database,
    user_id: str,
    task_id: int,
    change: TaskChange,
    precondition: Precondition,
) -> StoredTask:
    """Write ``change`` as the task's next version, unless it changes nothing.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``precondition`` does not hold for the stored version.
    """
    versions = precondition.versions(task_id)
    async with database.atomic_write() as db:
        written = await repository.write_task(db, user_id, task_id, change, versions, utcnow())
    if written is None:
        raise NotFound("Task not found")
    if written.refused:
        raise PreconditionFailed()
    return written.task
