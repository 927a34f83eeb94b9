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
from todo_api.kit.database import Database, Statements
from todo_api.kit.database_errors import OwnerMissing, violated_constraint
from todo_api.kit.errors import NotFound, PreconditionFailed, ValidationFailed
from todo_api.lists import repository as lists_repository
from todo_api.lists.service import LIST_NOT_FOUND
from todo_api.tasks import repository
from todo_api.tasks.repository import (
    TOGGLE,
    StoredTask,
    TaskChange,
    places,
    task_fields,
)
from todo_api.tasks.schemas import TaskCreate, TaskUpdate
from todo_api.tasks.service.moves import (
    KEEP,
    NOT_A_PARENT,
    Destination,
    in_turn,
    relocate,
)

LIST_FOREIGN_KEY = "fk_tasks_list_id_lists"


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
    """Store a new task for ``user_id``, last among its siblings; ``completed: true`` sets
    ``completed_at`` now.

    Raises:
        ValidationFailed: ``list_id`` is not one of the user's lists, or
            ``parent_id`` not a top-level task of theirs in that list (422).
    """
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
    try:
        async with database.atomic_write() as db:
            created = await repository.create_task(
                db, columns, data.tags, data.list_id, data.parent_id
            )
    except Exception as exc:
        if violated_constraint(exc) == LIST_FOREIGN_KEY:  # the list was deleted meanwhile
            raise ValidationFailed.of_field("list_id", LIST_NOT_FOUND) from None
        raise
    if created is None:
        async with database.reading() as db:
            raise await _misplaced(db, user_id, data.list_id, data.parent_id)
    columns["id"], place = created
    columns.update(place._asdict())
    return StoredTask(task_fields(columns, data.tags), 1)


async def _misplaced(
    db: Statements, user_id: str, list_id: int | None, parent_id: int | None
) -> ValidationFailed:
    """The 422 of a place that does not exist: the list, else the parent.

    Raises:
        OwnerMissing: the place was the inbox: only a user who is gone has none.
    """
    if list_id is None and parent_id is None:
        raise OwnerMissing()
    if list_id is not None and not await lists_repository.list_exists(db, user_id, list_id):
        return ValidationFailed.of_field("list_id", LIST_NOT_FOUND)
    return ValidationFailed.of_field("parent_id", NOT_A_PARENT)


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
    sent = data.model_fields_set
    if "list_id" in sent or "parent_id" in sent:
        parent_id = data.parent_id if "parent_id" in sent else KEEP
        destination = Destination(data.list_id, parent_id)
        if not await _stays(database, user_id, task_id, destination):
            return await _write_and_move(
                database, user_id, task_id, change, destination, precondition
            )
    return await _write(database, user_id, task_id, change, precondition)


async def _stays(database: Database, user_id: str, task_id: int, place: Destination) -> bool:
    """Whether ``place`` names where the task already is (a client sending back the task
    it read): then its write is the one statement of any other, not a move."""
    async with database.reading() as db:
        seen = await places.find_place(db, user_id, task_id)
    return seen is not None and (
        (place.list_id is None or place.list_id == seen.list_id)
        and (place.parent_id is KEEP or place.parent_id == seen.parent_id)
    )


async def _write_and_move(
    database: Database,
    user_id: str,
    task_id: int,
    change: TaskChange,
    destination: Destination,
    precondition: Precondition,
) -> StoredTask:
    """A PUT or PATCH that names a list or parent: the task goes last there (if that is
    a new place) and takes ``change``, in one unit of work.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
        ValidationFailed: the place breaks a rule (422).
    """

    async def work(db: Statements) -> StoredTask:
        await relocate(db, user_id, task_id, destination, precondition, reorder=False)
        written = await repository.write_in_transaction(
            db, user_id, task_id, change, None, utcnow()
        )
        assert written is not None  # locked in this unit of work
        return written.task

    return await in_turn(database, work)


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
    """Delete the task, its subtasks and their tag links (``ON DELETE CASCADE``).

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
