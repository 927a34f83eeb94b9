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
    BigInteger,
    Boolean,
    ColumnElement,
    SmallInteger,
    String,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import Dialect

from todo_api.kit.columns import UTCDateTime
from todo_api.kit.compiled import Row
from todo_api.kit.database import Statements
from todo_api.kit.engine import dialect_insert
from todo_api.tasks.models import TAGS, TASK_TAGS, TASKS, TaskColumns
from todo_api.tasks.repository.reads import _GET_TASK, LockedTask, StoredTask, task_fields

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


class Written(NamedTuple):
    """A write's outcome: the task as stored afterwards, and whether the expected
    version refused it (then nothing was written)."""

    task: StoredTask
    refused: bool


class _Shape(NamedTuple):
    """What decides a write statement's SQL; the values are bound at execution."""

    fields: tuple[str, ...]
    completed: Literal["keep", "set", "toggle"]
    tags: bool
    conditional: bool


def _shape_of(change: TaskChange, versions: list[int] | None) -> _Shape:
    completed: Literal["keep", "set", "toggle"] = (
        "keep" if change.completed is None else "toggle" if change.completed is TOGGLE else "set"
    )
    return _Shape(
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


_TAGS = bindparam("tags", type_=ARRAY(String()))
_NOW = bindparam("now", type_=UTCDateTime())


def _assignments(shape: _Shape) -> dict[str, ColumnElement[Any]]:
    """The ``SET`` of a write: the fields sent, ``completed`` with its
    ``completed_at`` (set when the task becomes completed, cleared when it is
    reopened, kept otherwise: the API contract, "Tasks"), the next version."""
    column = TASKS.c
    values: dict[str, ColumnElement[Any]] = {
        name: bindparam(f"new_{name}", type_=column[name].type) for name in shape.fields
    }
    if shape.completed == "set":
        completed = bindparam("new_completed", type_=Boolean())
        values["completed"] = completed
        values["completed_at"] = case(
            (completed & not_(column.completed), _NOW),
            (completed, column.completed_at),
            else_=None,
        )
    elif shape.completed == "toggle":
        values["completed"] = not_(column.completed)
        values["completed_at"] = case((not_(column.completed), _NOW), else_=None)
    values["version"] = column.version + 1
    values["updated_at"] = _NOW
    return values


def _changes_something(shape: _Shape, tags_changed: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the write changes a stored value: a write that changes nothing leaves
    ``updated_at``, the version (so the ETag) and the counts as they were (the API
    contract, "Details that clients rely on")."""
    column = TASKS.c
    changes = [
        column[name].is_distinct_from(bindparam(f"new_{name}", type_=column[name].type))
        for name in shape.fields
    ]
    if shape.completed == "set":
        changes.append(column.completed.is_distinct_from(bindparam("new_completed")))
    elif shape.completed == "toggle":
        changes.append(true())
    if shape.tags:
        changes.append(tags_changed)
    return or_(*changes) if changes else false()


def _version_expected(version: ColumnElement[int]) -> ColumnElement[bool]:
    return version == func.any(bindparam("versions", type_=ARRAY(BigInteger())))


# --- PostgreSQL: one statement ------------------------------------------------------


def _unnest(names: Any, alias: str, ordinality: bool = False) -> Any:
    return (
        func.unnest(names)
        .table_valued("name", with_ordinality="ordinality" if ordinality else None)
        .render_derived(name=alias)
    )


def _tag_ids(user_id: Any, gate: Any | None) -> Any:
    """A CTE of the ids and names of the user's tags ``tags``: those that exist, and the
    others inserted (in sorted order, so that two writers of the same new tags wait
    for each other instead of deadlocking). A tag another writer has just inserted is
    returned by ``ON CONFLICT DO UPDATE``, which sees it where this statement's
    snapshot does not. ``gate``: insert only if this select has a row."""
    existing = (
        select(TAGS.c.id, TAGS.c.name)
        .where(TAGS.c.user_id == user_id, TAGS.c.name == func.any(_TAGS))
        .cte("existing")
    )
    new_names = _unnest(bindparam("sorted_tags", type_=ARRAY(String())), "new_names")
    missing = select(user_id, new_names.c.name).where(
        new_names.c.name.not_in(select(existing.c.name))
    )
    if gate is not None:
        missing = missing.where(exists(gate))
    inserting = postgresql_insert(TAGS).from_select(["user_id", "name"], missing)
    created = (
        inserting.on_conflict_do_update(
            index_elements=["user_id", "name"], set_={"name": inserting.excluded.name}
        )
        .returning(TAGS.c.id, TAGS.c.name)
        .cte("created")
    )
    return union_all(
        select(existing.c.id, existing.c.name), select(created.c.id, created.c.name)
    ).cte("tag_ids")


def _link(task_ids: Any, tag_ids: Any) -> Any:
    """A CTE that links each task of ``task_ids`` to ``tag_ids`` at their positions in ``tags``."""
    wanted = _unnest(_TAGS, "wanted", ordinality=True)
    inserting = postgresql_insert(TASK_TAGS).from_select(
        ["task_id", "tag_id", "position"],
        select(task_ids.c.id, tag_ids.c.id, sql_cast(wanted.c.ordinality - 1, SmallInteger()))
        .select_from(task_ids.join(tag_ids, true()))
        .join(wanted, wanted.c.name == tag_ids.c.name),
    )
    return inserting.on_conflict_do_update(
        index_elements=["task_id", "tag_id"], set_={"position": inserting.excluded.position}
    ).cte("linked")


_USER_ID = bindparam("user_id", type_=String())
_TASK_ID = bindparam("task_id", type_=BigInteger())
_STORED_TAGS = (
    select(
        func.coalesce(
            func.array_agg(aggregate_order_by(TAGS.c.name, TASK_TAGS.c.position)),
            sql_cast(literal("{}"), ARRAY(String())),
        )
    )
    .select_from(TASK_TAGS.join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id))
    .where(TASK_TAGS.c.task_id == TASKS.c.id)
    .scalar_subquery()
)


def _locked_row() -> Any:
    return (
        select(*TASKS.c, _STORED_TAGS.label("tags"))
        .where(TASKS.c.id == _TASK_ID, TASKS.c.user_id == _USER_ID)
        .with_for_update(of=TASKS)
        .cte("old")
    )


@lru_cache(maxsize=256)
def _write_statement(shape: _Shape) -> Any:
    """``old`` (the row, locked, with its tags) and ``new`` (the row as written, if
    written) columns, one row, or none if there is no such task."""
    old = _locked_row()
    conditions = [
        TASKS.c.id == old.c.id,
        _changes_something(shape, old.c.tags.is_distinct_from(_TAGS)),
    ]
    if shape.conditional:
        conditions.append(_version_expected(old.c.version))
    new = (
        update(TASKS).where(*conditions).values(_assignments(shape)).returning(*TASKS.c).cte("new")
    )
    statement = select(
        *[column.label(f"old_{column.key}") for column in old.c],
        *[column.label(f"new_{column.key}") for column in new.c],
    ).select_from(old.outerjoin(new, true()))
    if shape.tags:
        tag_ids = _tag_ids(_USER_ID, gate=select(new.c.id))
        unlinked = delete(TASK_TAGS).where(
            TASK_TAGS.c.task_id.in_(select(new.c.id)),
            TASK_TAGS.c.tag_id.not_in(select(tag_ids.c.id)),
        )
        statement = statement.add_cte(unlinked.cte("unlinked"), _link(new, tag_ids))
    return statement


@lru_cache(maxsize=4)
def _delete_statement(conditional: bool) -> Any:
    old = _locked_row()
    conditions = [TASKS.c.id == old.c.id]
    if conditional:
        conditions.append(_version_expected(old.c.version))
    deleted = delete(TASKS).where(*conditions).returning(TASKS.c.id).cte("deleted")
    return select(old.c.version, deleted.c.id.label("deleted")).select_from(
        old.outerjoin(deleted, true())
    )


def _insert_values() -> dict[str, Any]:
    return {
        column.key: bindparam(f"new_{column.key}", type_=column.type)
        for column in TASKS.c
        if column.key != "id"
    }


@lru_cache(maxsize=2)
def _create_statement(tagged: bool) -> Any:
    task = insert(TASKS).values(_insert_values()).returning(TASKS.c.id).cte("task")
    statement = select(task.c.id)
    if tagged:
        statement = statement.add_cte(_link(task, _tag_ids(_USER_ID, gate=None)))
    return statement


# --- SQLite: the same UPDATE, in a transaction -------------------------------------


_LOCK_TASK = _GET_TASK.with_for_update(of=TASKS)
_INSERT_TASK = insert(TASKS).returning(TASKS.c.id)
_DELETE_TASK = delete(TASKS).where(TASKS.c.id == _TASK_ID, TASKS.c.user_id == _USER_ID)
"""Its tag links go with it (``ON DELETE CASCADE``)."""
_UNLINK_TAGS = delete(TASK_TAGS).where(
    TASK_TAGS.c.task_id == _TASK_ID,
    TASK_TAGS.c.task_id.in_(
        select(TASKS.c.id).where(TASKS.c.id == _TASK_ID, TASKS.c.user_id == _USER_ID)
    ),
)
_LINK_TAG = insert(TASK_TAGS).from_select(
    ["task_id", "tag_id", "position"],
    select(TASKS.c.id, TAGS.c.id, bindparam("position", type_=SmallInteger()))
    .select_from(TASKS.join(TAGS, TAGS.c.user_id == TASKS.c.user_id))
    .where(TASKS.c.id == _TASK_ID, TASKS.c.user_id == _USER_ID, TAGS.c.name == bindparam("name")),
)
"""Link the user's task to the user's tag named ``name`` (nothing if either is another
user's): run once per tag."""


@lru_cache(maxsize=256)
def _update_statement(shape: _Shape) -> Any:
    tags_changed = bindparam("tags_changed", type_=Boolean())
    return (
        update(TASKS)
        .where(
            TASKS.c.id == _TASK_ID,
            TASKS.c.user_id == bindparam("owner_id", type_=String()),  # user_id names the column
            _changes_something(shape, tags_changed),
        )
        .values(_assignments(shape))
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


async def create_task(db: Statements, columns: Mapping[str, Any], tags: list[str]) -> int:
    """Store a new task for ``columns["user_id"]`` (every column but ``id``) with its
    ``tags`` (normalised, in order); its new ``id``."""
    if db.dialect.name == "postgresql":
        parameters = {f"new_{name}": value for name, value in columns.items()}
        parameters.update(user_id=columns["user_id"], tags=tags, sorted_tags=sorted(tags))
        task_id: int = (await db.fetch(_create_statement(bool(tags)), parameters))[0]["id"]
        return task_id
    await store_tags(db, columns["user_id"], tags)  # before the task: docs/design.md
    task_id = (await db.fetch(_INSERT_TASK, columns))[0]["id"]
    await link_tags(db, columns["user_id"], task_id, tags)
    return task_id


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
        rows = await db.fetch(_write_statement(shape), parameters)
        if not rows:
            return None
        row = rows[0]
        if row["new_id"] is None:
            refused = versions is not None and row["old_version"] not in versions
            return Written(_stored(row, "old_", row["old_tags"]), refused)
        tags = change.tags if change.tags is not None else row["old_tags"]
        return Written(_stored(row, "new_", tags), refused=False)
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
    if change.tags is not None and tags_changed:
        await replace_tags(db, user_id, task_id, change.tags)
    tags = change.tags if change.tags is not None else locked.tags
    return Written(_stored(rows[0], "", tags), refused=False)


async def delete_task(
    db: Statements, user_id: str, task_id: int, versions: list[int] | None
) -> bool | None:
    """Delete ``user_id``'s task ``task_id`` and its tag links if its version is one of
    ``versions`` (``None``: any).

    Returns:
        ``True`` if deleted, ``False`` if the version refused it, ``None`` if there is
        no such task.
    """
    if db.dialect.name == "postgresql":
        parameters = {"task_id": task_id, "user_id": user_id, "versions": versions}
        rows = await db.fetch(_delete_statement(versions is not None), parameters)
        return None if not rows else rows[0]["deleted"] is not None
    locked = await lock_task(db, user_id, task_id)
    if locked is None:
        return None
    if versions is not None and locked.columns["version"] not in versions:
        return False
    await db.execute(_DELETE_TASK, {"task_id": task_id, "user_id": user_id})
    return True
