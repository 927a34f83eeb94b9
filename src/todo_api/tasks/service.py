"""Task storage: every query filters on ``user_id``, so another user's task is not found.

Reads go through Core ``select()`` of the SQLModel tables straight into
dicts (no identity map); a page costs three round trips: ``total`` (an
index-only count), the rows, and their tags. Writes load the row
``FOR UPDATE`` so that an ``If-Match`` check and the update that follows are
atomic (issue 4: of N concurrent writers with one ETag, exactly one wins).
Services flush but never commit: the request's unit of work does
(``db.get_session``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from todo_api.db import dialect_insert, utcnow
from todo_api.errors import NotFound, PreconditionFailed
from todo_api.tasks.models import (
    Priority,
    SortOrder,
    Tag,
    Task,
    TaskCreate,
    TaskPublic,
    TaskSort,
    TaskStatus,
    TaskTag,
    TaskUpdate,
)

TASKS: Table = Task.__table__  # type: ignore[attr-defined]
TAGS: Table = Tag.__table__  # type: ignore[attr-defined]
TASK_TAGS: Table = TaskTag.__table__  # type: ignore[attr-defined]
"""Core tables for reads: selecting their columns skips the ORM's execution layer."""

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


_SORT_COLUMNS: dict[TaskSort, Any] = {
    "created_at": TASKS.c.created_at,
    "updated_at": TASKS.c.updated_at,
    "due_date": TASKS.c.due_date,
    "priority": TASKS.c.priority,
    "title": TASKS.c.title,
}


def etag_of(task_id: int | None, version: int) -> str:
    """Strong ETag (RFC 9110 §8.8.3): the same on every replica, new on every write."""
    return f'"{task_id}.{version}"'


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as stored: what clients see, plus the version its ETag comes from."""

    task: TaskPublic
    version: int

    @property
    def etag(self) -> str:
        return etag_of(self.task.id, self.version)


@dataclass(frozen=True, slots=True)
class TaskFilters:
    """The list's query parameters (api.md, "Listing"), already validated."""

    status: TaskStatus = TaskStatus.all
    priority: Priority | None = None
    tag: str | None = None
    q: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    sort: TaskSort = "created_at"
    order: SortOrder = "desc"
    page: int = 1
    page_size: int = 20


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


def _list_conditions(user_id: str, filters: TaskFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [TASKS.c.user_id == user_id]
    if filters.status is not TaskStatus.all:
        # ``=`` rather than ``IS``: PostgreSQL uses a btree index only for the former.
        conditions.append(TASKS.c.completed == (filters.status is TaskStatus.completed))
    if filters.priority is not None:
        conditions.append(TASKS.c.priority == filters.priority)
    if filters.tag:
        tagged = (
            select(TASK_TAGS.c.task_id)
            .join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id)
            .where(TAGS.c.user_id == user_id, TAGS.c.name == filters.tag.lower())
        )
        conditions.append(TASKS.c.id.in_(tagged))
    if filters.q:
        conditions.append(
            or_(
                TASKS.c.title.icontains(filters.q, autoescape=True),
                TASKS.c.description.icontains(filters.q, autoescape=True),
            )
        )
    if filters.due_before is not None:
        conditions.append(TASKS.c.due_date <= filters.due_before)
    if filters.due_after is not None:
        conditions.append(TASKS.c.due_date >= filters.due_after)
    return conditions


def _ordered[S: Select[*tuple[Any, ...]]](statement: S, filters: TaskFilters) -> S:
    """Sort by the chosen column, ties broken by ``id`` in the same direction.

    Tasks without a ``due_date`` sort last in either order (api.md, "Listing").
    """
    column = _SORT_COLUMNS[filters.sort]
    descending = filters.order == "desc"
    primary = column.desc() if descending else column.asc()
    if filters.sort == "due_date":
        primary = primary.nulls_last()
    tie = TASKS.c.id.desc() if descending else TASKS.c.id.asc()
    return statement.order_by(primary, tie)


