"""Task reads: a page of the list, one task. Each is one statement, one snapshot, so
``total`` agrees with the page and a task's version with its tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)

from todo_api.kit.compiled import Row
from todo_api.kit.database import Statements
from todo_api.kit.pagination import page_offset
from todo_api.tasks.models import TAGS, TASK_COUNTS, TASK_TAGS, TASKS, TaskFields
from todo_api.tasks.repository.statements import stored_tags
from todo_api.tasks.schemas import TOP_LEVEL, SortOrder, Task, TaskQuery, TaskSort, TaskStatus


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as stored: its public ``fields`` and its ``version`` (which grows on every write)."""

    fields: TaskFields
    version: int

    @property
    def id(self) -> int:
        return self.fields["id"]


_TASK_COLUMNS = tuple(TASKS.c)
"""Every column of ``tasks``: the keys of ``TaskColumns``."""
_PUBLIC_FIELDS = tuple(Task.model_fields)


def task_fields(columns: Mapping[str, Any], tags: list[str]) -> TaskFields:
    """``schemas.Task``'s fields, in its order, from a task's columns and its tag names."""
    return cast(
        TaskFields, {name: tags if name == "tags" else columns[name] for name in _PUBLIC_FIELDS}
    )


def _tasks_with_tags(rows: Iterable[Row]) -> list[StoredTask]:
    """Fold rows of (task columns..., ``tag``), one per task and tag, into tasks, in row order."""
    tasks: dict[int, StoredTask] = {}
    for row in rows:
        task = tasks.get(row["id"])
        if task is None:
            task = tasks[row["id"]] = StoredTask(task_fields(row, []), row["version"])
        if row["tag"] is not None:
            task.fields["tags"].append(row["tag"])
    return list(tasks.values())


# --- the list ----------------------------------------------------------------


class _ListShape(NamedTuple):
    """What decides the list statement's SQL; the values are bound at execution, but
    for the page's length (``_page``)."""

    status: TaskStatus
    priority: bool
    tags: int
    list_id: bool
    parent: Literal["any", "top", "task"]
    q: bool
    due_before: bool
    due_after: bool
    sort: TaskSort
    order: SortOrder
    after: Literal["none", "key", "null"]
    """Keyset: rows after a cursor's (key, id), whose key is a value or NULL; or none."""
    limit: int
    """The rows a page reads: ``page_size``, one more after a cursor (which tells whether
    a next page follows; a numbered page knows it from ``total``)."""
    offset: bool
    """Whether rows are skipped: a numbered page after the first."""


class After(NamedTuple):
    """Where a keyset page starts: after the row whose sort key is ``key`` and id ``id``
    (the API contract, "Listing": ``cursor``)."""

    key: Any
    id: int


def _shape_of(filters: TaskQuery, after: After | None) -> _ListShape:
    return _ListShape(
        status=filters.status,
        priority=filters.priority is not None,
        tags=len(filters.tag),
        list_id=filters.list_id is not None,
        parent=(
            "any"
            if filters.parent_id is None
            else "top"
            if filters.parent_id == TOP_LEVEL
            else "task"
        ),
        q=bool(filters.q),
        due_before=filters.due_before is not None,
        due_after=filters.due_after is not None,
        sort=filters.sort,
        order=filters.order,
        after="none" if after is None else "null" if after.key is None else "key",
        limit=filters.page_size + (after is not None),
        offset=after is None and filters.page > 1,
    )


