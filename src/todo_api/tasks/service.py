"""Task storage: every query filters on ``user_id``, so another user's task is not found.

Core statements on the SQLModel tables, straight into dicts (no ORM session,
no identity map), run by ``todo_api.statements`` (asyncpg on PostgreSQL). A
read is one statement outside any transaction: a page, its tags and
``total`` come in one round trip. A write is one transaction
(``unit_of_work``, the request's unit of work, committed before the route
returns) that locks the row ``FOR UPDATE``, so an ``If-Match``
check and the update that follows are atomic (issue 4: of N concurrent
writers with one ETag, exactly one wins).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    SmallInteger,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from todo_api.db import dialect_insert, utcnow
from todo_api.errors import NotFound, PreconditionFailed
from todo_api.statements import Row, Statements, reading, unit_of_work
from todo_api.tasks.models import (
    MAX_INT64,
    SortOrder,
    Tag,
    Task,
    TaskCount,
    TaskCreate,
    TaskPublic,
    TaskQuery,
    TaskSort,
    TaskStatus,
    TaskTag,
    TaskUpdate,
)

TASKS: Table = Task.__table__  # type: ignore[attr-defined]
TAGS: Table = Tag.__table__  # type: ignore[attr-defined]
TASK_TAGS: Table = TaskTag.__table__  # type: ignore[attr-defined]
COUNTS: Table = TaskCount.__table__  # type: ignore[attr-defined]
"""The SQLModel tables as Core ``Table`` objects: statements on them skip the ORM layer."""

_TASK_COLUMNS = (
    TASKS.c.id,
    TASKS.c.user_id,
    TASKS.c.title,
    TASKS.c.description,
    TASKS.c.completed,
    TASKS.c.completed_at,
    TASKS.c.priority,
    TASKS.c.due_date,
    TASKS.c.created_at,
    TASKS.c.updated_at,
    TASKS.c.version,
)


def etag_of(task_id: int, version: int) -> str:
    """Strong ETag (RFC 9110 §8.8.3): the same on every replica, new on every write."""
    return f'"{task_id}.{version}"'


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as stored: ``fields`` (``TaskPublic``'s, ready to serialise) and its version."""

    fields: dict[str, Any]
    version: int

    @property
    def id(self) -> int:
        task_id: int = self.fields["id"]
        return task_id

    @property
    def etag(self) -> str:
        return etag_of(self.id, self.version)


