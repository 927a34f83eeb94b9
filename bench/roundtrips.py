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
from bench_measure import BENCH_DIR, HOST, Server, free_port

DB_NAME = "todo_bench_roundtrips"
RESULTS = BENCH_DIR / "results"


# --- the proxy (its own process) ----------------------------------------------


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived, in order."""
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def read() -> None:
        while chunk := await reader.read(65536):
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


async def _serve_proxy(listen_port: int, target_port: int, delay: float) -> None:
    async def connected(client_reader: asyncio.StreamReader, client_writer: Any) -> None:
        server_reader, server_writer = await asyncio.open_connection(HOST, target_port)
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(
                _pump(client_reader, server_writer, delay),
                _pump(server_reader, client_writer, delay),
            )

    server = await asyncio.start_server(connected, HOST, listen_port)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def delaying_proxy(target_port: int, delay_ms: float) -> Any:
    """A proxy process on a free loopback port; yields the port."""
    port = free_port()
    command = [sys.executable, __file__, "--proxy", str(port), str(target_port), str(delay_ms)]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, port), timeout=0.2).close()
                break
            time.sleep(0.05)
        yield port
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


def routes(user: bs.BenchUser, fresh_ids: list[int]) -> list[Route]:
    """The routes, on ``user``'s seeded tasks; DELETE takes one of ``fresh_ids`` per sample."""
    tasks = f"/api/{user.user_id}/tasks"
    one = user.id_lo
    return [
        Route("list", "GET", lambda n: tasks),
        Route("list, status and tag", "GET", lambda n: f"{tasks}?status=pending&tag=work"),
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
    ]


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
    """Seconds per request at one delay: the bare round trip's median, each route's timings."""

    bare: float
    routes: dict[str, list[float]]


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def measure(args: argparse.Namespace, delay_ms: float, user: bs.BenchUser, log: Path) -> Reading:
    """Start the proxy and the service behind it, and time the bare round trip and each route."""
    pg_port = int(args.pg_url.rsplit(":", 1)[1].split("/")[0])
    with delaying_proxy(pg_port, delay_ms) as proxy_port:
        database_url = f"postgresql://postgres@{HOST}:{proxy_port}/{DB_NAME}"
        bare = asyncio.run(bare_round_trip(database_url, args.samples))
        env = bs.server_env(database_url, str(RESULTS / ".pycache"))
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
                timings = {}
                for route in routes(user, fresh_ids):
                    time_route(client, route, range(args.warmup))  # connections, caches
                    samples = range(args.warmup, args.warmup + args.samples)
                    timings[route.name] = time_route(client, route, samples)
        finally:
            server.stop()
    return Reading(bare=statistics.median(bare), routes=timings)


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
        f"| route | p50 ms at D = 0 | p50 ms at D = {args.delay_ms:g} "
        f"| p99 ms at D = {args.delay_ms:g} | round trips |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, timings in at_zero.routes.items():
        zero = statistics.median(timings)
        late = statistics.median(delayed.routes[name])
        p99 = percentile(delayed.routes[name], 99)
        lines.append(
            f"| {name} | {zero * 1000:.2f} | {late * 1000:.2f} | {p99 * 1000:.2f} "
            f"| {(late - zero) / one:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--delay-ms", type=float, default=3.0, help="delay each way, D")
    parser.add_argument("--samples", type=int, default=25, help="timed requests per route")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per route first")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"{stamp}-roundtrips.log"
    asyncio.run(bs.recreate_database(args.pg_url, DB_NAME))
    direct = f"{args.pg_url}/{DB_NAME}"
    bs.migrate(direct, bs.server_env(direct, str(RESULTS / ".pycache")))
    seeded = asyncio.run(
        bs.seed(bs.admin_dsn(args.pg_url, DB_NAME), {"user": 1000}, timedelta(hours=2))
    )
    user = seeded.users["user"]
    at_zero = measure(args, 0.0, user, log)
    delayed = measure(args, args.delay_ms, user, log)
    text = report(args, at_zero, delayed)
    (RESULTS / f"{stamp}-roundtrips.md").write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--proxy":
        listen, target, delay = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) / 1000
        asyncio.run(_serve_proxy(listen, target, delay))
    else:
        main()
