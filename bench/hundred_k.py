"""The list's statements for a user with 100,000 tasks against a 1,000-task user's first page.

    uv run python bench/hundred_k.py [--runs 15] [--warmups 3] [--pg-url ...]

Drops and recreates ``todo_bench_100k``, migrates it
(``todo_api.migrate.upgrade_to_head``), seeds it with ``bench_setup.seed``
(one user with 100,000 tasks, one with 1,000; every task top level in its
user's inbox), then gives the big user's titles search words: ``zephyr`` in
every 200th (0.5 %), ``nebula`` in every 100th (1 %), ``quasar`` in the 300
oldest (last in the default order), ``ancient`` in the 3,000 oldest and
``today`` in four of five (80 %);
``ANALYZE``.
The ``q`` pages are timed then ("ANALYZE only"), and again after ``VACUUM
ANALYZE``, the state autovacuum leaves (and the one every other row is timed
in): a GIN index's statistics, which price the trigram indexes, are updated
by VACUUM only.

Each statement is exactly the service's: ``list_statements`` and
``list_parameters`` of ``todo_api.tasks.repository.list_statements``, compiled for the
app's asyncpg dialect as ``kit.compiled`` compiles them for execution. A
cursor page starts after a real row: the ``next_after`` that the service's
own ``list_page`` returns for the OFFSET page before it (pages of 20: the
default order at pages 2,500 and 5,000, the last; each sort and order at
pages 1,000 and 4,000, where ``due_date`` is a value, then NULL). Each
statement is run ``--warmups`` times, then the statements take turns
``--runs`` times (so that the machine's load falls on all alike) through one
asyncpg connection (prepared and cached, as the service's are; loopback, one
round trip included), once per plan mode (``MODES``: PostgreSQL's own choice,
as the service gets it; always a custom plan; always a generic one). The
median is reported, with its ratio to the 1,000-task user's first page in a
custom plan. Targets (the keyset pagination issue): every first page and
cursor page at most 2x that baseline; a ``q`` that matches at most 1 % of
the tasks at most 10 ms. ``EXPLAIN (ANALYZE, BUFFERS)`` of the plans that
miss their target follows the table (of those that miss only as generic
plans, the first). Written to ``bench/results/<timestamp>-hundred-k.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import bench_setup as bs
from bench_measure import results_stem

DB_NAME = "todo_bench_100k"
BIG, SMALL = 100_000, 1_000
USER_PLAN = {"u100k": BIG, "u1k": SMALL}
PAGE_SIZE = 20
RARE, COMMON = "zephyr", "today"
RARE_EVERY = 200
"""``RARE`` in the title of every 200th task: 0.5 %."""
ONE_PERCENT, ONE_PERCENT_EVERY = "nebula", 100
"""``ONE_PERCENT`` in the title of every 100th task: the most a search may match and
keep its target."""
OLD, OLD_COUNT = "quasar", 300
"""``OLD`` in the titles of the 300 oldest tasks (0.3 %): a search whose few matches
come last in the default order (newest first), which walking that order would
find only after reading every other task."""
OLDER, OLDER_COUNT = "ancient", 3_000
"""``OLDER`` in the titles of the 3,000 oldest tasks (3 %): more matches, as far."""
SORTS = ("created_at", "updated_at", "due_date", "priority", "title")
ORDERS = ("asc", "desc")
DEPTHS = (2_500, 5_000)
"""Pages of 20: page 5,000 is the 100,000-task user's last."""
SORT_DEPTHS = (1_000, 4_000)
"""Each sort's cursor pages: at row 20,000 every sort's key is a value (4 in 10 of the
seed's tasks have a ``due_date``), at row 80,000 ``due_date``'s is NULL in both orders."""


@dataclass(slots=True)
class Case:
    """One statement the service runs, and its target."""

    name: str
    sql: str
    args: list[Any]
    target: str
    """``2x`` (of the baseline), ``10ms``, ``baseline`` or ``-`` (for comparison)."""
    times: dict[str, list[float]] = field(default_factory=dict)
    """By plan mode (``MODES``): the timed runs in ms."""

    def median(self, mode: str) -> float:
        return statistics.median(self.times[mode])


