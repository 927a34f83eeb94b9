"""Benchmark set-up: a fresh database, its migration, the seed, tokens, EXPLAIN.

Used by ``bench/run.py``. The seed goes straight into the tables with
asyncpg ``COPY`` (seconds for 12,000 tasks); table and column names and the
priority encoding come from the project's models, so the seed follows the
schema the service reads. Every seeded task is a top-level task of its user's
inbox (made by the trigger on ``users``, migration 0003), and its position is
``position_key(id)``, so the manual order is the order of creation, as the
migration orders existing tasks.
"""

from __future__ import annotations

import asyncio
import os
import random
import string
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DB_PREFIX = "todo_bench"

BENCH_SECRET = "todo-bench-shared-secret-0123456789-abcdefghij"
"""Fixed HS256 secret (>= 32 characters) passed to both servers."""

TAG_WEIGHTS: dict[str, float] = {
    "work": 0.30,
    "home": 0.16,
    "errands": 0.12,
    "urgent": 0.08,
    "health": 0.07,
    "finance": 0.07,
    "family": 0.06,
    "reading": 0.05,
    "travel": 0.05,
    "someday": 0.04,
}
COMMON_TAG = "work"
SEARCH_WORD = "invoice"
VERBS = (
    "Buy",
    "Call",
    "Email",
    "Fix",
    "Plan",
    "Review",
    "Write",
    "Clean",
    "Book",
    "Pay",
    "Read",
    "Prepare",
    "Send",
    "Update",
    "Order",
    "Schedule",
    "Check",
    "Renew",
)
NOUNS = (
    "milk",
    "plumber",
    "quarterly report",
    "invoice",
    "car service",
    "garden",
    "slides",
    "train tickets",
    "dentist",
    "budget",
    "kitchen",
    "newsletter",
    "contract",
    "groceries",
    "flight",
    "birthday gift",
    "tax return",
    "meeting notes",
    "blog post",
    "backup",
)
DETAILS = (
    "before Friday",
    "ask Sam first",
    "see the shared folder",
    "two copies",
    "remember the receipt",
    "low priority unless it blocks",
    "call back if busy",
)


@dataclass(frozen=True, slots=True)
class BenchUser:
    """A seeded user: id, bearer token, the contiguous id range of its seeded tasks and
    the inbox that holds them all (top level, in id order)."""

    key: str
    user_id: str
    token: str
    task_count: int
    id_lo: int
    id_hi: int
    inbox_id: int


@dataclass(slots=True)
class SeedResult:
    users: dict[str, BenchUser] = field(default_factory=dict)
    seconds: float = 0.0
    tasks: int = 0
    task_tags: int = 0


def admin_dsn(server_url: str, database: str = "postgres") -> str:
    """``postgresql://user@host:port/<database>``, refusing anything but loopback."""
    parts = urlsplit(server_url)
    if parts.hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing non-loopback PostgreSQL host {parts.hostname!r}")
    netloc = parts.netloc
    return f"postgresql://{netloc}/{database}"


def check_db_name(name: str) -> None:
    if not name.startswith(DB_PREFIX) or not all(
        c in string.ascii_lowercase + string.digits + "_" for c in name
    ):
        raise SystemExit(f"database name must start with {DB_PREFIX!r} and be [a-z0-9_]: {name!r}")


