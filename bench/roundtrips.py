"""Database round trips per request: every route timed through a proxy that delays the database.

    uv run python bench/roundtrips.py [--delay-ms 3] [--samples 25]

A remote database (Neon, some milliseconds away) adds one network round
trip to a request for every exchange the request waits for. This bench
counts them. A TCP proxy on loopback, in a process of its own
(``--proxy``), forwards the service's connections to PostgreSQL and holds
every chunk for D ms in each direction. The service (``todo-api serve``, one
worker) runs against PostgreSQL through it, and one client times each route
sequentially, at D = 0 and at D = ``--delay-ms``. A bare protocol round
trip (asyncpg's ``SELECT 1``, prepared) through the same proxy calibrates
one round trip: the proxy's timers overshoot, so 2·D alone would overstate
the count.

    round trips = (median at D - median at 0) / (bare median at D - bare median at 0)

The proxy also counts the exchanges themselves: a chunk from the service
that arrives after the database last spoke on that connection starts a new
one (pipelined messages are one). Their number per request ("counted") does
not depend on the machine's load, which the timed figure does.

Needs the local PostgreSQL (``--pg-url``, loopback only); drops and recreates
``todo_bench_roundtrips``. Prints a Markdown table per route, and writes it to
``bench/results/<timestamp>-roundtrips.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import bench_setup as bs
import httpx
from bench_measure import HOST, RESULTS_DIR, Server, free_port, results_stem

DB_NAME = "todo_bench_roundtrips"


# --- the proxy (its own process) ----------------------------------------------


_exchanges = 0
"""Exchanges started by the service on every connection so far (the proxy process's count)."""


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    arrived: Callable[[], None],
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived, in order;
    ``arrived()`` is called as each chunk arrives."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def read() -> None:
        while chunk := await reader.read(65536):
            arrived()
            queue.put_nowait((time.monotonic() + delay, chunk))
        queue.put_nowait(None)

    reading = asyncio.create_task(read())
    try:
        while (item := await queue.get()) is not None:
            due, chunk = item
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
    finally:
        reading.cancel()
        writer.close()


async def _serve_proxy(listen_port: int, target_port: int, delay: float, count_port: int) -> None:
    async def connected(client_reader: asyncio.StreamReader, client_writer: Any) -> None:
        server_reader, server_writer = await asyncio.open_connection(HOST, target_port)
        database_spoke = True  # the service speaks first

        def from_service() -> None:
            global _exchanges
            nonlocal database_spoke
            if database_spoke:
                _exchanges += 1
                database_spoke = False

        def from_database() -> None:
            nonlocal database_spoke
            database_spoke = True

        with contextlib.suppress(ConnectionError):
            await asyncio.gather(
                _pump(client_reader, server_writer, delay, from_service),
                _pump(server_reader, client_writer, delay, from_database),
            )

    async def tell_count(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(str(_exchanges).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(connected, HOST, listen_port)
    counter = await asyncio.start_server(tell_count, HOST, count_port)
    async with server, counter:
        await asyncio.gather(server.serve_forever(), counter.serve_forever())


@dataclass(frozen=True, slots=True)
class Proxy:
    """The delaying proxy's port, and the port that tells its count of exchanges."""

    port: int
    count_port: int

    def exchanges(self) -> int:
        """Exchanges the service has started through the proxy so far."""
        with socket.create_connection((HOST, self.count_port), timeout=5) as connection:
            received = b""
            while chunk := connection.recv(64):
                received += chunk
        return int(received)


@contextlib.contextmanager
def delaying_proxy(target_port: int, delay_ms: float) -> Any:
    """A proxy process on free loopback ports; yields its ``Proxy``."""
    proxy = Proxy(free_port(), free_port())
    command = [
        sys.executable,
        __file__,
        "--proxy",
        str(proxy.port),
        str(target_port),
        str(delay_ms),
        str(proxy.count_port),
    ]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, proxy.count_port), timeout=0.2).close()
                break
            time.sleep(0.05)
        yield proxy
    finally:
        process.terminate()
        process.wait(10)


# --- the routes ---------------------------------------------------------------


@dataclass
class Route:
    """One request of the contract, built afresh for each sample (``n``)."""

    name: str
    method: str
    path: Callable[[int], str]
    body: Callable[[int], Any] | None = None
    headers: Callable[[int], dict[str, str]] | None = None
    expect: int = 200


def routes(user: bs.BenchUser, fresh_ids: list[int], other_list: int, cursor: str) -> list[Route]:
    """The routes, on ``user``'s seeded tasks; DELETE takes one of ``fresh_ids`` per sample.

    ``other_list`` is a second list of the user's (``add_other_list``), ``cursor``
    the ``next_cursor`` of the list's first page. The
    moves alternate between two places, so that every sample writes (a move
    to where the task already is writes nothing).
    """
    tasks = f"/api/{user.user_id}/tasks"
    lists = f"/api/{user.user_id}/lists"
    one = user.id_lo
    by_position = f"{tasks}?list_id={user.inbox_id}&parent_id=none&sort=position&order=asc"
    return [
        Route("list", "GET", lambda n: tasks),
        Route("list, status and tag", "GET", lambda n: f"{tasks}?status=pending&tag=work"),
        Route("list, one list by position", "GET", lambda n: by_position),
        Route("list, next cursor page", "GET", lambda n: f"{tasks}?cursor={cursor}"),
        Route("list, search", "GET", lambda n: f"{tasks}?q={bs.SEARCH_WORD}"),
        Route("list lists", "GET", lambda n: lists),
        Route("tags", "GET", lambda n: f"/api/{user.user_id}/tags"),
        Route("get", "GET", lambda n: f"{tasks}/{one}"),
        Route("get, 404", "GET", lambda n: f"{tasks}/999999999", expect=404),
        Route("profile (me)", "GET", lambda n: "/api/auth/me"),
        Route("PATCH profile", "PATCH", lambda n: "/api/auth/me", lambda n: {"name": f"n{n}"}),
        Route("health", "GET", lambda n: "/api/health"),
        Route(
            "sign-up (Argon2 hash)",
            "POST",
            lambda n: "/api/auth/signup",
            lambda n: {"email": f"rt-{time.monotonic_ns()}@example.com", "password": "pw-123456"},
            None,
            201,
        ),
        Route(
            "login, wrong password (Argon2)",
            "POST",
            lambda n: "/api/auth/login",
            lambda n: {"email": "bench-user@example.com", "password": "wrong"},
            None,
            401,
        ),
        Route(
            "create, no tags", "POST", lambda n: tasks, lambda n: {"title": f"rt {n}"}, None, 201
        ),
        Route(
            "create, 2 tags",
            "POST",
            lambda n: tasks,
            lambda n: {"title": f"rt {n}", "tags": ["work", "home"]},
            None,
            201,
        ),
        Route(
            "create, 1 new tag",
            "POST",
            lambda n: tasks,
            lambda n: {"title": f"rt {n}", "tags": [f"rt-{time.monotonic_ns()}"]},
            None,
            201,
        ),
        Route("PATCH title", "PATCH", lambda n: f"{tasks}/{one + 1}", lambda n: {"title": f"t{n}"}),
        Route(
            "PATCH, stale If-Match (412)",
            "PATCH",
            lambda n: f"{tasks}/{one + 1}",
            lambda n: {"title": "never"},
            lambda n: {"If-Match": '"0.0"'},
            412,
        ),
        Route("complete (toggle)", "PATCH", lambda n: f"{tasks}/{one + 2}/complete"),
        Route(
            "PUT, 1 tag",
            "PUT",
            lambda n: f"{tasks}/{one + 3}",
            lambda n: {"title": f"put {n}", "tags": ["work"]},
        ),
        Route("DELETE", "DELETE", lambda n: f"{tasks}/{fresh_ids[n]}", expect=204),
        Route(
            "create subtask",
            "POST",
            lambda n: tasks,
            lambda n: {"title": f"sub {n}", "parent_id": one},
            None,
            201,
        ),
        Route(
            "move task, after a sibling",
            "POST",
            lambda n: f"{tasks}/{one + 10}/move",
            lambda n: {"after_id": one + (20 if n % 2 else 30)},
        ),
        Route(
            "move task, last",
            "POST",
            lambda n: f"{tasks}/{one + (11 if n % 2 else 12)}/move",
            lambda n: {},
        ),
        Route(
            "move task to another list",
            "POST",
            lambda n: f"{tasks}/{one + 13}/move",
            lambda n: {"list_id": user.inbox_id if n % 2 else other_list},
        ),
        Route("create list", "POST", lambda n: lists, lambda n: {"name": f"rt {n}"}, None, 201),
        Route(
            "rename list", "PATCH", lambda n: f"{lists}/{other_list}", lambda n: {"name": f"r{n}"}
        ),
    ]


async def add_other_list(dsn: str, user: bs.BenchUser) -> int:
    """A second list of ``user``'s, last in their order (``position``'s default); its id."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        list_id: int = await connection.fetchval(
            "INSERT INTO lists (user_id, name, is_inbox, version, created_at, updated_at) "
            "VALUES ($1, 'Elsewhere', false, 1, now(), now()) RETURNING id",
            user.user_id,
        )
    finally:
        await connection.close()
    return list_id


async def reset(dsn: str, user: bs.BenchUser, other_list: int) -> None:
    """Undo what a measurement's writes added (tasks, lists, tags), so that both delays
    time the reads on the same data; the seeded tasks stay where the moves left them."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        async with connection.transaction():
            await connection.execute(
                "DELETE FROM tasks WHERE user_id = $1 AND id > $2", user.user_id, user.id_hi
            )
            await connection.execute(
                "UPDATE tasks SET list_id = $2 WHERE user_id = $1 AND list_id = $3",
                user.user_id,
                user.inbox_id,
                other_list,
            )
            await connection.execute(
                "DELETE FROM lists WHERE user_id = $1 AND NOT is_inbox AND id <> $2",
                user.user_id,
                other_list,
            )
            await connection.execute(
                "DELETE FROM tags WHERE user_id = $1 AND name LIKE 'rt-%'", user.user_id
            )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def time_route(client: httpx.Client, route: Route, samples: range) -> list[float]:
    """Seconds per request of ``route``, one at a time; raises on an unexpected status."""
    timings = []
    for n in samples:
        headers = route.headers(n) if route.headers else {}
        body = route.body(n) if route.body else None
        started = time.perf_counter()
        response = client.request(route.method, route.path(n), json=body, headers=headers)
        timings.append(time.perf_counter() - started)
        if response.status_code != route.expect:
            raise RuntimeError(f"{route.name}: {response.status_code} {response.text[:300]}")
    return timings


async def bare_round_trip(dsn: str, samples: int) -> list[float]:
    """Seconds per ``SELECT 1`` (prepared, so one protocol exchange) on one connection."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        for _ in range(5):
            await connection.fetchval("SELECT 1")
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            await connection.fetchval("SELECT 1")
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        await connection.close()


@dataclass
class Reading:
    """Seconds per request at one delay: the bare round trip's median, each route's timings;
    and each route's exchanges with the database per request, as the proxy counted them."""

    bare: float
    routes: dict[str, list[float]]
    exchanges: dict[str, float]


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def measure(
    args: argparse.Namespace, delay_ms: float, user: bs.BenchUser, other_list: int, log: Path
) -> Reading:
    """Start the proxy and the service behind it, and time the bare round trip and each route."""
    asyncio.run(reset(bs.admin_dsn(args.pg_url, DB_NAME), user, other_list))
    pg_port = int(args.pg_url.rsplit(":", 1)[1].split("/")[0])
    with delaying_proxy(pg_port, delay_ms) as proxy:
        database_url = f"postgresql://postgres@{HOST}:{proxy.port}/{DB_NAME}"
        bare = asyncio.run(bare_round_trip(database_url, args.samples))
        env = bs.server_env(database_url, str(RESULTS_DIR / ".pycache"))
        env["RATE_LIMIT_AUTH"] = "100000000/minute"  # sign-up and login are timed too
        server = Server("service", 1, env, log)
        server.start()
        try:
            auth = {"Authorization": f"Bearer {user.token}"}
            with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as client:
                fresh = [
                    client.post(f"/api/{user.user_id}/tasks", json={"title": "to delete"})
                    for _ in range(args.samples + args.warmup)
                ]
                fresh_ids = [response.json()["data"]["id"] for response in fresh]
                cursor = client.get(f"/api/{user.user_id}/tasks").json()["next_cursor"]
                timings, exchanges = {}, {}
                for route in routes(user, fresh_ids, other_list, cursor):
                    time_route(client, route, range(args.warmup))  # connections, caches
                    samples = range(args.warmup, args.warmup + args.samples)
                    before = proxy.exchanges()
                    timings[route.name] = time_route(client, route, samples)
                    exchanges[route.name] = (proxy.exchanges() - before) / args.samples
        finally:
            server.stop()
    return Reading(bare=statistics.median(bare), routes=timings, exchanges=exchanges)


def report(args: argparse.Namespace, at_zero: Reading, delayed: Reading) -> str:
    one = delayed.bare - at_zero.bare
    lines = [
        f"# Database round trips per request ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`uv run python bench/roundtrips.py --delay-ms {args.delay_ms:g} "
        f"--samples {args.samples}`: medians of {args.samples} sequential requests, "
        "1 worker, PostgreSQL through the delaying proxy.",
        "",
        f"One bare round trip: {at_zero.bare * 1000:.3f} ms at D = 0, "
        f"{delayed.bare * 1000:.3f} ms at D = {args.delay_ms:g} ms "
        f"(difference {one * 1000:.3f} ms).",
        "",
        "Counted: exchanges with the database per request, as the proxy saw them at "
        f"D = {args.delay_ms:g} (at D = 0 in brackets when it differs).",
        "",
        f"| route | p50 ms at D = 0 | p50 ms at D = {args.delay_ms:g} "
        f"| p99 ms at D = {args.delay_ms:g} | round trips | counted |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for name, timings in at_zero.routes.items():
        zero = statistics.median(timings)
        late = statistics.median(delayed.routes[name])
        p99 = percentile(delayed.routes[name], 99)
        counted = f"{delayed.exchanges[name]:.2f}"
        if abs(at_zero.exchanges[name] - delayed.exchanges[name]) >= 0.005:
            counted += f" ({at_zero.exchanges[name]:.2f})"
        lines.append(
            f"| {name} | {zero * 1000:.2f} | {late * 1000:.2f} | {p99 * 1000:.2f} "
            f"| {(late - zero) / one:.2f} | {counted} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--delay-ms", type=float, default=3.0, help="delay each way, D")
    parser.add_argument("--samples", type=int, default=25, help="timed requests per route")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per route first")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    stem = results_stem("roundtrips")
    log = stem.with_suffix(".log")
    asyncio.run(bs.recreate_database(args.pg_url, DB_NAME))
    direct = f"{args.pg_url}/{DB_NAME}"
    bs.migrate(direct, bs.server_env(direct, str(RESULTS_DIR / ".pycache")))
    dsn = bs.admin_dsn(args.pg_url, DB_NAME)
    seeded = asyncio.run(bs.seed(dsn, {"user": 1000}, timedelta(hours=2)))
    user = seeded.users["user"]
    other_list = asyncio.run(add_other_list(dsn, user))
    at_zero = measure(args, 0.0, user, other_list, log)
    delayed = measure(args, args.delay_ms, user, other_list, log)
    text = report(args, at_zero, delayed)
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--proxy":
        listen, target, delay = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) / 1000
        asyncio.run(_serve_proxy(listen, target, delay, int(sys.argv[5])))
    else:
        main()
