"""The statements of task writes: the ``SET`` and the change test that both databases
share, and PostgreSQL's single statements (data-modifying CTEs).

Why one statement: docs/design.md, "One statement per write".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, NamedTuple

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
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from todo_api.kit.columns import UTCDateTime
from todo_api.lists.models import LISTS
from todo_api.tasks.models import TAGS, TASK_TAGS, TASKS


class Shape(NamedTuple):
    """What decides a write statement's SQL; the values are bound at execution."""

    fields: tuple[str, ...]
    completed: Literal["keep", "set", "toggle"]
    tags: bool
    conditional: bool


_TAGS = bindparam("tags", type_=ARRAY(String()))
_NOW = bindparam("now", type_=UTCDateTime())


def assignments(shape: Shape) -> dict[str, ColumnElement[Any]]:
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


def changes_something(shape: Shape, tags_changed: ColumnElement[bool]) -> ColumnElement[bool]:
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


USER_ID = bindparam("user_id", type_=String())
TASK_ID = bindparam("task_id", type_=BigInteger())


def stored_tags(task_id: ColumnElement[int]) -> Any:
    """PostgreSQL: the tag names of the task whose id is ``task_id`` (a column of the
    enclosing statement), in their order, as an array (empty if none): a correlated
    scalar subquery, one index lookup per row."""
    return (
        select(
            func.coalesce(
                func.array_agg(aggregate_order_by(TAGS.c.name, TASK_TAGS.c.position)),
                sql_cast(literal("{}"), ARRAY(String())),
            )
        )
        .select_from(TASK_TAGS.join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id))
        .where(TASK_TAGS.c.task_id == task_id)
        .scalar_subquery()
    )


def _locked_row() -> Any:
    return (
        select(*TASKS.c, stored_tags(TASKS.c.id).label("tags"))
        .where(TASKS.c.id == TASK_ID, TASKS.c.user_id == USER_ID)
        .with_for_update(of=TASKS)
        .cte("old")
    )


@lru_cache(maxsize=256)
def write_statement(shape: Shape) -> Any:
    """``old`` (the row, locked, with its tags) and ``new`` (the row as written, if
    written) columns, one row, or none if there is no such task."""
    old = _locked_row()
    conditions = [
        TASKS.c.id == old.c.id,
        changes_something(shape, old.c.tags.is_distinct_from(_TAGS)),
    ]
    if shape.conditional:
        conditions.append(_version_expected(old.c.version))
    new = update(TASKS).where(*conditions).values(assignments(shape)).returning(*TASKS.c).cte("new")
    statement = select(
        *[column.label(f"old_{column.key}") for column in old.c],
        *[column.label(f"new_{column.key}") for column in new.c],
    ).select_from(old.outerjoin(new, true()))
    if shape.tags:
        tag_ids = _tag_ids(USER_ID, gate=select(new.c.id))
        unlinked = delete(TASK_TAGS).where(
            TASK_TAGS.c.task_id.in_(select(new.c.id)),
            TASK_TAGS.c.tag_id.not_in(select(tag_ids.c.id)),
        )
        statement = statement.add_cte(unlinked.cte("unlinked"), _link(new, tag_ids))
    return statement


@lru_cache(maxsize=4)
def delete_statement(conditional: bool) -> Any:
    old = _locked_row()
    conditions = [TASKS.c.id == old.c.id]
    if conditional:
        conditions.append(_version_expected(old.c.version))
    deleted = delete(TASKS).where(*conditions).returning(TASKS.c.id).cte("deleted")
    return select(old.c.version, deleted.c.id.label("deleted")).select_from(
        old.outerjoin(deleted, true())
    )


PLACE_COLUMNS = ("list_id", "parent_id", "position")
"""Where a task is: set by ``target_statement`` and the position rules, never by a field."""


@lru_cache(maxsize=2)
def sibling_group(parent: bool) -> tuple[ColumnElement[bool], ...]:
    """The conditions of the user's tasks in list ``:group_list_id`` under parent
    ``:group_parent_id`` (``parent``) or at the top level (not ``parent``): the siblings
    among which ``position`` orders a task."""
    level = (
        TASKS.c.parent_id == bindparam("group_parent_id", type_=BigInteger())
        if parent
        else TASKS.c.parent_id.is_(None)
    )
    return (TASKS.c.user_id == USER_ID, TASKS.c.list_id == bindparam("group_list_id"), level)


def sibling_values(user_id: str, list_id: int, parent_id: int | None) -> dict[str, Any]:
    """The values of ``sibling_group``'s parameters for the tasks of list ``list_id``
    under ``parent_id`` (``None``: the top level)."""
    return {"user_id": user_id, "group_list_id": list_id, "group_parent_id": parent_id}


@lru_cache(maxsize=4)
def target_statement(list_given: bool, parent_given: bool) -> Any:
    """Where a new task goes, as one row ``(list_id, parent_id)``, or no row when the
    body names no such place: under ``:parent_id``, a top-level task of the user
    (in list ``:list_id`` if given), locked against becoming a subtask meanwhile
    (``FOR SHARE``); else in the user's list ``:list_id``, or their inbox."""
    if parent_given:
        parent = TASKS.alias("parent")
        conditions = [
            parent.c.id == bindparam("parent_id", type_=BigInteger()),
            parent.c.user_id == USER_ID,
            parent.c.parent_id.is_(None),
        ]
        if list_given:
            conditions.append(parent.c.list_id == bindparam("list_id", type_=BigInteger()))
        return (
            select(parent.c.list_id.label("list_id"), parent.c.id.label("parent_id"))
            .where(*conditions)
            .with_for_update(of=parent, read=True)
        )
    place = (
        LISTS.c.id == bindparam("list_id", type_=BigInteger()) if list_given else LISTS.c.is_inbox
    )
    return select(
        LISTS.c.id.label("list_id"), sql_cast(null(), BigInteger()).label("parent_id")
    ).where(LISTS.c.user_id == USER_ID, place)


def _insert_values() -> dict[str, Any]:
    return {
        column.key: bindparam(f"new_{column.key}", type_=column.type)
        for column in TASKS.c
        if column.key != "id" and column.key not in PLACE_COLUMNS
    }


@lru_cache(maxsize=8)
def create_statement(tagged: bool, list_given: bool, parent_given: bool) -> Any:
    """Insert the task where ``target_statement`` says, its position a new "last" key
    (the column default), and link its tags; returns its id and place, or no row when
    the place does not exist (and then inserts nothing, tags included)."""
    target = target_statement(list_given, parent_given).cte("target")
    values = _insert_values()
    task = (
        insert(TASKS)
        .from_select(
            [*values, "list_id", "parent_id"],
            # Cast: a parameter in a select list has no column to take its type from.
            select(
                *[sql_cast(value, value.type) for value in values.values()],
                target.c.list_id,
                target.c.parent_id,
            ),
        )
        .returning(TASKS.c.id, TASKS.c.list_id, TASKS.c.parent_id, TASKS.c.position)
        .cte("task")
    )
    statement = select(task.c.id, task.c.list_id, task.c.parent_id, task.c.position)
    if tagged:
        statement = statement.add_cte(_link(task, _tag_ids(USER_ID, gate=select(target.c.list_id))))
    return statement
