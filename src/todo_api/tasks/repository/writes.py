"""Task writes: one statement each on PostgreSQL, a short transaction on SQLite.

On PostgreSQL every write is a single statement (data-modifying CTEs), run
outside any explicit transaction (``Database.atomic_write``): PostgreSQL runs
one statement atomically and commits it before it returns, so a write costs
one round trip (docs/design.md, "One statement per write"). The statement
locks the task's row, checks the expected version (``If-Match``), applies
the change only if it changes something, replaces the tags, and returns the
row as it was and as it is, so that a 404, a 412 and a write that changes
nothing are told apart without a second round trip.

SQLite has no data-modifying CTEs; there the same ``UPDATE`` runs after a
read, with the tags replaced by separate statements, in one transaction
(SQLite serialises writers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple, cast

from sqlalchemy import (
    Boolean,
    SmallInteger,
    String,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect

from todo_api.kit.compiled import Row
from todo_api.kit.database import Statements
from todo_api.kit.engine import dialect_insert
from todo_api.kit.positions import LAST, key_between, neighbour_keys
from todo_api.tasks.models import TAGS, TASK_TAGS, TASKS, TaskColumns
from todo_api.tasks.repository.reads import _GET_TASK, StoredTask, task_fields
from todo_api.tasks.repository.statements import (
    TASK_ID,
    USER_ID,
    Shape,
    assignments,
    changes_something,
    create_statement,
    delete_statement,
    sibling_group,
    sibling_values,
    target_statement,
    write_statement,
)

EDITABLE = ("description", "due_date", "priority", "title")
"""The fields a client writes as they are; ``completed`` and ``tags`` have rules of their own."""


class Toggle(Enum):
    """``completed`` flipped, whatever it is."""

    TOGGLE = "toggle"


TOGGLE: Final = Toggle.TOGGLE


@dataclass(frozen=True, slots=True)
class TaskChange:
    """What a write asks for: ``fields`` (of ``EDITABLE``) to set, ``completed`` set
    (a bool), flipped (``TOGGLE``) or kept (``None``), ``tags`` replaced or kept
    (``None``)."""

    fields: Mapping[str, Any]
    completed: bool | Toggle | None = None
    tags: list[str] | None = None


@dataclass(slots=True)
class LockedTask:
    """A task read under its row lock: its columns and its tag names, in order."""

    columns: TaskColumns
    tags: list[str]


class Written(NamedTuple):
    """A write's outcome: the task as stored afterwards, and whether the expected
    version refused it (then nothing was written)."""

    task: StoredTask
    refused: bool


def _shape_of(change: TaskChange, versions: list[int] | None) -> Shape:
    completed: Literal["keep", "set", "toggle"] = (
        "keep" if change.completed is None else "toggle" if change.completed is TOGGLE else "set"
    )
    return Shape(
        tuple(sorted(change.fields)), completed, change.tags is not None, versions is not None
    )


def _parameters(
    user_id: str, task_id: int, change: TaskChange, versions: list[int] | None, now: Any
) -> dict[str, Any]:
    parameters: dict[str, Any] = {f"new_{name}": value for name, value in change.fields.items()}
    parameters.update(user_id=user_id, task_id=task_id, versions=versions, now=now)
    if isinstance(change.completed, bool):
        parameters["new_completed"] = change.completed
    if change.tags is not None:
        parameters["tags"] = change.tags
        parameters["sorted_tags"] = sorted(change.tags)
    return parameters


# --- SQLite: the same UPDATE, in a transaction -------------------------------------


_LOCK_TASK = _GET_TASK.with_for_update(of=TASKS)
_INSERT_TASK = insert(TASKS).returning(TASKS.c.id)
_DELETE_TASK = delete(TASKS).where(TASKS.c.id == TASK_ID, TASKS.c.user_id == USER_ID)
"""Its tag links go with it (``ON DELETE CASCADE``)."""
_UNLINK_TAGS = delete(TASK_TAGS).where(
    TASK_TAGS.c.task_id == TASK_ID,
    TASK_TAGS.c.task_id.in_(
        select(TASKS.c.id).where(TASKS.c.id == TASK_ID, TASKS.c.user_id == USER_ID)
    ),
)
_LINK_TAG = insert(TASK_TAGS).from_select(
    ["task_id", "tag_id", "position"],
    select(TASKS.c.id, TAGS.c.id, bindparam("position", type_=SmallInteger()))
    .select_from(TASKS.join(TAGS, TAGS.c.user_id == TASKS.c.user_id))
    .where(TASKS.c.id == TASK_ID, TASKS.c.user_id == USER_ID, TAGS.c.name == bindparam("name")),
)
"""Link the user's task to the user's tag named ``name`` (nothing if either is another
user's): run once per tag."""


@lru_cache(maxsize=256)
def _update_statement(shape: Shape) -> Any:
    tags_changed = bindparam("tags_changed", type_=Boolean())
    return (
        update(TASKS)
        .where(
            TASKS.c.id == TASK_ID,
            TASKS.c.user_id == bindparam("owner_id", type_=String()),  # user_id names the column
            changes_something(shape, tags_changed),
        )
        .values(assignments(shape))
        .returning(*TASKS.c)
    )


@lru_cache(maxsize=4)
def _insert_missing_tags(dialect: Dialect) -> Any:
    """``INSERT INTO tags ... ON CONFLICT (user_id, name) DO NOTHING``, run with one
    parameter set per tag."""
    return dialect_insert(dialect)(TAGS).on_conflict_do_nothing(index_elements=["user_id", "name"])


async def lock_task(db: Statements, user_id: str, task_id: int) -> LockedTask | None:
    """``user_id``'s task ``task_id`` and its tags, its row locked until the unit of
    work ends; ``None`` if there is no such task."""
    rows = await db.fetch(_LOCK_TASK, {"task_id": task_id, "user_id": user_id})
    if not rows:
        return None
    columns = cast(TaskColumns, {column.key: rows[0][column.key] for column in TASKS.c})
    return LockedTask(columns, [row["tag"] for row in rows if row["tag"] is not None])


async def store_tags(db: Statements, user_id: str, names: list[str]) -> None:
    """Insert those of ``user_id``'s tags ``names`` that do not exist yet, in sorted order
    (so that two writers of the same new tags wait for each other, not deadlock)."""
    if names:
        await db.execute_many(
            _insert_missing_tags(db.dialect),
            [{"user_id": user_id, "name": name} for name in sorted(names)],
        )


async def link_tags(db: Statements, user_id: str, task_id: int, names: list[str]) -> None:
    """Link the task to ``user_id``'s stored tags ``names``; a tag's position is its index."""
    if names:
        await db.execute_many(
            _LINK_TAG,
            [
                {"task_id": task_id, "user_id": user_id, "name": name, "position": position}
                for position, name in enumerate(names)
            ],
        )


async def replace_tags(db: Statements, user_id: str, task_id: int, names: list[str]) -> None:
    """Make the task's tags exactly ``names`` (already normalised), in that order."""
    await db.execute(_UNLINK_TAGS, {"task_id": task_id, "user_id": user_id})
    await store_tags(db, user_id, names)
    await link_tags(db, user_id, task_id, names)


# --- the writes ---------------------------------------------------------------------


def _stored(row: Row, prefix: str, tags: list[str]) -> StoredTask:
    columns = {column.key: row[prefix + column.key] for column in TASKS.c}
    return StoredTask(task_fields(columns, list(tags)), columns["version"])


class Place(NamedTuple):
    """Where a task is: its list, its parent (``None``: top level), its position."""

    list_id: int
    parent_id: int | None
    position: str


async def create_task(
    db: Statements,
    columns: Mapping[str, Any],
    tags: list[str],
    list_id: int | None,
    parent_id: int | None,
) -> tuple[int, Place] | None:
    """Store a new task for ``columns["user_id"]`` (every column but ``id`` and the place)
    with its ``tags`` (normalised, in order), last among its siblings: under
    ``parent_id`` if given (a top-level task of the user, in list ``list_id`` if
    given), else in list ``list_id``, else in the user's inbox.

    Returns:
        The new task's id and place; ``None`` if there is no such parent or list
        (then nothing is stored).
    """
    user_id = columns["user_id"]
    place = {"user_id": user_id, "list_id": list_id, "parent_id": parent_id}
    list_given, parent_given = list_id is not None, parent_id is not None
    if db.dialect.name == "postgresql":
        parameters = {f"new_{name}": value for name, value in columns.items()}
        parameters.update(place, tags=tags, sorted_tags=sorted(tags))
        rows = await db.fetch(create_statement(bool(tags), list_given, parent_given), parameters)
        if not rows:
            return None
        row = rows[0]
        return row["id"], Place(row["list_id"], row["parent_id"], row["position"])
    targets = await db.fetch(target_statement(list_given, parent_given), place)
    if not targets:
        return None
    target_list, target_parent = targets[0]["list_id"], targets[0]["parent_id"]
    siblings = sibling_values(user_id, target_list, target_parent)
    last = await neighbour_keys(db, TASKS, sibling_group(parent_given), siblings, None, LAST)
    target = Place(target_list, target_parent, key_between(last.before, None))
    await store_tags(db, user_id, tags)  # before the task: docs/design.md
    task_id = (await db.fetch(_INSERT_TASK, {**columns, **target._asdict()}))[0]["id"]
    await link_tags(db, user_id, task_id, tags)
    return task_id, target


async def write_task(
    db: Statements,
    user_id: str,
    task_id: int,
    change: TaskChange,
    versions: list[int] | None,
    now: Any,
) -> Written | None:
    """Apply ``change`` to ``user_id``'s task ``task_id`` as its next version, updated
    ``now``, if its version is one of ``versions`` (``None``: any) and the change
    changes something.

    Returns:
        The outcome, ``None`` if there is no such task.
    """
    shape = _shape_of(change, versions)
    parameters = _parameters(user_id, task_id, change, versions, now)
    if db.dialect.name == "postgresql":
        rows = await db.fetch(write_statement(shape), parameters)
        if not rows:
            return None
        row = rows[0]
        if row["new_id"] is None:
            refused = versions is not None and row["old_version"] not in versions
            return Written(_stored(row, "old_", row["old_tags"]), refused)
        tags = change.tags if change.tags is not None else row["old_tags"]
        return Written(_stored(row, "new_", tags), refused=False)
    return await write_in_transaction(db, user_id, task_id, change, versions, now)


async def write_in_transaction(
    db: Statements,
    user_id: str,
    task_id: int,
    change: TaskChange,
    versions: list[int] | None,
    now: Any,
) -> Written | None:
    """``write_task`` as several statements, for a unit of work (SQLite's every write;
    on PostgreSQL a write that also moves the task): the row is locked, then written."""
    shape = _shape_of(change, versions)
    parameters = _parameters(user_id, task_id, change, versions, now)
    locked = await lock_task(db, user_id, task_id)
    if locked is None:
        return None
    before = StoredTask(task_fields(locked.columns, locked.tags), locked.columns["version"])
    if versions is not None and locked.columns["version"] not in versions:
        return Written(before, refused=True)
    tags_changed = change.tags is not None and change.tags != locked.tags
    parameters.update(owner_id=user_id, tags_changed=tags_changed)
    rows = await db.fetch(_update_statement(shape), parameters)
    if not rows:
        return Written(before, refused=False)
    if tags_changed and change.tags is not None:  # the second test narrows the type
        await replace_tags(db, user_id, task_id, change.tags)
    tags = change.tags if change.tags is not None else locked.tags
    return Written(_stored(rows[0], "", tags), refused=False)


async def delete_task(
    db: Statements, user_id: str, task_id: int, versions: list[int] | None
) -> bool | None:
    """Delete ``user_id``'s task ``task_id`` (its subtasks and tag links cascade) if its
    version is one of ``versions`` (``None``: any).

    Returns:
        ``True`` if deleted, ``False`` if the version refused it, ``None`` if there is
        no such task.
    """
    if db.dialect.name == "postgresql":
        parameters = {"task_id": task_id, "user_id": user_id, "versions": versions}
        rows = await db.fetch(delete_statement(versions is not None), parameters)
        return None if not rows else rows[0]["deleted"] is not None
    locked = await lock_task(db, user_id, task_id)
    if locked is None:
        return None
    if versions is not None and locked.columns["version"] not in versions:
        return False
    await db.execute(_DELETE_TASK, {"task_id": task_id, "user_id": user_id})
    return True