def etag_matches(header: str | None, etag: str, *, weak: bool) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` header names ``etag``.

    ``*`` matches any current representation. ``If-Match`` uses the strong
    comparison (RFC 9110 §13.1.1), so a ``W/`` tag never matches it;
    ``If-None-Match`` uses the weak one (§13.1.2).
    """
    if header is None:
        return False
    for candidate in (part.strip() for part in header.split(",")):
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            if weak and candidate[2:] == etag:
                return True
        elif candidate == etag:
            return True
    return False


# --- reads ------------------------------------------------------------------
#
# A read is one statement outside any transaction: no ORM session, no
# BEGIN/COMMIT, and one snapshot (a statement is atomic), so a page's
# ``total`` agrees with its rows and a task's ``ETag`` with its tags.
# Statements are built once per shape with bound parameters and kept, so
# each is compiled once and kept (``statements.compiled_statement``).


class _ListShape(NamedTuple):
    """What decides the list statement's SQL; the values are bound at execution."""

    status: TaskStatus
    priority: bool
    tag: bool
    q: bool
    due_before: bool
    due_after: bool
    sort: TaskSort
    order: SortOrder


def _shape_of(filters: TaskQuery) -> _ListShape:
    return _ListShape(
        status=filters.status,
        priority=filters.priority is not None,
        tag=bool(filters.tag),
        q=bool(filters.q),
        due_before=filters.due_before is not None,
        due_after=filters.due_after is not None,
        sort=filters.sort,
        order=filters.order,
    )


def _list_parameters(user_id: str, filters: TaskQuery) -> dict[str, Any]:
    """Values for the bound parameters of ``_list_statements(_shape_of(filters))``."""
    return {
        "user_id": user_id,
        "priority": filters.priority,
        "tag": filters.tag.lower() if filters.tag else None,
        "q": _like_escaped(filters.q) if filters.q else None,
        "due_before": filters.due_before,
        "due_after": filters.due_after,
        "limit": filters.page_size,
        # A huge ``page`` is simply past the end; the database's integers stop at 2**63 - 1.
        "offset": min((filters.page - 1) * filters.page_size, MAX_INT64),
    }


_LIKE_ESCAPE = "/"


def _like_escaped(text: str) -> str:
    """``text`` as a literal inside ``LIKE`` (``%`` and ``_`` match themselves)."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


def _list_conditions(shape: _ListShape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [TASKS.c.user_id == bindparam("user_id")]
    if shape.status is not TaskStatus.all:
        # ``=`` rather than ``IS``: PostgreSQL uses a btree index only for the former.
        conditions.append(TASKS.c.completed == (shape.status is TaskStatus.completed))
    if shape.priority:
        conditions.append(TASKS.c.priority == bindparam("priority"))
    if shape.tag:
        tagged = (
            select(TASK_TAGS.c.task_id)
            .join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id)
            .where(TAGS.c.user_id == bindparam("user_id"), TAGS.c.name == bindparam("tag"))
        )
        conditions.append(TASKS.c.id.in_(tagged))
    if shape.q:
        text = bindparam("q", type_=String())
        conditions.append(
            or_(
                TASKS.c.title.icontains(text, escape=_LIKE_ESCAPE),
                TASKS.c.description.icontains(text, escape=_LIKE_ESCAPE),
            )
        )
    if shape.due_before:
        conditions.append(TASKS.c.due_date <= bindparam("due_before"))
    if shape.due_after:
        conditions.append(TASKS.c.due_date >= bindparam("due_after"))
    return conditions


def _order(columns: Any, shape: _ListShape) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """Sort by the chosen column of ``columns``, ties broken by ``id`` in the same direction.

    Tasks without a ``due_date`` sort last in either order (api.md, "Listing").
    """
    column = columns[shape.sort]
    descending = shape.order == "desc"
    primary = column.desc() if descending else column.asc()
    if shape.sort == "due_date":
        primary = primary.nulls_last()
    tie = columns.id.desc() if descending else columns.id.asc()
    return primary, tie


def _total(shape: _ListShape, conditions: list[ColumnElement[bool]]) -> ColumnElement[int]:
    """The number of the user's tasks that match, as an uncorrelated scalar subquery.

    With no filter but ``status``, it is the sum of the user's ``task_counts``
    rows (at most 8, kept by triggers; migration 0002); otherwise it is a
    ``count(*)`` of the matches.
    """
    if shape.priority or shape.tag or shape.q or shape.due_before or shape.due_after:
        return select(func.count()).select_from(TASKS).where(*conditions).scalar_subquery()
    counted = {
        TaskStatus.all: COUNTS.c.total,
        TaskStatus.completed: COUNTS.c.completed,
        TaskStatus.pending: COUNTS.c.total - COUNTS.c.completed,
    }[shape.status]
    summed = func.coalesce(func.sum(counted), 0).cast(BigInteger)
    return select(summed).where(COUNTS.c.user_id == bindparam("user_id")).scalar_subquery()


@lru_cache(maxsize=1024)
def _list_statements(shape: _ListShape) -> tuple[Select[Any], Select[Any]]:
    """The page statement and the total statement of one list shape.

    The page: the page's tasks (an index scan, ``LIMIT``/``OFFSET``) joined to
    their tags, one row per task and tag, with ``total`` (``_total``, evaluated
    once per statement). The total alone serves a page past the end, which
    has no row to carry it.
    """
    conditions = _list_conditions(shape)
    total = _total(shape, conditions).label("total")
    page = (
        select(*_TASK_COLUMNS)
        .where(*conditions)
        .order_by(*_order(TASKS.c, shape))
        .limit(bindparam("limit", type_=BigInteger()))
        .offset(bindparam("offset", type_=BigInteger()))
        .subquery("page")
    )
    rows = (
        select(page, TAGS.c.name.label("tag"), total)
        .select_from(
            page.outerjoin(TASK_TAGS, TASK_TAGS.c.task_id == page.c.id).outerjoin(
                TAGS, TAGS.c.id == TASK_TAGS.c.tag_id
            )
        )
        .order_by(*_order(page.c, shape), TASK_TAGS.c.position)
    )
    return rows, select(total)


_GET_TASK = (
    select(*_TASK_COLUMNS, TAGS.c.name.label("tag"))
    .select_from(
        TASKS.outerjoin(TASK_TAGS, TASK_TAGS.c.task_id == TASKS.c.id).outerjoin(
            TAGS, TAGS.c.id == TASK_TAGS.c.tag_id
        )
    )
    .where(TASKS.c.id == bindparam("task_id"), TASKS.c.user_id == bindparam("user_id"))
    .order_by(TASK_TAGS.c.position)
)
"""One task and its tags, one row per tag (one row with ``tag`` NULL if none)."""


def _tasks_with_tags(rows: Iterable[Row]) -> list[StoredTask]:
    """Fold rows of (task columns..., ``tag``), one per task and tag, into tasks, in row order."""
    tasks: dict[int, StoredTask] = {}
    for row in rows:
        task = tasks.get(row["id"])
        if task is None:
            task = tasks[row["id"]] = StoredTask(_task_fields(row, []), row["version"])
        if row["tag"] is not None:
            task.fields["tags"].append(row["tag"])
    return list(tasks.values())


async def list_tasks(
    engine: AsyncEngine, user_id: str, filters: TaskQuery
) -> tuple[list[dict[str, Any]], int]:
    """One page of ``user_id``'s tasks and the number of all that match.

    Returns:
        ``(tasks, total)``: each task a dict of ``TaskPublic``'s fields, ready
        to serialise once (no model per row); a page past the end is ``([], total)``.
    """
    shape = _shape_of(filters)
    rows_statement, total_statement = _list_statements(shape)
    parameters = _list_parameters(user_id, filters)
    async with reading(engine) as db:
        rows = await db.fetch(rows_statement, parameters)
        if rows:
            total = int(rows[0]["total"])
        elif filters.page == 1:
            total = 0
        else:
            total = int((await db.fetch(total_statement, parameters))[0]["total"])
    return [task.fields for task in _tasks_with_tags(rows)], total


async def get_task(engine: AsyncEngine, user_id: str, task_id: int) -> StoredTask:
    """``user_id``'s task ``task_id``, in one statement on the read engine.

    Raises:
        NotFound: no such task for this user (another user's task included).
    """
    async with reading(engine) as db:
        found = _tasks_with_tags(
            await db.fetch(_GET_TASK, {"task_id": task_id, "user_id": user_id})
        )
    if not found:
        raise NotFound("Task not found")
    return found[0]


_PUBLIC_FIELDS = tuple(TaskPublic.model_fields)


def _task_fields(columns: Mapping[str, Any], tags: list[str]) -> dict[str, Any]:
    """``TaskPublic``'s fields, in its order, from a task's columns and its tag names."""
    return {name: tags if name == "tags" else columns[name] for name in _PUBLIC_FIELDS}


# --- writes -----------------------------------------------------------------
#
# Each write is one transaction on a connection (``unit_of_work``), the
# request's unit of work: it commits before the route returns, so a client
# that got 200/201 holds a durable write. The row is locked ``FOR UPDATE``
# first, so the ``If-Match`` check and the update that follows are atomic.

_LOCK_TASK = _GET_TASK.with_for_update(of=TASKS)
"""The task and its tags, the task's row locked until the transaction ends. Tag
links change only under that lock, so the tags read here stay true."""
_INSERT_TASK = insert(TASKS).returning(TASKS.c.id)
_UPDATE_TASK = update(TASKS).where(TASKS.c.id == bindparam("task_id"))
"""SET comes from the execution's parameters that name columns: ``_WRITABLE``."""
_WRITABLE = tuple(c.name for c in TASKS.c if c.name not in {"id", "user_id", "created_at"})
"""Every column but the task's identity, owner and creation time."""
_DELETE_TASK = delete(TASKS).where(TASKS.c.id == bindparam("task_id"))
_DELETE_TASK_TAGS = delete(TASK_TAGS).where(TASK_TAGS.c.task_id == bindparam("task_id"))
_LINK_TAG = insert(TASK_TAGS).from_select(
    ["task_id", "tag_id", "position"],
    select(
        bindparam("task_id", type_=BigInteger()),
        TAGS.c.id,
        bindparam("position", type_=SmallInteger()),
    ).where(TAGS.c.user_id == bindparam("user_id"), TAGS.c.name == bindparam("name")),
)
"""Link the task to the user's tag named ``name``: run once per tag, no id round trip."""


@lru_cache(maxsize=4)
def _insert_missing_tags(dialect: Dialect) -> Any:
    """``INSERT INTO tags ... ON CONFLICT (user_id, name) DO NOTHING``, built once per
    dialect and run with one parameter set per tag (one pipelined executemany)."""
    return dialect_insert(dialect)(TAGS).on_conflict_do_nothing(index_elements=["user_id", "name"])


async def create_task(engine: AsyncEngine, user_id: str, data: TaskCreate) -> StoredTask:
    """Store a new task for ``user_id``; ``completed: true`` sets ``completed_at`` now."""
    now = utcnow()
    fields: dict[str, Any] = {
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
    async with unit_of_work(engine) as db:
        await _store_tags(db, user_id, data.tags)
        fields["id"] = (await db.fetch(_INSERT_TASK, fields))[0]["id"]
        await _link_tags(db, user_id, fields["id"], data.tags)
    return _stored(fields, data.tags)


async def replace_task(
    engine: AsyncEngine, user_id: str, task_id: int, data: TaskCreate, if_match: str | None
) -> StoredTask:
    """PUT: every writable field takes the body's value or its default.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    async with unit_of_work(engine) as db:
        task, _ = await _locked(db, user_id, task_id, if_match)
        _set_completed(task, data.completed)
        task.update(
            title=data.title,
            description=data.description,
            priority=data.priority,
            due_date=data.due_date,
        )
        await _replace_tags(db, user_id, task_id, data.tags)
        return await _saved(db, task, data.tags)


async def update_task(
    engine: AsyncEngine, user_id: str, task_id: int, data: TaskUpdate, if_match: str | None
) -> StoredTask:
    """PATCH: only the fields the client sent change.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    async with unit_of_work(engine) as db:
        task, tags = await _locked(db, user_id, task_id, if_match)
        sent = data.model_fields_set
        for name in ("title", "description", "priority", "due_date"):
            if name in sent:
                task[name] = getattr(data, name)
        if "completed" in sent and data.completed is not None:
            _set_completed(task, data.completed)
        if "tags" in sent and data.tags is not None:
            tags = data.tags
            await _replace_tags(db, user_id, task_id, tags)
        return await _saved(db, task, tags)


async def complete_task(
    engine: AsyncEngine,
    user_id: str,
    task_id: int,
    completed: bool | None,
    if_match: str | None,
) -> StoredTask:
    """Toggle ``completed``, or set it when ``completed`` is given (idempotent).

    The row lock makes concurrent toggles serialise, so none is lost.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    async with unit_of_work(engine) as db:
        task, tags = await _locked(db, user_id, task_id, if_match)
        _set_completed(task, (not task["completed"]) if completed is None else completed)
        return await _saved(db, task, tags)


async def delete_task(
    engine: AsyncEngine, user_id: str, task_id: int, if_match: str | None
) -> None:
    """Delete the task and its tag links.

    Raises:
        NotFound: no such task for this user (a second DELETE included).
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    async with unit_of_work(engine) as db:
        await _locked(db, user_id, task_id, if_match)
        await db.execute(_DELETE_TASK_TAGS, {"task_id": task_id})
        await db.execute(_DELETE_TASK, {"task_id": task_id})


async def _locked(
    db: Statements, user_id: str, task_id: int, if_match: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The task's columns and its tag names, its row locked until the transaction ends.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    rows = await db.fetch(_LOCK_TASK, {"task_id": task_id, "user_id": user_id})
    if not rows:
        raise NotFound("Task not found")
    etag = etag_of(rows[0]["id"], rows[0]["version"])
    if if_match is not None and not etag_matches(if_match, etag, weak=False):
        raise PreconditionFailed()
    return dict(rows[0]), [row["tag"] for row in rows if row["tag"] is not None]


def _set_completed(task: dict[str, Any], completed: bool) -> None:
    """Set ``completed``; ``completed_at`` moves only when the value changes (api.md)."""
    if completed and not task["completed"]:
        task["completed_at"] = utcnow()
    elif not completed:
        task["completed_at"] = None
    task["completed"] = completed


async def _saved(db: Statements, task: dict[str, Any], tags: list[str]) -> StoredTask:
    """Write ``task``'s columns with the next version; ``tags`` are its tags as stored."""
    task["version"] += 1
    task["updated_at"] = utcnow()
    values = {name: task[name] for name in _WRITABLE}
    await db.execute(_UPDATE_TASK, {**values, "task_id": task["id"]})
    return _stored(task, tags)


def _stored(task: dict[str, Any], tags: list[str]) -> StoredTask:
    return StoredTask(_task_fields(task, tags), task["version"])


async def _replace_tags(db: Statements, user_id: str, task_id: int, names: list[str]) -> None:
    """Make the task's tags exactly ``names`` (already normalised), in that order."""
    await db.execute(_DELETE_TASK_TAGS, {"task_id": task_id})
    await _store_tags(db, user_id, names)
    await _link_tags(db, user_id, task_id, names)


async def _store_tags(db: Statements, user_id: str, names: list[str]) -> None:
    """Insert those of ``user_id``'s tags ``names`` that do not exist yet.

    In sorted order, so that two transactions that insert the same new tags
    take their locks in one order: one waits for the other, neither
    deadlocks (docs/design.md, "Totals").
    """
    if names:
        await db.execute_many(
            _insert_missing_tags(db.dialect),
            [{"user_id": user_id, "name": name} for name in sorted(names)],
        )


async def _link_tags(db: Statements, user_id: str, task_id: int, names: list[str]) -> None:
    """Link the task to its stored tags ``names``; a tag's position is its index."""
    if names:
        await db.execute_many(
            _LINK_TAG,
            [
                {"task_id": task_id, "user_id": user_id, "name": name, "position": position}
                for position, name in enumerate(names)
            ],
        )