async def list_tasks(
    session: AsyncSession, user_id: str, filters: TaskFilters
) -> tuple[list[dict[str, Any]], int]:
    """One page of ``user_id``'s tasks and the number of all that match.

    Returns:
        ``(tasks, total)``: each task a dict of ``TaskPublic``'s fields, ready
        to serialise once (no model per row); a page past the end is ``([], total)``.
    """
    conditions = _list_conditions(user_id, filters)
    count = select(func.count()).select_from(TASKS).where(*conditions)
    total = int((await session.execute(count)).scalar_one())
    offset = (filters.page - 1) * filters.page_size
    rows: Sequence[Any] = []
    if offset < total:
        # A separate count, answered from an index, rather than count(*) OVER (),
        # which reads every matching row to return twenty (docs/benchmarks.md).
        statement = select(*_TASK_COLUMNS).where(*conditions)
        statement = _ordered(statement, filters).limit(filters.page_size).offset(offset)
        rows = (await session.execute(statement)).all()
    tags = await _tags_of(session, [row.id for row in rows])
    return [_task_fields(row, tags.get(row.id, [])) for row in rows], total


async def get_task(session: AsyncSession, user_id: str, task_id: int) -> StoredTask:
    """``user_id``'s task ``task_id``.

    Raises:
        NotFound: no such task for this user (another user's task included).
    """
    statement = select(*_TASK_COLUMNS).where(TASKS.c.id == task_id, TASKS.c.user_id == user_id)
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        raise NotFound("Task not found")
    tags = await _tags_of(session, [task_id])
    return StoredTask(_public(row, tags.get(task_id, [])), row.version)


async def _tags_of(session: AsyncSession, task_ids: Sequence[int]) -> dict[int, list[str]]:
    """Tag names of each task, in the order given, in one query for the whole page."""
    if not task_ids:
        return {}
    statement = (
        select(TASK_TAGS.c.task_id, TAGS.c.name)
        .join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id)
        .where(TASK_TAGS.c.task_id.in_(task_ids))
        .order_by(TASK_TAGS.c.task_id, TASK_TAGS.c.position)
    )
    tags: dict[int, list[str]] = defaultdict(list)
    for task_id, name in (await session.execute(statement)).all():
        tags[task_id].append(name)
    return tags


