"""The list's statements: one per shape of query (filters, sort, keyset), built once.

Every condition starts with the owner (``user_id``); the page is read through
an index in the list's order, or, for a search that matches few tasks,
through the trigram indexes and sorted (``_searched_page``). Why each plan:
docs/design.md, "Decisions" (keyset pages, the list's plans, a search's two
plans); what each costs: docs/benchmarks.md.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, NamedTuple

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

from todo_api.kit.pagination import page_offset
from todo_api.tasks.models import TAGS, TASK_COUNTS, TASK_TAGS, TASKS
from todo_api.tasks.repository.statements import stored_tags
from todo_api.tasks.schemas import TOP_LEVEL, SortOrder, TaskQuery, TaskSort, TaskStatus


class ListShape(NamedTuple):
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


def shape_of(filters: TaskQuery, after: After | None) -> ListShape:
    return ListShape(
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


def list_parameters(user_id: str, filters: TaskQuery, after: After | None) -> dict[str, Any]:
    """Values for the bound parameters of the statements of ``shape_of(filters, after)``."""
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


def _list_conditions(shape: ListShape) -> list[ColumnElement[bool]]:
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


def _order(columns: Any, shape: ListShape) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
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


def _after(shape: ListShape, columns: Any) -> ColumnElement[bool]:
    """The keyset condition on ``columns`` (those of ``tasks`` or of a subquery of its
    rows): the rows that come after ``(:after_key, :after_id)`` in the list's
    order (ties by ``id`` in the direction of ``order``), a row-value
    comparison that an index on ``(user_id, <sort>, id)`` seeks to.

    For ``due_date`` it covers the dated rows only; the undated ones, last in
    either order, are a range of their own (``_page``), so that each part is
    one index seek. After an undated row: the undated rows past its ``id``.
    """
    key = _sort_key(columns, shape.sort)
    key_type = String() if shape.sort == "title" else TASKS.c[shape.sort].type
    after_key = bindparam("after_key", type_=key_type)
    after_id = bindparam("after_id", type_=BigInteger())
    if shape.after == "null":
        later_id = columns.id < after_id if shape.order == "desc" else columns.id > after_id
        return and_(key.is_(None), later_id)
    pair, bound = tuple_(key, columns.id), tuple_(after_key, after_id)
    return pair < bound if shape.order == "desc" else pair > bound


def _total(shape: ListShape, conditions: list[ColumnElement[bool]]) -> ColumnElement[int]:
    """The number of the user's tasks that match, as an uncorrelated scalar subquery.

    With no filter but ``status``, it is the sum of the user's ``task_counts``
    rows (``_counted``); otherwise it is a
    ``count(*)`` of the matches, which a search reads once (a CTE) for the
    page's choice of plan as well (``_searched_page``).
    """
    filtered = shape.tags or shape.list_id or shape.parent != "any"
    if filtered or shape.priority or shape.q or shape.due_before or shape.due_after:
        counted = select(func.count().label("total")).select_from(TASKS).where(*conditions)
        if shape.q:
            return select(counted.cte("matched").c.total).scalar_subquery()
        return counted.scalar_subquery()
    return _counted(
        {
            TaskStatus.all: TASK_COUNTS.c.total,
            TaskStatus.completed: TASK_COUNTS.c.completed,
            TaskStatus.pending: TASK_COUNTS.c.total - TASK_COUNTS.c.completed,
        }[shape.status]
    )


def _counted(column: ColumnElement[int]) -> ColumnElement[int]:
    """The sum of ``column`` over the user's ``task_counts`` rows (at most 8, kept by
    triggers; migration 0002), 0 if there are none: a scalar subquery."""
    total = func.coalesce(func.sum(column), 0).cast(BigInteger)
    return select(total).where(TASK_COUNTS.c.user_id == bindparam("user_id")).scalar_subquery()


def _page(shape: ListShape, conditions: list[ColumnElement[bool]], columns: Any) -> Select[Any]:
    """The page's rows of ``columns`` (those of ``tasks``, or of a subquery of its rows)
    in the list's order: from the start (after ``OFFSET`` rows on a numbered
    page), or after a cursor's row (``_after``), with ``lower(title)`` as
    ``sort_key`` when that is the sort (the key of a next cursor, as the
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
    computed = (_sort_key(columns, "title").label("sort_key"),) if shape.sort == "title" else ()
    limit = literal_column(str(shape.limit), BigInteger())
    rows = select(*(columns[column.key] for column in TASKS.c), *computed)
    order = _order(columns, shape)
    if shape.after == "none":
        first = rows.where(*conditions).order_by(*order).limit(limit)
        return first.offset(bindparam("offset", type_=BigInteger())) if shape.offset else first
    if shape.after == "null":
        return rows.where(*conditions, _after(shape, columns)).order_by(order[1]).limit(limit)
    later = rows.where(*conditions, _after(shape, columns)).order_by(*order).limit(limit)
    if shape.sort != "due_date":
        return later
    undated = rows.where(*conditions, columns.due_date.is_(None)).order_by(order[1]).limit(limit)
    both = union_all(select(later.subquery()), select(undated.subquery())).subquery("after")
    return select(both).order_by(*_order(both.c, shape)).limit(limit)


WALKED_SEARCH_SHARE = 4
"""A search that matches at least one in this many of the user's tasks walks the list's
order and skips what does not match; one that matches fewer reads its matches and
sorts them."""


def _searched_page(
    shape: ListShape, conditions: list[ColumnElement[bool]], total: ColumnElement[int]
) -> Select[Any]:
    """``_page`` of a search (``q``), in the plan that its number of matches calls for.

    Walking the list's order through its index and skipping what does not
    match reads about ``page * tasks / matches`` rows when the matches are
    spread out, but every task of the user when the matches are at the far
    end (an old word), and PostgreSQL cannot know from a pattern how many
    tasks it matches, let alone where they are. So the statement holds both
    plans, each under a condition on ``total`` (counted once, first, as a
    CTE): when at least one in ``WALKED_SEARCH_SHARE`` of the user's tasks
    (``task_counts``) matches, the walk, which then reads at most that many
    times the matches that the count has read; otherwise the matches, read
    as a subquery of their own (``OFFSET 0`` keeps the planner from merging
    it into the ordered walk; through the trigram indexes) and sorted.
    PostgreSQL runs only the branch whose condition holds (a one-time
    filter).
    """
    walk = total * WALKED_SEARCH_SHARE >= _counted(TASK_COUNTS.c.total)
    fenced = select(*TASKS.c).where(*conditions).offset(literal_column("0", BigInteger()))
    matches = fenced.subquery("matches")
    few = _page(shape, [], matches.c).where(~walk).subquery("few")
    many = _page(shape, conditions, TASKS.c).where(walk).subquery("many")
    return select(union_all(select(few), select(many)).subquery("searched"))


@lru_cache(maxsize=1024)
def list_statements(shape: ListShape, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """The page statement and the total statement of one list shape on ``dialect``
    (its ``name``).

    The page: ``_page``'s tasks (``_searched_page``'s for a search) with
    ``total`` (``_total``, evaluated once per statement) and their tags. On
    PostgreSQL one row per task, its tags an array from a subquery per row: a
    plan that hashes the tag links against an estimate of the page's rows (a
    cached statement's generic plan, which cannot see ``LIMIT``) would read
    all of them. On SQLite one row per task and tag (an outer join), which
    ``reads`` folds.
    The total alone serves a page past the end, which has no row to carry it.
    """
    conditions = _list_conditions(shape)
    matching = _total(shape, conditions)  # every match, the keyset aside
    if shape.q:
        page = _searched_page(shape, conditions, matching).subquery("page")
    else:
        page = _page(shape, conditions, TASKS.c).subquery("page")
    total = matching.label("total")
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
