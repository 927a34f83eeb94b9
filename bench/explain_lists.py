"""EXPLAIN of the list-shaped reads on a user with 10,000 tasks in their inbox.

    uv run python bench/explain_lists.py [--runs 15] [--vacuum] [--pg-url ...]

Drops and recreates ``todo_bench_explain``, migrates it and seeds it as
``bench/run.py`` does (users of 1,000, 10,000 and 1,000 tasks; every task a
top-level task of its user's inbox, in creation order), then ``ANALYZE``
(``--vacuum``: ``VACUUM ANALYZE``, as ``bench/run.py`` before each scenario,
which also sets the visibility map that index-only scans need).
For each request below it runs the service's own function, records the SQL
and arguments asyncpg was handed (the query logger on the pool's one
connection, so the statements are exactly the service's), and prints, per
statement, ``EXPLAIN (ANALYZE, BUFFERS)`` (second run, warm cache) and the
median wall time of ``--runs`` executions of the plain statement through
asyncpg (prepared, on loopback: one round trip included).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import asyncpg  # type: ignore[import-untyped]
import bench_setup as bs
from bench_measure import RESULTS_DIR, results_stem

DB_NAME = "todo_bench_explain"
USER_PLAN = {"u1k": 1_000, "u10k": 10_000, "writer": 1_000}
"""As ``bench/run.py``'s, so that the 10k user is as large a share of the table."""

Call = Callable[[Any, str], Awaitable[object]]
"""A service read: ``(database, user_id)``."""


def task_list(query_string: str) -> Call:
    """``GET /api/{user}/tasks?<query_string>`` as the route validates and serves it."""
    from todo_api.kit.cursors import CursorSigner
    from todo_api.tasks import service
    from todo_api.tasks.schemas import TaskQuery

    async def call(database: Any, user_id: str) -> object:
        query = TaskQuery.model_validate(dict(parse_qsl(query_string)))
        return await service.list_tasks(database, user_id, query, CursorSigner(bs.BENCH_SECRET))

    return call


async def list_lists(database: Any, user_id: str) -> object:
    """``GET /api/{user}/lists`` (first page)."""
    from todo_api.lists import service

    return await service.list_lists(database, user_id, 1, 20)


async def list_tags(database: Any, user_id: str) -> object:
    """``GET /api/{user}/tags`` (first page)."""
    from todo_api.tags import service
    from todo_api.tags.schemas import TagQuery

    return await service.list_tags(database, user_id, TagQuery())


def requests(inbox_id: int) -> dict[str, Call]:
    """The requests explained, by the path and query a client sends."""
    one_list = f"list_id={inbox_id}&parent_id=none"
    return {
        f"GET tasks?{one_list}&sort=position&order=asc": task_list(
            f"{one_list}&sort=position&order=asc"
        ),
        f"GET tasks?{one_list}&sort=title&order=asc": task_list(f"{one_list}&sort=title&order=asc"),
        "GET tasks?sort=title&order=asc": task_list("sort=title&order=asc"),
        "GET lists": list_lists,
        "GET tags": list_tags,
    }


async def captured(
    database_url: str, user_id: str, call: Call
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements (SQL, arguments) the service hands asyncpg while running ``call``."""
    import todo_api.auth.models  # noqa: F401  (the users table, for the foreign keys)
    from todo_api.kit.database import Database
    from todo_api.kit.database_url import normalise_database_url
    from todo_api.kit.engine import create_engine

    database = Database(create_engine(normalise_database_url(database_url), pool_size=1))
    statements: list[tuple[str, tuple[Any, ...]]] = []

    def record(query: Any) -> None:
        statements.append((query.query, tuple(query.args or ())))

    try:
        async with database.engine.connect() as connection:  # the pool's one: the call's next
            driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        driver.add_query_logger(record)
        try:
            await call(database, user_id)
        finally:
            driver.remove_query_logger(record)
    finally:
        await database.dispose()
    return statements


@dataclass(slots=True)
class Explained:
    request: str
    sql: str
    plan: str
    median_ms: float
    runs_ms: list[float]


async def explain(dsn: str, sql: str, args: tuple[Any, ...], runs: int) -> tuple[str, list[float]]:
    """The plan (second run) and ``runs`` wall times in ms of the plain statement."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        query = f"EXPLAIN (ANALYZE, BUFFERS) {sql}"
        await connection.fetch(query, *args)  # warm the cache; keep the second plan
        plan = "\n".join(r[0] for r in await connection.fetch(query, *args))
        for _ in range(3):
            await connection.fetch(sql, *args)  # prepared and cached
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            await connection.fetch(sql, *args)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return plan, timings


async def run(args: argparse.Namespace) -> str:
    version = await bs.recreate_database(args.pg_url, DB_NAME)
    dsn = bs.admin_dsn(args.pg_url, DB_NAME)
    bs.migrate(dsn, bs.server_env(dsn, str(RESULTS_DIR / ".pycache")))
    seeded = await bs.seed(dsn, USER_PLAN, timedelta(hours=1))
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE" if args.vacuum else "ANALYZE")
    finally:
        await connection.close()
    user = seeded.users["u10k"]
    explained: list[Explained] = []
    for name, call in requests(user.inbox_id).items():
        for sql, params in await captured(dsn, user.user_id, call):
            plan, timings = await explain(dsn, sql, params, args.runs)
            explained.append(Explained(name, sql, plan, statistics.median(timings), timings))
    lines = [
        f"# EXPLAIN of the list reads, 10,000-task user ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`uv run python bench/explain_lists.py --runs {args.runs}"
        f"{' --vacuum' if args.vacuum else ''}`: PostgreSQL {version}, "
        f"seed {seeded.tasks:,} tasks ({', '.join(f'{k} {v:,}' for k, v in USER_PLAN.items())}), "
        f"every task top level in its user's inbox, then "
        f"{'VACUUM ANALYZE' if args.vacuum else 'ANALYZE'}; the 10k user's inbox is list "
        f"{user.inbox_id}.",
        "",
        "| request | median ms of the plain statement (asyncpg, loopback) | EXPLAIN execution |",
        "|---|--:|--:|",
    ]
    for one in explained:
        execution = next(
            (
                line.split(":", 1)[1].strip()
                for line in one.plan.splitlines()
                if "Execution" in line
            ),
            "?",
        )
        lines.append(f"| {one.request} | {one.median_ms:.2f} | {execution} |")
    for one in explained:
        runs = ", ".join(f"{t:.2f}" for t in one.runs_ms)
        lines += [
            "",
            f"## {one.request}",
            "",
            f"Plain statement, {args.runs} runs (ms): {runs}; median {one.median_ms:.2f}.",
            "",
            "```sql",
            one.sql,
            "```",
            "",
            "```",
            one.plan,
            "```",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each statement")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE, not ANALYZE")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    text = asyncio.run(run(args))
    results_stem("explain-lists").with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