async def recreate_database(server_url: str, name: str) -> str:
    """Drop (with force) and create ``name``; returns the server version string."""
    check_db_name(name)
    connection = await asyncpg.connect(admin_dsn(server_url), timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
        version: str = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    return version


def migrate(database_url: str, env: dict[str, str], timeout: float = 180) -> None:
    """``uv run todo-api migrate`` with ``DATABASE_URL``."""
    result = subprocess.run(
        ["uv", "run", "--no-sync", "todo-api", "migrate"],
        env=env | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"migration failed ({result.returncode}):\n{result.stderr[-3000:]}")


def _user_id(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(32))


def _pick_tags(rng: random.Random) -> list[str]:
    count = rng.randint(0, 3)
    names = list(TAG_WEIGHTS)
    weights = list(TAG_WEIGHTS.values())
    chosen: list[str] = []
    while len(chosen) < count:
        tag = rng.choices(names, weights)[0]
        if tag not in chosen:
            chosen.append(tag)
    return chosen


def _task_rows(
    rng: random.Random, user_id: str, list_id: int, count: int, first_id: int, now: datetime
) -> tuple[list[tuple[Any, ...]], list[list[str]]]:
    """``count`` task rows (id, user_id, list_id, position, title, ...) and each one's tag
    names; the position of task ``n`` is ``position_key(n)`` (creation order)."""
    from todo_api.kit.positions import position_key
    from todo_api.tasks.models import Priority, PriorityRank

    rank = PriorityRank()
    priorities = [Priority.low, Priority.medium, Priority.high]
    rows: list[tuple[Any, ...]] = []
    tags: list[list[str]] = []
    for offset in range(count):
        created = now - timedelta(seconds=rng.uniform(60, 365 * 86400))
        updated = min(now, created + timedelta(seconds=rng.uniform(0, 10 * 86400)))
        completed = rng.random() < 0.3
        due = created + timedelta(days=rng.uniform(1, 60)) if rng.random() < 0.4 else None
        description = (
            f"{rng.choice(DETAILS)}; {rng.choice(NOUNS)} {rng.choice(DETAILS)}"
            if rng.random() < 0.5
            else None
        )
        priority = rng.choices(priorities, [0.3, 0.5, 0.2])[0]
        rows.append(
            (
                first_id + offset,
                user_id,
                list_id,
                position_key(first_id + offset),
                f"{rng.choice(VERBS)} {rng.choice(NOUNS)}",
                description,
                completed,
                updated if completed else None,
                rank.process_bind_param(priority, None),
                due,
                1,
                created,
                updated,
            )
        )
        tags.append(_pick_tags(rng))
    return rows, tags


TASK_COPY_COLUMNS = [
    "id",
    "user_id",
    "list_id",
    "position",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "due_date",
    "version",
    "created_at",
    "updated_at",
]


async def seed(
    database_dsn: str, plan: dict[str, int], tokens_ttl: timedelta, rng_seed: int = 20261120
) -> SeedResult:
    """Users with ``plan[key]`` tasks each, 0 to 3 tags per task, via ``COPY``.

    Task ids are assigned here, contiguous per user, and the id sequence is
    moved past them, so later inserts by the service do not collide; so is
    the sequence of "last" position keys (``kit.positions``), so a task the
    service creates goes after every seeded one.
    """
    from todo_api.auth.models import User
    from todo_api.kit.positions import POSITION_SEQUENCE
    from todo_api.lists.models import TaskList
    from todo_api.tasks.models import Tag, Task, TaskTag

    tables = {
        "users": User.__tablename__,
        "lists": TaskList.__tablename__,
        "tasks": Task.__tablename__,
        "tags": Tag.__tablename__,
        "task_tags": TaskTag.__tablename__,
    }
    task_columns = {c.name for c in Task.__table__.columns}  # type: ignore[attr-defined]
    missing = set(TASK_COPY_COLUMNS) - task_columns
    if missing:
        raise SystemExit(f"the Task model no longer has columns {sorted(missing)}; update the seed")

    started = asyncio.get_running_loop().time()
    rng = random.Random(rng_seed)
    now = datetime.now(UTC)
    result = SeedResult()
    connection = await asyncpg.connect(database_dsn, timeout=10)
    try:
        next_id = 1
        for key, count in plan.items():
            user_id = _user_id(rng)
            await connection.execute(
                f"INSERT INTO {tables['users']} (id, email, name, created_at, updated_at) "  # noqa: S608
                "VALUES ($1, $2, $3, $4, $4)",
                user_id,
                f"bench-{key}@example.com",
                f"Bench {key}",
                now,
            )
            inbox_id: int = await connection.fetchval(
                f"SELECT id FROM {tables['lists']} WHERE user_id = $1 AND is_inbox",  # noqa: S608
                user_id,
            )
            if inbox_id is None:
                raise SystemExit("no inbox made for a new user: is migration 0003 applied?")
            rows, tags = _task_rows(rng, user_id, inbox_id, count, next_id, now)
            await connection.copy_records_to_table(
                tables["tasks"], records=rows, columns=TASK_COPY_COLUMNS
            )
            tag_ids = dict(
                await connection.fetch(
                    f"INSERT INTO {tables['tags']} (user_id, name) "
                    "SELECT $1, unnest($2::varchar[]) RETURNING name, id",
                    user_id,
                    list(TAG_WEIGHTS),
                )
            )
            links = [
                (row[0], tag_ids[name], position)
                for row, names in zip(rows, tags, strict=True)
                for position, name in enumerate(names)
            ]
            await connection.copy_records_to_table(
                tables["task_tags"], records=links, columns=["task_id", "tag_id", "position"]
            )
            result.users[key] = BenchUser(
                key=key,
                user_id=user_id,
                token=mint_token(user_id, tokens_ttl),
                task_count=count,
                id_lo=next_id,
                id_hi=next_id + count - 1,
                inbox_id=inbox_id,
            )
            result.tasks += count
            result.task_tags += len(links)
            next_id += count
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{tables['tasks']}', 'id'), $1)", next_id - 1
        )
        # Every seeded key is at most position_key(max id): new "last" keys start past it.
        await connection.execute(
            f"SELECT setval('{POSITION_SEQUENCE}', greatest("  # noqa: S608
            f"(SELECT max(id) FROM {tables['tasks']}), "
            f"(SELECT last_value FROM {POSITION_SEQUENCE})))"
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    result.seconds = asyncio.get_running_loop().time() - started
    return result


async def vacuum_analyze(database_dsn: str) -> bool:
    """``VACUUM ANALYZE`` the database: what autovacuum does after a burst of writes.

    Run before each scenario. Without it, on a server with autovacuum off (as
    this machine's is), the planner keeps the seed's statistics (the 10k user
    as 83 % of 12,000 tasks) while the create scenarios grow the table to
    hundreds of thousands of rows. Returns whether autovacuum is on.
    """
    connection = await asyncpg.connect(database_dsn, timeout=10)
    try:
        await connection.execute("VACUUM ANALYZE")
        autovacuum: str = await connection.fetchval("SHOW autovacuum")
    finally:
        await connection.close()
    return autovacuum == "on"


def mint_token(user_id: str, ttl: timedelta) -> str:
    """An HS256 token as the service's own login issues it (``issue_access_token``)."""
    from todo_api.auth.tokens import issue_access_token
    from todo_api.config import load_settings

    minutes = max(60, int(ttl.total_seconds() // 60) + 1)
    settings = load_settings(
        database_url="sqlite+aiosqlite:///:memory:",
        better_auth_secret=BENCH_SECRET,
        environment="production",
        access_token_expire_minutes=minutes,
        jwt_issuer=None,
        jwt_audience=None,
    )
    token, _ = issue_access_token(user_id=user_id, email=None, name=None, settings=settings)
    return token


# --- EXPLAIN ANALYZE of the list query ------------------------------------------


@dataclass(slots=True)
class Explained:
    source: str
    statements: list[tuple[str, str]] = field(default_factory=list)
    """``(sql, plan)`` for each statement of one list request."""


async def _capture_service_statements(
    database_url: str, user_id: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """Run the service's own ``list_tasks`` (default filters) and record the SQL asyncpg sent.

    The service hands its compiled statements to asyncpg (``todo_api.kit.database``),
    so they are recorded with asyncpg's query logger on the pool's one connection.
    """
    import todo_api.auth.models  # noqa: F401  (the users table, for the foreign keys)
    from todo_api.kit.cursors import CursorSigner
    from todo_api.kit.database import Database
    from todo_api.kit.database_url import normalise_database_url
    from todo_api.kit.engine import create_engine
    from todo_api.tasks import service
    from todo_api.tasks.schemas import TaskQuery

    database = Database(create_engine(normalise_database_url(database_url), pool_size=1))
    captured: list[tuple[str, tuple[Any, ...]]] = []

    def record(query: Any) -> None:
        captured.append((query.query, tuple(query.args or ())))

    try:
        async with database.engine.connect() as connection:  # the pool's one: list_tasks' next
            driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        driver.add_query_logger(record)
        try:
            await service.list_tasks(database, user_id, TaskQuery(), CursorSigner(BENCH_SECRET))
        finally:
            driver.remove_query_logger(record)
    finally:
        await database.dispose()
    if not captured:
        raise RuntimeError("list_tasks sent no statement through asyncpg")
    return captured


async def explain_list(database_url: str, database_dsn: str, user_id: str) -> Explained:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each statement of the first page of ``user_id``.

    The statements are the ones the service itself sends (captured from
    asyncpg while running ``service.list_tasks``). If that fails, the report
    says why and explains nothing: a hand-written stand-in would drift from
    what the service sends.
    """
    try:
        statements = await _capture_service_statements(database_url, user_id)
        explained = Explained(source="captured from todo_api.tasks.service.list_tasks (asyncpg)")
    except Exception as exc:  # the benchmark must not depend on private details
        return Explained(source=f"not captured ({exc!r})")
    connection = await asyncpg.connect(database_dsn, timeout=10)
    try:
        for sql, params in statements:
            query = f"EXPLAIN (ANALYZE, BUFFERS) {sql}"
            await connection.fetch(query, *params)  # warm the cache; keep the second plan
            plan = "\n".join(r[0] for r in await connection.fetch(query, *params))
            explained.statements.append((sql, plan))
    finally:
        await connection.close()
    return explained


def server_env(database_url: str, pycache: str) -> dict[str, str]:
    """The servers' environment: ours, minus every variable the service reads, plus the bench's.

    ``PYTHONDONTWRITEBYTECODE`` is dropped and ``PYTHONPYCACHEPREFIX`` set so
    that worker start-up imports compiled bytecode: without it, on a slow
    machine, uvicorn's 5 s worker health check can kill workers that are
    still importing, forever.
    """
    from todo_api.config import Settings

    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("VIRTUAL_ENV", None)  # set by `uv run --with ...`; the servers use the project env
    env.update(
        {
            "PYTHONPYCACHEPREFIX": pycache,
            "DATABASE_URL": database_url,
            "BETTER_AUTH_SECRET": BENCH_SECRET,
            "ENVIRONMENT": "production",
            "RATE_LIMIT_API": "100000000/minute",
            "LOG_LEVEL": "warning",
        }
    )
    return env