class Service:
    """The service's list statements and its ``list_page`` on the bench database."""

    def __init__(self, dsn: str) -> None:
        import todo_api.auth.models  # noqa: F401  (the users table, for the foreign keys)
        from todo_api.kit.database import Database
        from todo_api.kit.database_url import normalise_database_url
        from todo_api.kit.engine import create_engine

        self.database = Database(create_engine(normalise_database_url(dsn), pool_size=1))

    def statement(self, user_id: str, params: dict[str, Any], after: Any) -> tuple[str, list[Any]]:
        """The page statement (SQL, arguments) the service sends for ``params``."""
        from todo_api.kit.compiled import CompiledStatement
        from todo_api.tasks.repository.list_statements import (
            list_parameters,
            list_statements,
            shape_of,
        )
        from todo_api.tasks.schemas import TaskQuery

        query = TaskQuery.model_validate(params)
        rows, _total = list_statements(shape_of(query, after), "postgresql")
        compiled = CompiledStatement.of(rows, self.database.dialect, ())
        return compiled.sql, compiled.arguments(list_parameters(user_id, query, after))

    async def after_page(self, user_id: str, params: dict[str, Any], page: int) -> Any:
        """The ``After`` of the last row of OFFSET page ``page``: where page ``page + 1``
        starts by cursor."""
        from todo_api.tasks.repository import list_page
        from todo_api.tasks.schemas import TaskQuery

        query = TaskQuery.model_validate({**params, "page": page, "page_size": PAGE_SIZE})
        async with self.database.reading() as db:
            found = await list_page(db, user_id, query)
        if found.next_after is None:
            raise SystemExit(f"page {page} of {params} is the last: no cursor after it")
        return found.next_after

    async def close(self) -> None:
        await self.database.dispose()


async def cases(service: Service, big: str, small: str) -> list[Case]:
    """The statements timed: first pages, cursor and OFFSET pages, searches, each sort."""
    found = [
        Case(
            "1,000-task user, first page (baseline)",
            *service.statement(small, {}, None),
            "baseline",
        ),
        Case("100,000-task user, first page", *service.statement(big, {}, None), "2x"),
    ]
    for depth in DEPTHS:
        after = await service.after_page(big, {}, depth - 1)
        found.append(Case(f"cursor page {depth:,}", *service.statement(big, {}, after), "2x"))
    for depth in DEPTHS:
        offset: dict[str, Any] = {"page": depth}
        found.append(Case(f"OFFSET page {depth:,}", *service.statement(big, offset, None), "-"))
    found += search_cases(service, big, "after VACUUM ANALYZE")
    for sort in SORTS:
        for order in ORDERS:
            params = {"sort": sort, "order": order}
            name = f"sort={sort}&order={order}"
            found.append(Case(f"{name}, first page", *service.statement(big, params, None), "2x"))
            for depth in SORT_DEPTHS:
                after = await service.after_page(big, params, depth - 1)
                key = "NULL" if after.key is None else "a value"
                found.append(
                    Case(
                        f"{name}, cursor page {depth:,} (key {key})",
                        *service.statement(big, params, after),
                        "2x",
                    )
                )
    return found


def search_cases(service: Service, big: str, when: str) -> list[Case]:
    """The searches: few matches spread out, 1 % spread out, few at the far end of the
    order, and most (whose cost is the count of ``total``: no target)."""
    searches = [
        (RARE, f"{100 / RARE_EVERY:g} % of titles", "10ms"),
        (ONE_PERCENT, f"{100 / ONE_PERCENT_EVERY:g} % of titles", "10ms"),
        (OLD, f"{OLD_COUNT} oldest titles", "10ms"),
        (OLDER, f"{OLDER_COUNT:,} oldest titles", "-"),
        (COMMON, "80 % of titles", "-"),
    ]
    return [
        Case(
            f"q={word} ({what}), first page, {when}",
            *service.statement(big, {"q": word}, None),
            target,
        )
        for word, what, target in searches
    ]


