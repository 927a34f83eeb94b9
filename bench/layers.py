"""Where a request's CPU goes: the service against the baseline, layer by layer.

In-process and without HTTP: each app is called as ASGI directly, 32 requests
at a time on one event loop (uvloop), and this process's CPU time is divided
by the number of requests. Four apps, alternating in each of ``--rounds``
rounds, medians reported:

* ``baseline``: ``bench/baseline/app.py`` (Starlette, asyncpg, orjson, PyJWT);
* ``service functions``: the service's own ``tasks.service`` functions (its
  statements, compiled by SQLAlchemy and run by asyncpg, and its row
  handling) under a bare Starlette route with
  orjson, no authentication, no middleware: what the data layer costs;
* ``+ FastAPI``: the same functions behind FastAPI routes with path
  parameter validation and a response dict, still no middleware or
  authentication: what FastAPI's request handling adds;
* ``service, no middleware``: ``create_app()`` with its six middleware
  layers removed (request id, access log, CORS, security headers,
  ``Content-Length`` limit, error handler): authentication, owner check,
  rate limit and validation, but no middleware;
* ``service``: ``create_app()``, everything.

The differences between adjacent columns are the cost of each layer. Run:

    uv run python bench/layers.py [--requests 640] [--rounds 5]

It drops and recreates the database ``todo_bench_layers`` on the local
PostgreSQL server (``--pg-url``, loopback only) and seeds it as ``run.py``
does (a 1,000-task user to read, another to write to).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import bench_setup as bs
import orjson
import uvloop
from fastapi import FastAPI
from fastapi import Path as PathParam
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from todo_api.config import Settings, load_settings
from todo_api.kit.conditional import Precondition
from todo_api.kit.cursors import CursorSigner
from todo_api.kit.database import Database
from todo_api.kit.database_url import normalise_database_url
from todo_api.kit.engine import create_engine
from todo_api.main import close_resources, create_app
from todo_api.tasks import service
from todo_api.tasks.schemas import TaskCreate, TaskQuery

CURSORS = CursorSigner(bs.BENCH_SECRET)
"""Signs the list's next_cursor, as the service's resources do."""
ASGIApp = Callable[..., Awaitable[None]]
Call = Callable[[], Awaitable[int]]
DATABASE = "todo_bench_layers"
CREATE_BODY = b'{"title":"bench task","priority":"high","tags":["work","home"]}'
SCENARIOS = ("list", "get", "create", "complete")
TaskIdParam = Annotated[int, PathParam(ge=1)]


def asgi_caller(app: ASGIApp) -> Callable[..., Awaitable[int]]:
    """``call(method, path, headers, body)`` → the response status, through ``app``."""

    async def call(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        received = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the response is built
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    return call


def functions_apps(url: str) -> tuple[Starlette, FastAPI, Any]:
    """The service's functions under bare Starlette and under bare FastAPI (no auth)."""
    target = normalise_database_url(url)
    database = Database(create_engine(target, pool_size=20))

    def json(body: Any, status: int = 200) -> Response:
        return Response(
            orjson.dumps(body, option=orjson.OPT_UTC_Z), status, None, "application/json"
        )

    async def list_route(request: Request) -> Response:
        tasks, total, following = await service.list_tasks(
            database, request.path_params["user_id"], TaskQuery(), CURSORS
        )
        page = {"data": tasks, "total": total, "page": 1, "page_size": 20}
        return json({**page, "next_cursor": following})

    async def get_route(request: Request) -> Response:
        params = request.path_params
        stored = await service.get_task(database, params["user_id"], params["task_id"])
        return json({"data": stored.fields})

    async def create_route(request: Request) -> Response:
        data = TaskCreate.model_validate_json(await request.body())
        stored = await service.create_task(database, request.path_params["user_id"], data)
        return json({"data": stored.fields}, 201)

    async def complete_route(request: Request) -> Response:
        params = request.path_params
        stored = await service.complete_task(
            database, params["user_id"], params["task_id"], None, Precondition()
        )
        return json({"data": stored.fields})

    starlette = Starlette(
        routes=[
            Route("/api/{user_id}/tasks", list_route, methods=["GET"]),
            Route("/api/{user_id}/tasks", create_route, methods=["POST"]),
            Route("/api/{user_id}/tasks/{task_id:int}", get_route, methods=["GET"]),
            Route("/api/{user_id}/tasks/{task_id:int}/complete", complete_route, methods=["PATCH"]),
        ]
    )
    fastapi = FastAPI()

    @fastapi.get("/api/{user_id}/tasks")
    async def fastapi_list(user_id: str) -> Response:
        tasks, total, following = await service.list_tasks(database, user_id, TaskQuery(), CURSORS)
        page = {"data": tasks, "total": total, "page": 1, "page_size": 20}
        return json({**page, "next_cursor": following})

    @fastapi.post("/api/{user_id}/tasks", status_code=201)
    async def fastapi_create(user_id: str, body: TaskCreate) -> Response:
        stored = await service.create_task(database, user_id, body)
        return json({"data": stored.fields}, 201)

    @fastapi.get("/api/{user_id}/tasks/{task_id}")
    async def fastapi_get(user_id: str, task_id: TaskIdParam) -> Response:
        return json({"data": (await service.get_task(database, user_id, task_id)).fields})

    @fastapi.patch("/api/{user_id}/tasks/{task_id}/complete")
    async def fastapi_complete(user_id: str, task_id: TaskIdParam) -> Response:
        stored = await service.complete_task(database, user_id, task_id, None, Precondition())
        return json({"data": stored.fields})

    return starlette, fastapi, database


