"""``total`` from the per-user task counts (migration 0002) stays exact.

A list whose only filter is ``status`` reads ``total`` from ``task_counts``,
which triggers on ``tasks`` keep. These tests hold that ``total`` to the
tasks a client can actually page through, after every kind of write, under
concurrent writers, and across the migration that introduces the counts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from tests.conftest import TEST_DATABASE_URL, TaskFactory
from tests.helpers import ApiUser
from todo_api.kit.database_url import normalise_database_url
from todo_api.kit.engine import create_engine
from todo_api.migrate import alembic_config, in_this_schema
from todo_api.resources import app_resources

STATUSES = ("all", "pending", "completed")


async def totals(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> dict[str, int]:
    """``total`` of each ``status``, after checking it against the tasks listed."""
    found = {}
    for status in STATUSES:
        response = await client.get(
            user.tasks_url,
            params={"status": status, "page_size": 100, **params},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["data"]), (status, body["total"], len(body["data"]))
        found[status] = body["total"]
    return found


async def test_total_follows_every_kind_of_write(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    assert await totals(client, alice) == {"all": 0, "pending": 0, "completed": 0}
    first = await make_task(alice, title="one", tags=["a"])
    second = await make_task(alice, title="two", completed=True)
    third = await make_task(alice, title="three")
    assert await totals(client, alice) == {"all": 3, "pending": 2, "completed": 1}

    url = f"{alice.tasks_url}/{{}}".format
    steps: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("PATCH", f"{url(first['id'])}/complete", None, {"all": 3, "pending": 1, "completed": 2}),
        (
            "PATCH",
            url(second["id"]),
            {"completed": False},
            {"all": 3, "pending": 2, "completed": 1},
        ),
        (
            "PATCH",
            url(second["id"]),
            {"completed": False},
            {"all": 3, "pending": 2, "completed": 1},
        ),
        (
            "PUT",
            url(third["id"]),
            {"title": "3", "completed": True, "tags": ["b"]},
            {"all": 3, "pending": 1, "completed": 2},
        ),
        (
            "PATCH",
            url(third["id"]),
            {"title": "only the title"},
            {"all": 3, "pending": 1, "completed": 2},
        ),
        ("DELETE", url(first["id"]), None, {"all": 2, "pending": 1, "completed": 1}),
        ("DELETE", url(second["id"]), None, {"all": 1, "pending": 0, "completed": 1}),
    ]
    for method, path, body, expected in steps:
        response = await client.request(method, path, json=body, headers=alice.headers)
        assert response.status_code in (200, 204), response.text
        assert await totals(client, alice) == expected, (method, path, body)

    # Another user's writes never move alice's counts, and the reverse.
    await make_task(bob, completed=True)
    assert await totals(client, bob) == {"all": 1, "pending": 0, "completed": 1}
    assert await totals(client, alice) == {"all": 1, "pending": 0, "completed": 1}


async def test_a_page_past_the_end_has_the_true_total(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    for n in range(5):
        await make_task(alice, title=f"task {n}", completed=n < 2, tags=["odd"] * (n % 2))
    for params, expected in (
        ({"status": "all"}, 5),
        ({"status": "pending"}, 3),
        ({"status": "completed"}, 2),
        ({"tag": "odd"}, 2),  # counted, not read from task_counts
        ({"tag": "odd", "status": "completed"}, 1),
    ):
        response = await client.get(
            alice.tasks_url, params={**params, "page": 9, "page_size": 2}, headers=alice.headers
        )
        body = {"data": [], "total": expected, "page": 9, "page_size": 2, "next_cursor": None}
        assert response.json() == body, params


async def test_filtered_totals_still_count_the_matches(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    await make_task(alice, title="invoice", priority="high", tags=["work"])
    await make_task(alice, title="invoice 2", completed=True, tags=["work"])
    await make_task(alice, title="groceries")
    for params, expected in (
        ({"tag": "work"}, {"all": 2, "pending": 1, "completed": 1}),
        ({"q": "invoice"}, {"all": 2, "pending": 1, "completed": 1}),
        ({"priority": "high"}, {"all": 1, "pending": 1, "completed": 0}),
        ({"due_before": "2030-01-01T00:00:00Z"}, {"all": 0, "pending": 0, "completed": 0}),
    ):
        assert await totals(client, alice, **params) == expected, params


async def test_concurrent_creates_toggles_and_deletes_keep_the_total_exact(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    existing = [await make_task(alice, title=f"old {n}") for n in range(20)]

    async def create(n: int) -> httpx.Response:
        body = {"title": f"new {n}", "completed": n % 3 == 0, "tags": ["shared"]}
        return await client.post(alice.tasks_url, json=body, headers=alice.headers)

    async def toggle(task: dict[str, Any]) -> httpx.Response:
        return await client.patch(f"{alice.tasks_url}/{task['id']}/complete", headers=alice.headers)

    async def remove(task: dict[str, Any]) -> httpx.Response:
        return await client.delete(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)

    responses = await asyncio.gather(
        *(create(n) for n in range(30)),
        *(toggle(task) for task in existing[:10]),
        *(remove(task) for task in existing[10:15]),
    )
    assert [r.status_code for r in responses] == [201] * 30 + [200] * 10 + [204] * 5
    # 20 + 30 - 5 tasks; completed: 10 of the 30 new ones, and 10 toggled.
    assert await totals(client, alice) == {"all": 45, "pending": 25, "completed": 20}


async def locks_awaited(engine: AsyncEngine, count: int) -> None:
    """Return once ``count`` backends of this database wait for a lock (10 s at most)."""
    statement = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(10):
        while True:
            async with engine.connect() as connection:
                if (await connection.execute(statement)).scalar_one() >= count:
                    return
            await asyncio.sleep(0.02)


async def test_a_create_inserts_its_new_tags_in_one_order(
    client: httpx.AsyncClient, alice: ApiUser, backend: str, app: Any
) -> None:
    """Another writer of the same new tags, in sorted order, holds ``a`` when a
    create of ``["b", "a"]`` starts. The create must wait for ``a`` before it
    takes ``b``: taking ``b`` first would deadlock with the other writer, and
    PostgreSQL would abort one of the two (a 500)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    engine: AsyncEngine = app_resources(app).database.engine
    insert_tag = text("INSERT INTO tags (user_id, name) VALUES (:user_id, :name)")
    async with engine.connect() as other_writer, other_writer.begin():
        await other_writer.execute(insert_tag, {"user_id": alice.id, "name": "a"})
        body = {"title": "blocked", "tags": ["b", "a"]}
        create = asyncio.create_task(client.post(alice.tasks_url, json=body, headers=alice.headers))
        await locks_awaited(engine, 1)
        await other_writer.execute(insert_tag, {"user_id": alice.id, "name": "b"})
    response = await create
    assert response.status_code == 201, response.text
    assert response.json()["data"]["tags"] == ["b", "a"]


