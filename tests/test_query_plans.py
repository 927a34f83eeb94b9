"""The list's pages read through an index, not the user's whole table (PostgreSQL only).

One user with 50,000 tasks in their inbox (some without ``due_date``, a few
tagged, 1 % with a rare word in the title) and another with 1,000 (enough
for a generic plan that guesses a tenth of the average user's rows to prefer a
sequential scan: ``LIMIT $n`` did), then
``VACUUM ANALYZE`` (see ``seeded``). For every first page and every cursor
page of each sort and order, of each filter (``FILTERS``) and of one list in
manual order, the statement and parameters are exactly the service's
(``list_statements``, ``list_parameters``, compiled for the app's asyncpg
dialect as ``kit.compiled`` compiles them for execution); the cursor pages
start after a real row (the first page's ``next_after``, as ``list_page``
returns it). ``EXPLAIN (FORMAT JSON)`` of each, planned for its values and as
the generic plan a cached statement may keep (``_explained``): the part under the page's
``LIMIT`` has no ``Seq Scan`` on ``tasks``, and, but for a search or a tag
(whose few matches are found through another index and sorted), no
``Sort`` of more than a few pages of rows: the rows come in the index's
order. The ``total`` (an InitPlan, outside the ``LIMIT``) may count the
matches however it likes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from tests.conftest import make_settings
from todo_api.auth.models import User
from todo_api.auth.service import new_user_id
from todo_api.kit.columns import utcnow
from todo_api.kit.compiled import CompiledStatement
from todo_api.main import close_resources, create_app
from todo_api.resources import app_resources
from todo_api.tasks.repository import After, list_page
from todo_api.tasks.repository.list_statements import list_parameters, list_statements, shape_of
from todo_api.tasks.schemas import TaskQuery

BIG, SMALL = 50_000, 1_000
RARE_WORD = "quokka"
"""In the title of every 100th task (1 %); in no description."""

SORTS = ("created_at", "updated_at", "due_date", "priority", "title")
FILTERS = {
    "q": {"q": RARE_WORD},
    "tag": {"tag": ["work"]},
    "status-pending": {"status": "pending"},
    "status-completed": {"status": "completed", "sort": "updated_at"},
    "due_before": {"due_before": "2100-01-01T00:00:00Z", "sort": "due_date"},
}
"""Filters in the default order (or one of theirs), each a first and a cursor page."""
SORTING_FILTERS = frozenset({"q", "tag"})
"""Filters whose few matches may be found through another index and sorted."""
ORDERS = ("asc", "desc")

_SEED_TASKS = text(
    """
    INSERT INTO tasks (user_id, list_id, title, description, completed, completed_at,
                       priority, due_date, version, created_at, updated_at)
    SELECT :user_id, :list_id,
           (ARRAY['Buy', 'Call', 'Fix', 'Plan', 'Write', 'Read', 'Pay'])[1 + n % 7]
             || ' ' || (ARRAY['milk', 'report', 'garden', 'slides', 'budget', 'kitchen',
                              'flight', 'Dentist', 'taxes', 'Backup', 'car'])[1 + (n / 7) % 11]
             || ' ' || n || CASE WHEN n % 100 = 0 THEN ' ' || :rare ELSE '' END,
           CASE WHEN n % 3 = 0 THEN 'details for item ' || n END,
           n % 4 = 0,
           CASE WHEN n % 4 = 0 THEN now() - n * interval '10 seconds' END,
           1 + n % 3,
           CASE WHEN n % 5 < 2 THEN NULL
                ELSE now() + (n % 97) * interval '1 day' + n * interval '1 second' END,
           1,
           now() - n * interval '1 minute',
           now() - ((n * 7919) % :count) * interval '1 second'
    FROM generate_series(1, :count) AS n
    """
)
_SEED_TAGS = text(
    """
    WITH made AS (
        INSERT INTO tags (user_id, name) VALUES (:user_id, 'work'), (:user_id, 'home')
        RETURNING id, name
    )
    INSERT INTO task_tags (task_id, tag_id, position)
    SELECT tasks.id, made.id, CASE made.name WHEN 'work' THEN 0 ELSE 1 END
    FROM tasks CROSS JOIN made
    WHERE tasks.user_id = :user_id
      AND tasks.id % 50 = (CASE made.name WHEN 'work' THEN 0 ELSE 7 END)
    """
)


def _cases() -> Iterator[Any]:
    """``(name, query parameters, page)``: page ``first``, ``cursor`` (after the first
    page's last row) or ``cursor_null`` (after a task without ``due_date``)."""
    for sort in SORTS:
        for order in ORDERS:
            pages = (
                ("first", "cursor", "cursor_null") if sort == "due_date" else ("first", "cursor")
            )
            for page in pages:
                yield pytest.param(
                    {"sort": sort, "order": order}, page, id=f"{sort}-{order}-{page}"
                )
    for name, filters in FILTERS.items():
        for page in ("first", "cursor"):
            yield pytest.param(filters, page, id=f"{name}-{page}")
    for order in ORDERS:
        for page in ("first", "cursor"):
            yield pytest.param(
                {"list_id": "<inbox>", "parent_id": "none", "sort": "position", "order": order},
                page,
                id=f"list-position-{order}-{page}",
            )


class Seeded:
    """The app on the seeded database, the big user and their inbox."""

    def __init__(self, app: Any, user_id: str, inbox_id: int) -> None:
        self.app = app
        self.user_id = user_id
        self.inbox_id = inbox_id


async def _add_user(app: Any, count: int) -> tuple[str, int]:
    engine = app_resources(app).database.engine
    user_id = new_user_id()
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(
            User.__table__.insert().values(  # type: ignore[attr-defined]
                id=user_id,
                email=f"{user_id[:8]}@example.com",
                name="Plan",
                created_at=now,
                updated_at=now,
            )
        )
        inbox_id = (
            await connection.execute(
                text("SELECT id FROM lists WHERE user_id = :user_id AND is_inbox"),
                {"user_id": user_id},
            )
        ).scalar_one()
        await connection.execute(
            _SEED_TASKS,
            {"user_id": user_id, "list_id": inbox_id, "count": count, "rare": RARE_WORD},
        )
        await connection.execute(_SEED_TAGS, {"user_id": user_id})
    return user_id, int(inbox_id)


@pytest.fixture(scope="module")
async def seeded(database_url: str) -> AsyncIterator[Seeded]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("query plans: PostgreSQL only")
    app = create_app(make_settings(database_url))
    try:
        user_id, inbox_id = await _add_user(app, BIG)
        await _add_user(app, SMALL)
        async with app_resources(app).database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("tasks", "task_tags", "tags", "lists"):
                # VACUUM too, as autovacuum would after the seed: a GIN index's
                # statistics (the trigram indexes of ``q``) are updated by VACUUM
                # only; with ANALYZE alone the planner prices them as if the seed's
                # rows were all in their pending lists and reads every task instead.
                await connection.execute(text(f"VACUUM ANALYZE {table}"))
        yield Seeded(app, user_id, inbox_id)
    finally:
        async with app_resources(app).database.engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await connection.execute(delete(table))
        await close_resources(app)


async def _after(seeded: Seeded, query: TaskQuery, page: str) -> After | None:
    """Where the page starts: nowhere (first), after the first page's last row, or after
    a task without ``due_date`` (a real row)."""
    if page == "first":
        return None
    database = app_resources(seeded.app).database
    if page == "cursor":
        async with database.reading() as db:
            first = await list_page(db, seeded.user_id, query)
        assert first.next_after is not None, "the first page is the last: seed more"
        return first.next_after
    async with database.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT id FROM tasks WHERE user_id = :user_id AND due_date IS NULL "
                "ORDER BY id OFFSET 100 LIMIT 1"
            ),
            {"user_id": seeded.user_id},
        )
        return After(None, int(found.scalar_one()))