def scenario_calls(app: ASGIApp, users: dict[str, bs.BenchUser], seed: int) -> dict[str, Call]:
    call = asgi_caller(app)
    reader, writer = users["u1k"], users["writer"]
    read_auth = [(b"authorization", f"Bearer {reader.token}".encode())]
    write_auth = [(b"authorization", f"Bearer {writer.token}".encode())]
    json_body = [(b"content-type", b"application/json")]
    rng = random.Random(seed)
    return {
        "list": lambda: call("GET", f"/api/{reader.user_id}/tasks", read_auth, b""),
        "get": lambda: call(
            "GET",
            f"/api/{reader.user_id}/tasks/{rng.randint(reader.id_lo, reader.id_hi)}",
            read_auth,
            b"",
        ),
        "create": lambda: call(
            "POST", f"/api/{writer.user_id}/tasks", write_auth + json_body, CREATE_BODY
        ),
        "complete": lambda: call(
            "PATCH",
            f"/api/{writer.user_id}/tasks/{rng.randint(writer.id_lo, writer.id_hi)}/complete",
            write_auth,
            b"",
        ),
    }


async def cpu_per_request(calls: Call, requests: int, concurrency: int) -> float:
    """Microseconds of this process's CPU per request, ``concurrency`` at a time."""

    async def client() -> None:
        for _ in range(requests // concurrency):
            status = await calls()
            if status not in (200, 201):
                raise SystemExit(f"unexpected status {status}")

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return (time.process_time() - started) / (requests // concurrency * concurrency) * 1e6


async def seeded_database(pg_url: str) -> tuple[str, bs.SeedResult]:
    """Recreate ``todo_bench_layers``, migrate it and seed a 1,000-task user to
    read and another to write to: its SQLAlchemy URL and the seed."""
    dsn = bs.admin_dsn(pg_url, DATABASE)
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    await bs.recreate_database(pg_url, DATABASE)
    bs.migrate(url, dict(os.environ))
    return url, await bs.seed(dsn, {"u1k": 1000, "writer": 1000}, timedelta(hours=2))


def service_settings(url: str) -> Settings:
    """The service's settings as the bench runs it: production, no effective rate limit."""
    return load_settings(
        database_url=url,
        environment="production",
        better_auth_secret=bs.BENCH_SECRET,
        rate_limit_api="100000000/minute",
        log_level="warning",
    )


@asynccontextmanager
async def scenario_call(pg_url: str, scenario: str) -> AsyncIterator[Call]:
    """One scenario's call into ``create_app()`` on a freshly seeded database
    (``seeded_database``); the app's resources are closed at the end.

    Shared by ``route_cpu.py`` and ``route_instructions.py``.
    """
    url, seeded = await seeded_database(pg_url)
    app = create_app(service_settings(url))
    try:
        yield scenario_calls(app, seeded.users, 1)[scenario]
    finally:
        await close_resources(app)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--concurrency`` and ``--pg-url``, shared with the two ``route_*.py`` scripts."""
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")


async def main(args: argparse.Namespace) -> None:
    url, seeded = await seeded_database(args.pg_url)

    os.environ.update({"DATABASE_URL": url, "BETTER_AUTH_SECRET": bs.BENCH_SECRET})
    sys.path.insert(0, str(Path(__file__).parent / "baseline"))
    import app as baseline  # reads the environment above when imported

    settings = service_settings(url)
    the_service = create_app(settings)
    no_middleware = create_app(settings)
    no_middleware.user_middleware.clear()  # before the first call builds the stack
    starlette, fastapi, functions_database = functions_apps(url)
    baseline_lifespan: AbstractAsyncContextManager[None] = baseline.lifespan(baseline.app)
    await baseline_lifespan.__aenter__()
    apps: dict[str, ASGIApp] = {
        "baseline": baseline.app,
        "service functions": starlette,
        "+ FastAPI": fastapi,
        "service, no middleware": no_middleware,
        "service": the_service,
    }
    results: dict[tuple[str, str], list[float]] = {}
    try:
        calls = {name: scenario_calls(app, seeded.users, 1) for name, app in apps.items()}
        for app_calls in calls.values():  # warm-up: pools, statement caches
            for scenario in SCENARIOS:
                await cpu_per_request(app_calls[scenario], 64, args.concurrency)
        for _ in range(args.rounds):
            for scenario in SCENARIOS:
                for name in apps:
                    value = await cpu_per_request(
                        calls[name][scenario], args.requests, args.concurrency
                    )
                    results.setdefault((scenario, name), []).append(value)
    finally:
        await baseline_lifespan.__aexit__(None, None, None)
        await close_resources(the_service)
        await close_resources(no_middleware)
        await functions_database.dispose()

    print(
        f"\nCPU µs per request, in-process, {args.concurrency} concurrent, "
        f"median of {args.rounds} rounds of {args.requests}\n"
    )
    print("| scenario | " + " | ".join(apps) + " | service / baseline |")
    print("|---|" + "--:|" * (len(apps) + 1))
    for scenario in SCENARIOS:
        medians = [statistics.median(results[(scenario, name)]) for name in apps]
        cells = " | ".join(f"{value:,.0f}" for value in medians)
        print(f"| {scenario} | {cells} | {medians[-1] / medians[0]:.2f} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median)")
    add_common_arguments(parser)
    return parser.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse_args()))