async def test_a_create_and_a_put_of_one_new_tag_do_not_deadlock_on_the_counts(
    client: httpx.AsyncClient, alice: ApiUser, backend: str, app: Any, make_task: TaskFactory
) -> None:
    """A create and a completing PUT, both with the new tag ``x``, meet at the
    same ``task_counts`` row. Each takes that row last (at commit), so
    neither holds it while it waits for a tag the other holds (a deadlock:
    PostgreSQL would abort one of them, a 500)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    engine: AsyncEngine = app_resources(app).database.engine
    tasks = [await make_task(alice, title=f"task {n}") for n in range(8)]
    # Ids are consecutive: the next task's id is tasks[0]'s plus 8, the same shard.
    assert tasks[-1]["id"] - tasks[0]["id"] == 7
    lock_counts = text("SELECT 1 FROM task_counts WHERE user_id = :user_id FOR UPDATE")
    async with engine.connect() as holder, holder.begin():
        await holder.execute(lock_counts, {"user_id": alice.id})
        create = asyncio.create_task(
            client.post(
                alice.tasks_url, json={"title": "new", "tags": ["x"]}, headers=alice.headers
            )
        )
        await locks_awaited(engine, 1)
        body = {"title": "replaced", "completed": True, "tags": ["x"]}
        replace = asyncio.create_task(
            client.put(f"{alice.tasks_url}/{tasks[0]['id']}", json=body, headers=alice.headers)
        )
        await locks_awaited(engine, 2)
    created, replaced = await create, await replace
    assert (created.status_code, replaced.status_code) == (201, 200), [
        created.text,
        replaced.text,
    ]
    assert created.json()["data"]["id"] == tasks[0]["id"] + 8
    assert await totals(client, alice) == {"all": 9, "pending": 8, "completed": 1}


# --- the migration ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """The URL of a new, empty database of one backend (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    server = normalise_database_url(TEST_DATABASE_URL)
    name = f"todo_api_migration_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(
            server.url, connect_args=server.connect_args, isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


def run_sql(database_url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    """Run ``statements`` in one transaction; the rows of each."""

    async def go() -> list[list[tuple[Any, ...]]]:
        engine = create_engine(normalise_database_url(database_url))
        try:
            async with engine.begin() as connection:
                results = [await connection.execute(text(s)) for s in statements]
                return [[tuple(r) for r in res] if res.returns_rows else [] for res in results]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def model_differences(database_url: str) -> list[Any]:
    """What Alembic's autogenerate finds between the migrated schema and the models."""

    def compare(connection: Connection) -> list[Any]:
        options = {"compare_type": True, "include_object": in_this_schema(connection.dialect.name)}
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, SQLModel.metadata))

    async def go() -> list[Any]:
        engine = create_engine(normalise_database_url(database_url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(go())


COUNTS = (
    "SELECT user_id, CAST(sum(total) AS BIGINT), CAST(sum(completed) AS BIGINT) "
    "FROM task_counts GROUP BY user_id HAVING sum(total) > 0 ORDER BY user_id"
)
"""Each user's counts; a user whose tasks are all gone may keep rows of zeros."""
NOW = datetime(2026, 11, 21, tzinfo=UTC).isoformat()


def insert_task(user_id: str, completed: bool, *, listed: bool = False) -> str:
    """An ``INSERT`` of a task; ``listed``: into the user's inbox (from revision 0003 on)."""
    columns = "user_id, title, completed, priority, version, created_at, updated_at"
    values = f"'{user_id}', 't', {str(completed).lower()}, 1, 1, '{NOW}', '{NOW}'"
    if listed:
        columns += ", list_id, position"
        values += f", (SELECT id FROM lists WHERE user_id = '{user_id}' AND is_inbox), 'a0'"
    return f"INSERT INTO tasks ({columns}) VALUES ({values})"


def test_the_migration_counts_existing_tasks_and_the_triggers_keep_counting(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0001")
    run_sql(
        empty_database,
        *(
            f"INSERT INTO users (id, created_at, updated_at) VALUES ('{u}', '{NOW}', '{NOW}')"
            for u in ("u1", "u2", "u3")
        ),
        *(insert_task("u1", completed=n < 2) for n in range(5)),
        insert_task("u2", completed=False),
    )
    command.upgrade(config, "head")
    assert model_differences(empty_database) == []
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 5, 2), ("u2", 1, 0)]

    run_sql(
        empty_database,
        insert_task("u3", completed=True, listed=True),
        "UPDATE tasks SET completed = NOT completed WHERE user_id = 'u1'",
        "UPDATE tasks SET title = 'unchanged counts' WHERE user_id = 'u2'",
    )
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 5, 3), ("u2", 1, 0), ("u3", 1, 1)]
    run_sql(empty_database, "DELETE FROM tasks WHERE user_id = 'u1' AND completed")
    run_sql(empty_database, "DELETE FROM users WHERE id = 'u2'")
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 2, 0), ("u3", 1, 1)]

    # An operator's SQL: a task moved to another user, then one given a new id.
    run_sql(
        empty_database,
        "UPDATE tasks SET user_id = 'u3' "
        "WHERE id = (SELECT min(id) FROM tasks WHERE user_id = 'u1')",
        "UPDATE tasks SET id = id + 1000 WHERE user_id = 'u3'",
    )
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 1, 0), ("u3", 2, 1)]
    # A user created, given a task and deleted in one transaction (a cascade).
    run_sql(
        empty_database,
        f"INSERT INTO users (id, created_at, updated_at) VALUES ('u4', '{NOW}', '{NOW}')",
        insert_task("u4", completed=True, listed=True),
        "DELETE FROM users WHERE id = 'u4'",
    )
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 1, 0), ("u3", 2, 1)]
    # Emptying the table: TRUNCATE on PostgreSQL (no row triggers), DELETE on SQLite.
    emptied = (
        "DELETE FROM tasks" if empty_database.startswith("sqlite") else "TRUNCATE tasks CASCADE"
    )
    run_sql(empty_database, emptied, insert_task("u1", completed=False, listed=True))
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 1, 0)]


def test_the_migration_downgrades_and_upgrades_again(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "0001")
    run_sql(
        empty_database,
        f"INSERT INTO users (id, created_at, updated_at) VALUES ('u1', '{NOW}', '{NOW}')",
        insert_task("u1", completed=True),
    )
    command.upgrade(config, "head")
    assert run_sql(empty_database, COUNTS)[0] == [("u1", 1, 1)]