MODES = {
    "service": "auto",
    "custom": "force_custom_plan",
    "generic": "force_generic_plan",
}
"""Plan modes timed, as ``plan_cache_mode``. ``service``: PostgreSQL's own choice, as the
service's connections get it (asyncpg prepares and caches each statement; from its
sixth execution PostgreSQL may switch it to a generic plan, made without the
parameters' values); ``custom``: planned for the values every time; ``generic``: the
plan a cached statement can fall into."""


async def time_cases(dsn: str, timed: list[Case], warmups: int, runs: int) -> None:
    """Per plan mode, on a connection of its own: warm each statement up, then time
    them in turns, ``runs`` rounds."""
    for mode, setting in MODES.items():
        connection = await asyncpg.connect(
            dsn, timeout=10, server_settings={"plan_cache_mode": setting}
        )
        try:
            for case in timed:
                case.times[mode] = []
                for _ in range(warmups):
                    await connection.fetch(case.sql, *case.args)
            for _ in range(runs):
                for case in timed:
                    started = time.perf_counter()
                    await connection.fetch(case.sql, *case.args)
                    case.times[mode].append((time.perf_counter() - started) * 1000)
        finally:
            await connection.close()


def _literal(value: Any) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


async def explain(dsn: str, case: Case, mode: str) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the statement planned as ``mode`` plans it
    (generic: ``PREPARE`` and ``EXPLAIN EXECUTE`` with the values as literals)."""
    connection = await asyncpg.connect(
        dsn, timeout=10, server_settings={"plan_cache_mode": MODES[mode]}
    )
    try:
        if mode == "generic":
            await connection.execute(f"PREPARE explained AS {case.sql}")
            values = ", ".join(_literal(value) for value in case.args)
            query, args = f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE explained({values})", []
        else:
            query, args = f"EXPLAIN (ANALYZE, BUFFERS) {case.sql}", case.args
        await connection.fetch(query, *args)  # warm; keep the second
        return "\n".join(row[0] for row in await connection.fetch(query, *args))
    finally:
        await connection.close()


async def add_search_words(dsn: str, user_id: str) -> int:
    """``RARE`` in every 200th title of ``user_id``, ``ONE_PERCENT`` in every 100th,
    ``OLD`` and ``OLDER`` in the oldest, ``COMMON`` in four of five; how many titles
    carry ``RARE``."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(
            "UPDATE tasks SET title = title"
            " || CASE WHEN id % $2 = 0 THEN ' ' || $3 ELSE '' END"
            " || CASE WHEN id % 5 <> 0 THEN ' ' || $4 ELSE '' END"
            " WHERE user_id = $1",
            user_id,
            RARE_EVERY,
            RARE,
            COMMON,
        )
        await connection.execute(
            "UPDATE tasks SET title = title || ' ' || $2 WHERE user_id = $1 AND id % $3 = $3 / 2",
            user_id,
            ONE_PERCENT,
            ONE_PERCENT_EVERY,
        )
        for word, count in ((OLD, OLD_COUNT), (OLDER, OLDER_COUNT)):
            await connection.execute(
                "UPDATE tasks SET title = title || ' ' || $2 WHERE id IN"
                " (SELECT id FROM tasks WHERE user_id = $1 ORDER BY created_at, id LIMIT $3)",
                user_id,
                word,
                count,
            )
        await connection.execute("ANALYZE")
        rare: int = await connection.fetchval(
            "SELECT count(*) FROM tasks WHERE user_id = $1 AND title ILIKE $2",
            user_id,
            f"%{RARE}%",
        )
    finally:
        await connection.close()
    return rare


async def execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def verdict(case: Case, mode: str, baseline: float) -> str:
    """Whether ``case`` in plan mode ``mode`` meets its target, ``baseline`` the
    1,000-task user's first page in the custom plan (the best it gets)."""
    if case.target == "2x":
        return "holds" if case.median(mode) <= 2 * baseline else "**misses**"
    if case.target == "10ms":
        return "holds" if case.median(mode) <= 10 else "**misses**"
    return case.target


