"""Verified-token cache: CPU per list request with it and without it (issue 3).

In-process (httpx over ASGI, so the client's CPU is included and the same in
both arms), against a fresh PostgreSQL database with one user of 1,000
tasks. The arms alternate for ``--rounds`` rounds and the medians and their
ratio are printed. Run:

    uv run python bench/token_cache.py [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg  # type: ignore[import-untyped]
import httpx
import jwt
from sqlalchemy import insert, select

from todo_api.auth.models import User
from todo_api.auth.tokens import issue_access_token
from todo_api.config import load_settings
from todo_api.kit.columns import utcnow
from todo_api.lists.models import LISTS
from todo_api.main import close_resources, create_app
from todo_api.migrate import upgrade_to_head
from todo_api.resources import app_resources
from todo_api.tasks.models import Priority, Task

SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "todo_bench_token_cache"
SECRET = "bench-token-cache-secret-0123456789abcdef"
USER_ID = "B" * 32


async def _fresh_database() -> str:
    connection = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()
    return f"{SERVER}/{DATABASE}"


async def _cpu_per_request(url: str, cache_size: int, requests: int) -> float:
    """Microseconds of this process's CPU per ``GET /api/{user}/tasks``."""
    settings = load_settings(
        database_url=url,
        environment="production",
        better_auth_secret=SECRET,
        rate_limit_api="100000000/minute",
        token_cache_size=cache_size,
        log_level="warning",
    )
    app = create_app(settings)
    token, _ = issue_access_token(user_id=USER_ID, email=None, name=None, settings=settings)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(50):  # warm-up: pool, statement caches
                assert (await client.get(f"/api/{USER_ID}/tasks", headers=headers)).is_success
            started = time.process_time()
            for _ in range(requests):
                response = await client.get(f"/api/{USER_ID}/tasks", headers=headers)
                assert response.status_code == 200
                assert len(response.json()["data"]) == 20
            return (time.process_time() - started) / requests * 1e6
    finally:
        await close_resources(app)


def _verification_costs() -> None:
    """µs per verification: HS256, EdDSA (Better Auth's default), and a cache hit."""
    import timeit

    from cachetools import TLRUCache
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    claims = {"sub": USER_ID, "exp": int(time.time()) + 900}
    hs = jwt.encode(claims, SECRET, algorithm="HS256")
    key = Ed25519PrivateKey.generate()
    ed = jwt.encode(claims, key, algorithm="EdDSA")
    cache: TLRUCache[str, object] = TLRUCache(10_000, ttu=lambda _k, _v, now: now + 900)
    cache[hs] = claims
    costs = {
        "HS256 decode": lambda: jwt.decode(hs, SECRET, algorithms=["HS256"]),
        "EdDSA decode": lambda: jwt.decode(ed, key.public_key(), algorithms=["EdDSA"]),
        "cache hit": lambda: cache.get(hs),
    }
    print("| verification | µs each (best of 5 x 2,000) |")
    print("|---|--:|")
    for name, call in costs.items():
        best = min(timeit.repeat(call, number=2_000, repeat=5)) / 2_000 * 1e6
        print(f"| {name} | {best:.1f} |")


async def main(requests: int, rounds: int) -> None:
    _verification_costs()
    url = await _fresh_database()
    await asyncio.to_thread(upgrade_to_head, url)
    settings = load_settings(database_url=url, environment="test", better_auth_secret=SECRET)
    app = create_app(settings)
    async with app_resources(app).database.engine.begin() as connection:
        now = utcnow()
        await connection.execute(
            insert(User.__table__).values(  # type: ignore[attr-defined]
                id=USER_ID, created_at=now, updated_at=now
            )
        )
        # The inbox is made with the user (a trigger, migration 0003); every task goes
        # there, last (``position``'s column default: creation order).
        inbox = select(LISTS.c.id).where(LISTS.c.user_id == USER_ID, LISTS.c.is_inbox)
        inbox_id = (await connection.execute(inbox)).scalar_one()
        await connection.execute(
            insert(Task.__table__),  # type: ignore[attr-defined]
            [
                {
                    "user_id": USER_ID,
                    "list_id": inbox_id,
                    "title": f"task {n}",
                    "completed": n % 3 == 0,
                    "priority": list(Priority)[n % 3],
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(1000)
            ],
        )
    await close_resources(app)

    arms: dict[str, list[float]] = {"cache on (10,000)": [], "cache off (0)": []}
    for _ in range(rounds):
        arms["cache on (10,000)"].append(await _cpu_per_request(url, 10_000, requests))
        arms["cache off (0)"].append(await _cpu_per_request(url, 0, requests))
    print(f"{requests} list requests per run, {rounds} rounds, CPU µs per request")
    print("| TOKEN_CACHE_SIZE | runs | median |")
    print("|---|---|--:|")
    for name, values in arms.items():
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"| {name} | {runs} | {statistics.median(values):,.0f} |")
    on, off = (statistics.median(v) for v in arms.values())
    print(f"ratio on/off: {on / off:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.rounds))