def _list_parameters(user_id: str, filters: TaskQuery, after: After | None) -> dict[str, Any]:
    """Values for the bound parameters of the statements of ``_shape_of(filters, after)``."""
    keyset = {} if after is None else {"after_key": after.key, "after_id": after.id}
    return {
        **keyset,
        "user_id": user_id,
        "priority": filters.priority,
        **{f"tag_{index}": tag.lower() for index, tag in enumerate(filters.tag)},
        "list_id": filters.list_id,
        "parent_id": filters.parent_id if isinstance(filters.parent_id, int) else None,
        "q": _like_escaped(filters.q) if filters.q else None,
        "due_before": filters.due_before,
        "due_after": filters.due_after,
        "offset": page_offset(filters.page, filters.page_size),  # without a cursor
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
    for index in range(shape.tags):  # every tag: one semi-join each
        tagged = (
            select(TASK_TAGS.c.task_id)
            .join(TAGS, TAGS.c.id == TASK_TAGS.c.tag_id)
            .where(TAGS.c.user_id == bindparam("user_id"), TAGS.c.name == bindparam(f"tag_{index}"))
        )
        conditions.append(TASKS.c.id.in_(tagged))
    if shape.list_id:
        conditions.append(TASKS.c.list_id == bindparam("list_id", type_=BigInteger()))
    if shape.parent == "top":
        conditions.append(TASKS.c.parent_id.is_(None))
    elif shape.parent == "task":
        conditions.append(TASKS.c.parent_id == bindparam("parent_id", type_=BigInteger()))
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

    Tasks without a ``due_date`` sort last in either order; ``title`` sorts
    case-insensitively (the API contract, "Listing"), as ``lower(title)``, which
    PostgreSQL's ``ix_tasks_user_id_lower_title_id`` serves and SQLite computes
    with Python's Unicode ``str.lower`` (``kit.engine``).
    """
    column = _sort_key(columns, shape.sort)
    descending = shape.order == "desc"
    primary = column.desc() if descending else column.asc()
    if shape.sort == "due_date":
        primary = primary.nulls_last()
    tie = columns.id.desc() if descending else columns.id.asc()
    return primary, tie


def _sort_key(columns: Any, sort: TaskSort) -> ColumnElement[Any]:
    """The value a list sorts by: a column of ``columns``, or ``lower(title)``."""
    return func.lower(columns.title) if sort == "title" else columns[sort]


def _after(shape: _ListShape) -> ColumnElement[bool]:
    """The keyset condition: the rows that come after ``(:after_key, :after_id)`` in the
    list's order (ties by ``id`` in the direction of ``order``), a row-value
    comparison that an index on ``(user_id, <sort>, id)`` seeks to.

    For ``due_date`` it covers the dated rows only; the undated ones, last in
    either order, are a range of their own (``_page``), so that each part is
    one index seek. After an undated row: the undated rows past its ``id``.
    """
    key = _sort_key(TASKS.c, shape.sort)
    key_type = String() if shape.sort == "title" else TASKS.c[shape.sort].type
    after_key = bindparam("after_key", type_=key_type)
    after_id = bindparam("after_id", type_=BigInteger())
    descending = shape.order == "desc"
    if shape.after == "null":
        return and_(key.is_(None), _later_id(shape))
    pair, bound = tuple_(key, TASKS.c.id), tuple_(after_key, after_id)
    return pair < bound if descending else pair > bound


def _later_id(shape: _ListShape) -> ColumnElement[bool]:
    after_id = bindparam("after_id", type_=BigInteger())
    return TASKS.c.id < after_id if shape.order == "desc" else TASKS.c.id > after_id


def _total(shape: _ListShape, conditions: list[ColumnElement[bool]]) -> ColumnElement[int]:
    """The number of the user's tasks that match, as an uncorrelated scalar subquery.

    With no filter but ``status``, it is the sum of the user's ``task_counts``
    rows (at most 8, kept by triggers; migration 0002); otherwise it is a
    ``count(*)`` of the matches.
    """
    filtered = shape.tags or shape.list_id or shape.parent != "any"
    if filtered or shape.priority or shape.q or shape.due_before or shape.due_after:
        return select(func.count()).select_from(TASKS).where(*conditions).scalar_subquery()
    counted = {
        TaskStatus.all: TASK_COUNTS.c.total,
        TaskStatus.completed: TASK_COUNTS.c.completed,
        TaskStatus.pending: TASK_COUNTS.c.total - TASK_COUNTS.c.completed,
    }[shape.status]
    summed = func.coalesce(func.sum(counted), 0).cast(BigInteger)
    return select(summed).where(TASK_COUNTS.c.user_id == bindparam("user_id")).scalar_subquery()


def _page(shape: _ListShape, conditions: list[ColumnElement[bool]]) -> Select[Any]:
    """The page's tasks in the list's order: from the start (after ``OFFSET`` rows on
    a numbered page), or after a cursor's row (``_after``), with ``lower(title)``
    as ``sort_key`` when that is the sort (the key of a next cursor, as the
    database made it).

    The page's length is written into the statement, not bound: a plan made
    without the values (a cached statement's generic plan) then still knows
    that the page is short and reads it through the index; with ``LIMIT $n``
    PostgreSQL assumes that a tenth of the matches are read, which for a user
    with many tasks is a sequential scan and a sort.

    After a dated ``due_date`` key the page is the next dated rows, then the
    undated ones from their start: two index ranges, each cut at the page's
    length, merged (at most twice the page sorted). After an undated row the
    order is by ``id`` alone, which the partial index of undated tasks gives.
    """
    computed = (_sort_key(TASKS.c, "title").label("sort_key"),) if shape.sort == "title" else ()
    limit = literal_column(str(shape.limit), BigInteger())
    tasks = select(*_TASK_COLUMNS, *computed)
    if shape.after == "none":
        first = tasks.where(*conditions).order_by(*_order(TASKS.c, shape)).limit(limit)
        return first.offset(bindparam("offset", type_=BigInteger())) if shape.offset else first
    if shape.after == "null":
        by_id = _order(TASKS.c, shape)[1]
        return tasks.where(*conditions, _after(shape)).order_by(by_id).limit(limit)
    later = tasks.where(*conditions, _after(shape)).order_by(*_order(TASKS.c, shape)).limit(limit)
    if shape.sort != "due_date":
        return later
    undated = tasks.where(*conditions, TASKS.c.due_date.is_(None))
    undated = undated.order_by(_order(TASKS.c, shape)[1]).limit(limit)
    both = union_all(select(later.subquery()), select(undated.subquery())).subquery("after")
    return select(both).order_by(*_order(both.c, shape)).limit(limit)


@lru_cache(maxsize=1024)
def _list_statements(shape: _ListShape, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """The page statement and the total statement of one list shape on ``dialect``
    (its ``name``).

    The page: ``_page``'s tasks with ``total`` (``_total``, evaluated once per
    statement) and their tags. On PostgreSQL one row per task, its tags an
    array from a subquery per row: a plan that hashes the tag links against an
    estimate of the page's rows (a cached statement's generic plan, which
    cannot see ``LIMIT``) would read all of them. On SQLite one row per task
    and tag (an outer join), which ``_tasks_with_tags`` folds.
    The total alone serves a page past the end, which has no row to carry it.
    """
    conditions = _list_conditions(shape)
    total = _total(shape, conditions).label("total")  # every match, the keyset aside
    page = _page(shape, conditions).subquery("page")
    if dialect == "postgresql":
        rows = select(page, stored_tags(page.c.id).label("tags"), total)
        return rows.order_by(*_order(page.c, shape)), select(total)
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


class Page(NamedTuple):
    """A page of the list: its tasks, how many match in all, and where the next page
    starts (``None``: this is the last)."""

    tasks: list[TaskFields]
    total: int
    next_after: After | None


async def list_page(
    db: Statements, user_id: str, query: TaskQuery, after: After | None = None
) -> Page:
    """One page of ``user_id``'s tasks that match ``query``: page ``query.page``, or with
    ``after`` the page that follows that row (keyset pagination), and the number of
    all that match.

    One statement; a page past the end (no row to carry ``total``) takes a
    second, the total alone.
    """
    shape = _shape_of(query, after)
    rows_statement, total_statement = _list_statements(shape, db.dialect.name)
    parameters = _list_parameters(user_id, query, after)
    rows = await db.fetch(rows_statement, parameters)
    if rows:
        total = int(rows[0]["total"])
    elif query.page == 1 and after is None:
        total = 0
    else:
        total = int((await db.fetch(total_statement, parameters))[0]["total"])
    if db.dialect.name == "postgresql":
        tasks = [StoredTask(task_fields(row, list(row["tags"])), row["version"]) for row in rows]
    else:
        tasks = _tasks_with_tags(rows)
    if after is None:
        more = page_offset(query.page, query.page_size) + len(tasks) < total
    else:
        more = len(tasks) > query.page_size  # the one row more
        tasks = tasks[: query.page_size]
    next_after = None
    if more and tasks:
        last = tasks[-1].id
        key_column = "sort_key" if query.sort == "title" else query.sort
        next_after = After(next(row[key_column] for row in rows if row["id"] == last), last)
    return Page([task.fields for task in tasks], total, next_after)


async def find_task(db: Statements, user_id: str, task_id: int) -> StoredTask | None:
    """``user_id``'s task ``task_id`` with its tags, if there is one."""
    found = _tasks_with_tags(await db.fetch(_GET_TASK, {"task_id": task_id, "user_id": user_id}))
    return found[0] if found else None