def table(timed: list[Case], baseline: float) -> list[str]:
    lines = [
        "| statement | service ms | x | custom ms | x | target (custom) "
        "| generic ms | x | target (generic) |",
        "|---|--:|--:|--:|--:|---|--:|--:|---|",
    ]
    for case in timed:
        cells = [case.name]
        for mode in MODES:
            median = case.median(mode)
            cells += [f"{median:.2f}", f"{median / baseline:.2f}"]
            if mode != "service":
                cells.append(verdict(case, mode, baseline))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


async def run(args: argparse.Namespace, dsn: str, version: str) -> str:
    seeded = await bs.seed(dsn, USER_PLAN, timedelta(hours=1))
    big, small = seeded.users["u100k"].user_id, seeded.users["u1k"].user_id
    rare = await add_search_words(dsn, big)
    service = Service(dsn)
    try:
        before = [
            Case(
                "1,000-task user, first page (baseline), ANALYZE only",
                *service.statement(small, {}, None),
                "baseline",
            ),
            *search_cases(service, big, "ANALYZE only"),
        ]
        await time_cases(dsn, before, args.warmups, args.runs)
        await execute(dsn, "VACUUM ANALYZE")
        timed = await cases(service, big, small)
    finally:
        await service.close()
    await time_cases(dsn, timed, args.warmups, args.runs)
    baseline = timed[0].median("custom")
    lines = [
        f"# The list at 100,000 tasks ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`uv run python bench/hundred_k.py --runs {args.runs} --warmups {args.warmups}`: "
        f"PostgreSQL {version}; `{DB_NAME}` seeded by `bench_setup.seed` "
        f"({BIG:,} tasks and {SMALL:,}, every task top level in its user's inbox); the "
        f"100,000-task user's titles: `{RARE}` in {rare:,}, `{ONE_PERCENT}` in every "
        f"{ONE_PERCENT_EVERY}th, `{OLD}` in the {OLD_COUNT} oldest, `{OLDER}` in the "
        f"{OLDER_COUNT:,} oldest, `{COMMON}` in four of five; "
        "then `VACUUM ANALYZE`. Median ms of "
        f"{args.runs} runs after {args.warmups} warm-ups of the page statement the "
        "service sends, through asyncpg (prepared and cached, loopback, one round trip), "
        "statements in turns; three connections: `service` (PostgreSQL's choice of plan, "
        "as the service's cached statements get it), `custom` (`plan_cache_mode = "
        "force_custom_plan`), `generic` (`force_generic_plan`: the plan a cached statement "
        "may switch to from its sixth execution). x: ratio to the 1,000-task user's first "
        f"page in the custom plan ({baseline:.2f} ms). Targets: first and cursor pages "
        "<= 2x; q matching <= 1 % <= 10 ms.",
        "",
        *table(timed, baseline),
        "",
        "Before the `VACUUM` (seed, title update, `ANALYZE` only):",
        "",
        *table(before, before[0].median("custom")),
    ]
    generic_shown = False
    for case in [*timed, *before]:
        base = baseline if case in timed else before[0].median("custom")
        missed = {
            mode for mode in ("custom", "generic") if verdict(case, mode, base) == "**misses**"
        }
        for mode in ("custom", "generic"):
            # Every plan that misses, but of those that miss only as generic plans (the
            # same plan, mostly) the first; and the custom plan of a search for few.
            shown = mode in missed and (mode == "custom" or "custom" in missed or not generic_shown)
            if not (shown or (mode == "custom" and case.target == "10ms")):
                continue
            generic_shown = generic_shown or (mode == "generic" and "custom" not in missed)
            runs = ", ".join(f"{t:.2f}" for t in case.times[mode])
            lines += [
                "",
                f"## {case.name}: {mode} plan",
                "",
                f"Runs (ms): {runs}.",
                "",
                "```",
                await explain(dsn, case, mode),
                "```",
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each statement")
    parser.add_argument("--warmups", type=int, default=3, help="untimed runs first")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    from todo_api.migrate import upgrade_to_head

    version = asyncio.run(bs.recreate_database(args.pg_url, DB_NAME))
    dsn = bs.admin_dsn(args.pg_url, DB_NAME)
    upgrade_to_head(dsn)  # outside a running loop: Alembic's env.py runs its own
    text = asyncio.run(run(args, dsn, version))
    results_stem("hundred-k").with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