def _page_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The nodes under the page's ``Limit`` nodes (none of an InitPlan or SubPlan above
    them): one, or a search's two (``_searched_page``)."""

    def limits(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if node.get("Parent Relationship") in ("InitPlan", "SubPlan"):
            return
        if node["Node Type"] == "Limit":
            yield node
            return
        for child in node.get("Plans", []):
            yield from limits(child)

    def below(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from below(child)

    found = list(limits(plan))  # a search's two plans: two
    assert found, json.dumps(plan, indent=1)
    return [node for limit in found for node in below(limit)]


def _outline(node: dict[str, Any], depth: int = 0) -> str:
    """The plan as indented lines: node type, relation, index, relationship."""
    parts = [node["Node Type"]]
    for key in ("Relation Name", "Index Name", "Parent Relationship", "Sort Key"):
        if key in node:
            parts.append(f"{key}={node[key]}")
    lines = ["  " * depth + " ".join(str(part) for part in parts)]
    lines += [_outline(child, depth + 1) for child in node.get("Plans", [])]
    return "\n".join(lines)


async def _explained(driver: Any, sql: str, arguments: list[Any], plan: str) -> Any:
    """``EXPLAIN (FORMAT JSON)`` of ``sql`` with ``arguments``: planned for the values
    (``custom``), or as the generic plan that a cached statement may keep from its
    sixth run, made without them (``generic``: ``PREPARE`` under
    ``plan_cache_mode = force_generic_plan``, then ``EXPLAIN EXECUTE``)."""
    if plan == "custom":
        return await driver.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *arguments)
    await driver.execute("SET plan_cache_mode = force_generic_plan")
    await driver.execute(f"PREPARE explained AS {sql}")
    try:
        # EXECUTE takes no bound parameters: the values as literals, quoted by the server.
        literals = [
            await driver.fetchval("SELECT quote_nullable($1::text)", None if v is None else str(v))
            for v in arguments
        ]
        return await driver.fetchval(
            f"EXPLAIN (FORMAT JSON) EXECUTE explained({', '.join(literals)})"
        )
    finally:
        await driver.execute("DEALLOCATE explained")
        await driver.execute("RESET plan_cache_mode")


@pytest.mark.parametrize("plan", ["custom", "generic"])
@pytest.mark.parametrize(("parameters", "page"), list(_cases()))
async def test_page_reads_through_an_index(
    seeded: Seeded, parameters: dict[str, Any], page: str, plan: str
) -> None:
    values = {k: str(seeded.inbox_id) if v == "<inbox>" else v for k, v in parameters.items()}
    query = TaskQuery.model_validate(values)
    after = await _after(seeded, query, page)
    statement, _total = list_statements(shape_of(query, after), "postgresql")
    database = app_resources(seeded.app).database
    compiled = CompiledStatement.of(statement, database.dialect, ())
    arguments = compiled.arguments(list_parameters(seeded.user_id, query, after))
    async with database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        explained = await _explained(driver, compiled.sql, arguments, plan)
    tree = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    scans = [
        node
        for node in _page_nodes(tree)
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "tasks"
    ]
    assert not scans, f"{values} {page} {plan}: the page scans tasks\n{_outline(tree)}"
    if not values.keys() & SORTING_FILTERS:  # anything else comes in index order
        sorts = [
            node for node in _page_nodes(tree) if node["Node Type"] == "Sort" and _unbounded(node)
        ]
        assert not sorts, f"{values} {page} {plan}: the page sorts its matches\n{_outline(tree)}"


def _unbounded(node: dict[str, Any]) -> bool:
    """Whether rows reach ``node`` from a scan through no ``Limit``: a ``Sort`` over the
    index ranges of a ``due_date`` cursor page, each cut at the page's length,
    sorts at most a few pages of rows, not the user's matches."""
    if node["Node Type"] == "Limit":
        return False
    children = [
        child
        for child in node.get("Plans", [])
        if child.get("Parent Relationship") not in ("InitPlan", "SubPlan")
    ]
    return not children or any(_unbounded(child) for child in children)