def _task_fields(row: Any, tags: list[str]) -> dict[str, Any]:
    """``TaskPublic``'s fields from a row (or a ``Task``) and its tag names."""
    return {
        "id": row.id,
        "user_id": row.user_id,
        "title": row.title,
        "description": row.description,
        "completed": row.completed,
        "completed_at": row.completed_at,
        "priority": row.priority,
        "due_date": row.due_date,
        "tags": tags,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _public(row: Any, tags: list[str]) -> TaskPublic:
    return TaskPublic.model_construct(**_task_fields(row, tags))


# --- writes -----------------------------------------------------------------


async def create_task(session: AsyncSession, user_id: str, data: TaskCreate) -> StoredTask:
    """Store a new task for ``user_id``; ``completed: true`` sets ``completed_at`` now."""
    now = utcnow()
    task = Task(
        user_id=user_id,
        title=data.title,
        description=data.description,
        completed=data.completed,
        completed_at=now if data.completed else None,
        priority=data.priority,
        due_date=data.due_date,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    assert task.id is not None
    await _replace_tags(session, user_id, task.id, data.tags, new_task=True)
    return _stored(task, data.tags)


async def replace_task(
    session: AsyncSession, user_id: str, task_id: int, data: TaskCreate, if_match: str | None
) -> StoredTask:
    """PUT: every writable field takes the body's value or its default.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    task = await _locked(session, user_id, task_id, if_match)
    _set_completed(task, data.completed)
    task.title = data.title
    task.description = data.description
    task.priority = data.priority
    task.due_date = data.due_date
    await _replace_tags(session, user_id, task_id, data.tags)
    return await _saved(session, task, data.tags)


async def update_task(
    session: AsyncSession, user_id: str, task_id: int, data: TaskUpdate, if_match: str | None
) -> StoredTask:
    """PATCH: only the fields the client sent change.

    Raises:
        NotFound: no such task for this user.
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    task = await _locked(session, user_id, task_id, if_match)
    sent = data.model_fields_set
    for name in ("title", "description", "priority", "due_date"):
        if name in sent:
            setattr(task, name, getattr(data, name))
    if "completed" in sent and data.completed is not None:
        _set_completed(task, data.completed)
    tags: list[str] | None = None
    if "tags" in sent and data.tags is not None:
        tags = data.tags
        await _replace_tags(session, user_id, task_id, tags)
    return await _saved(session, task, tags)


async def complete_task(
    session: AsyncSession,
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
    task = await _locked(session, user_id, task_id, if_match)
    _set_completed(task, (not task.completed) if completed is None else completed)
    return await _saved(session, task, None)


async def delete_task(
    session: AsyncSession, user_id: str, task_id: int, if_match: str | None
) -> None:
    """Delete the task (its tag links go with it, ``ON DELETE CASCADE``).

    Raises:
        NotFound: no such task for this user (a second DELETE included).
        PreconditionFailed: ``if_match`` is given and does not match the current ETag.
    """
    await _locked(session, user_id, task_id, if_match)
    await session.execute(delete(TaskTag).where(col(TaskTag.task_id) == task_id))
    await session.execute(delete(Task).where(col(Task.id) == task_id, col(Task.user_id) == user_id))


async def _locked(session: AsyncSession, user_id: str, task_id: int, if_match: str | None) -> Task:
    statement = (
        select(Task).where(col(Task.id) == task_id, col(Task.user_id) == user_id).with_for_update()
    )
    task = (await session.execute(statement)).scalar_one_or_none()
    if task is None:
        raise NotFound("Task not found")
    if if_match is not None and not etag_matches(
        if_match, etag_of(task.id, task.version), weak=False
    ):
        raise PreconditionFailed()
    return task


def _set_completed(task: Task, completed: bool) -> None:
    """Set ``completed``; ``completed_at`` moves only when the value changes (api.md)."""
    if completed and not task.completed:
        task.completed_at = utcnow()
    elif not completed:
        task.completed_at = None
    task.completed = completed


async def _saved(session: AsyncSession, task: Task, tags: list[str] | None) -> StoredTask:
    task.version += 1
    task.updated_at = utcnow()
    await session.flush()
    if tags is None:
        assert task.id is not None
        tags = (await _tags_of(session, [task.id])).get(task.id, [])
    return _stored(task, tags)


def _stored(task: Task, tags: list[str]) -> StoredTask:
    return StoredTask(_public(task, tags), task.version)


async def _replace_tags(
    session: AsyncSession,
    user_id: str,
    task_id: int,
    names: Iterable[str],
    *,
    new_task: bool = False,
) -> None:
    """Make the task's tags exactly ``names`` (already normalised), in that order."""
    names = list(names)
    if not new_task:
        await session.execute(delete(TaskTag).where(col(TaskTag.task_id) == task_id))
    if not names:
        return
    await session.execute(
        dialect_insert(session)(TAGS)
        .values([{"user_id": user_id, "name": n} for n in names])
        .on_conflict_do_nothing(index_elements=["user_id", "name"])
    )
    ids = dict(
        (
            await session.execute(
                select(col(Tag.name), col(Tag.id)).where(
                    col(Tag.user_id) == user_id, col(Tag.name).in_(names)
                )
            )
        ).all()
    )
    await session.execute(
        TaskTag.__table__.insert(),  # type: ignore[attr-defined]
        [
            {"task_id": task_id, "tag_id": ids[name], "position": position}
            for position, name in enumerate(names)
        ],
    )
