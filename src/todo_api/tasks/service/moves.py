"""The move rules of the API contract ("Subtasks and manual order"): where a task may
go, and how a move locks and writes (``relocate``), for the move route and for a PUT
or PATCH that names a list or parent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from todo_api.kit.columns import utcnow
from todo_api.kit.conditional import Precondition
from todo_api.kit.database import Database, Statements
from todo_api.kit.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from todo_api.kit.positions import LAST, AfterId
from todo_api.lists import repository as lists_repository
from todo_api.lists.service import LIST_NOT_FOUND
from todo_api.tasks import repository
from todo_api.tasks.models import TaskColumns
from todo_api.tasks.repository import LockedTask, Place, StoredTask, places, task_fields

NOT_A_PARENT = "Must be a top-level task of yours in the same list"
HAS_SUBTASKS = "A task that has subtasks cannot become a subtask"
NOT_A_SIBLING = "Not a task at the destination's level of that list"


class Keep(Enum):
    """``parent_id`` omitted: the task keeps its parent (or its top level)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a move puts a task: list ``list_id`` (``None``: the parent's, else its own),
    under ``parent_id`` (``None``: top level; ``KEEP``: its own), at ``after_id``."""

    list_id: int | None = None
    parent_id: int | Keep | None = KEEP
    after_id: AfterId = LAST


async def move_task(
    database: Database,
    user_id: str,
    task_id: int,
    destination: Destination,
    precondition: Precondition,
) -> StoredTask:
    """Move the task to ``destination`` (the API contract, "Subtasks and manual order"),
    writing its row alone; its subtasks follow it to another list. A move to where
    it already is changes nothing.

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
        ValidationFailed: the destination breaks a rule (422, ``field_errors`` on
            ``list_id``, ``parent_id`` or ``after_id``).
    """

    async def work(db: Statements) -> LockedTask:
        return await relocate(db, user_id, task_id, destination, precondition, reorder=True)

    moved = await in_turn(database, work)
    return StoredTask(task_fields(moved.columns, moved.tags), moved.columns["version"])


class Replan(Exception):
    """The task or its parent moved between a move's unlocked read and its locks: the
    move's transaction is rolled back (its locks with it) and it plans again."""


async def in_turn[Result](
    database: Database, work: Callable[[Statements], Awaitable[Result]]
) -> Result:
    """``work`` (a move, in a unit of work), run again when it asks to plan again.

    Raises:
        Conflict: it still had to plan again after ``MOVE_ATTEMPTS`` runs (409).
    """
    for _ in range(MOVE_ATTEMPTS):
        try:
            return await database.in_transaction(work)
        except Replan:
            continue
    raise Conflict("The task was moved by other requests meanwhile; try again")


async def _locked(
    db: Statements, user_id: str, task_id: int, precondition: Precondition
) -> LockedTask:
    """The task, its row locked until the unit of work ends.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``precondition`` does not hold for it.
    """
    locked = await repository.lock_task(db, user_id, task_id)
    if locked is None:
        raise NotFound("Task not found")
    versions = precondition.versions(task_id)
    if versions is not None and locked.columns["version"] not in versions:
        raise PreconditionFailed()
    return locked


MOVE_ATTEMPTS = 3
"""How many times a move plans again when its task or parent moved between its
unlocked read and its locks, before it answers 409."""


async def relocate(
    db: Statements,
    user_id: str,
    task_id: int,
    destination: Destination,
    precondition: Precondition,
    *,
    reorder: bool,
) -> LockedTask:
    """Lock the task and put it at ``destination``, checking the rules of the contract;
    ``reorder`` false (a PUT or PATCH): only if its list or parent changes, and then last.

    Rows are locked container first: the task's list and the destination list (in id
    order), the parent (``FOR SHARE``), the task, then its subtasks; as a list's delete
    (list, then its tasks) and a task's (task, then its subtasks) do, so that a move
    and a delete wait for each other. Where to lock is planned from an unlocked read;
    if the task or the parent moved in between, ``Replan`` rolls the move back to plan
    again (``in_turn``). A deadlock PostgreSQL still breaks (crossing moves of two
    parents) is run again once (``Database.in_transaction``).

    Raises:
        NotFound: no such task for this user (404).
        PreconditionFailed: ``precondition`` does not hold (412).
        ValidationFailed: as ``move_task`` (422).
        Replan: the task or the parent moved since the unlocked read.

    Returns:
        The task as it now is, still locked.
    """
    seen = await places.find_place(db, user_id, task_id)
    if seen is None:
        raise NotFound("Task not found")
    parent_id = _parent_after_move(seen, destination)
    try:
        list_id = await _destination_list(db, user_id, task_id, seen, parent_id, destination)
        # The source and the destination list, in id order: moves into one list take
        # turns (two never read the same neighbours), and a delete of either waits.
        for container in sorted({seen.list_id, list_id}):
            if not await lists_repository.lock_list(db, user_id, container):
                if container == list_id:
                    raise ValidationFailed.of_field("list_id", LIST_NOT_FOUND)
                raise Replan()  # the source list went: the task went with it
    except ValidationFailed:
        # The parent or list may be gone because the task went with it: then 404.
        if await places.find_place(db, user_id, task_id) is None:
            raise NotFound("Task not found") from None
        raise
    if parent_id is not None:
        parent = await places.find_parent(db, user_id, parent_id, lock=True)
        if parent is None or parent.parent_id is not None or parent.list_id != list_id:
            raise Replan()
    locked = await _locked(db, user_id, task_id, precondition)
    current = locked.columns
    if (current["list_id"], current["parent_id"]) != (seen.list_id, seen.parent_id):
        raise Replan()
    placed = await _place(db, user_id, task_id, current, list_id, parent_id, destination, reorder)
    return LockedTask(placed or current, locked.tags)


def _parent_after_move(seen: Place, destination: Destination) -> int | None:
    """The parent a move puts the task under: the one it names (``None``: top level);
    if it names none, the task's own, unless the task goes to another list, whose top
    level it then joins (its parent stays behind; as Google Tasks does)."""
    if destination.parent_id is not KEEP:
        return destination.parent_id
    if destination.list_id is not None and destination.list_id != seen.list_id:
        return None
    return seen.parent_id


async def _destination_list(
    db: Statements,
    user_id: str,
    task_id: int,
    seen: Place,
    parent_id: int | None,
    destination: Destination,
) -> int:
    """The list a move goes to: the parent's (which must be a top-level task of the user,
    in ``destination.list_id`` if given), else ``destination.list_id``, else the task's.

    Raises:
        ValidationFailed: the parent is not such a task (422 ``parent_id``).
    """
    if parent_id is None:
        return destination.list_id if destination.list_id is not None else seen.list_id
    if parent_id == task_id:
        raise ValidationFailed.of_field("parent_id", "A task cannot be its own subtask")
    parent = await places.find_parent(db, user_id, parent_id)
    if parent is None or parent.parent_id is not None:
        raise ValidationFailed.of_field("parent_id", NOT_A_PARENT)
    if destination.list_id is not None and destination.list_id != parent.list_id:
        raise ValidationFailed.of_field("parent_id", NOT_A_PARENT)
    return parent.list_id


async def _place(
    db: Statements,
    user_id: str,
    task_id: int,
    current: TaskColumns,
    list_id: int,
    parent_id: int | None,
    destination: Destination,
    reorder: bool,
) -> TaskColumns | None:
    """Write the locked task's new place (``relocate``), if it has one: its columns as
    written, ``None`` if it stays where it is.

    Raises:
        ValidationFailed: as ``move_task`` (422).
    """
    if parent_id is not None and await places.has_subtasks(db, user_id, task_id):
        raise ValidationFailed.of_field(
            "parent_id", "A task that has subtasks cannot become a subtask"
        )
    same_siblings = (list_id, parent_id) == (current["list_id"], current["parent_id"])
    if same_siblings and not reorder:
        return None
    if destination.after_id == task_id:
        raise ValidationFailed.of_field("after_id", "A task cannot go after itself")
    neighbours = await places.sibling_neighbours(
        db, user_id, task_id, list_id, parent_id, destination.after_id
    )
    if not neighbours.found:
        raise ValidationFailed.of_field(
            "after_id", "Not a task at the destination's level of that list"
        )
    if same_siblings and neighbours.hold(current["position"]):
        return None  # already there
    carry = list_id != current["list_id"] and parent_id is None
    return await places.place_task(
        db, user_id, task_id, places.NewPlace(list_id, parent_id, neighbours), carry, utcnow()
    )
