"""Concurrent writes (issue 4): ``If-Match`` is atomic and no toggle is lost.

The requests run concurrently through the ASGI app, each in its own
transaction on its own connection, so on PostgreSQL they really race at the
row; writes lock the row (``SELECT ... FOR UPDATE``) before checking the ETag.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.conftest import TaskFactory
from tests.helpers import ApiUser


async def test_one_of_twenty_patches_with_the_same_etag_wins(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, title="contended")
    url = f"{alice.tasks_url}/{task['id']}"
    etag = (await client.get(url, headers=alice.headers)).headers["etag"]

    async def patch(n: int) -> httpx.Response:
        headers = {**alice.headers, "If-Match": etag}
        return await client.patch(url, json={"title": f"writer {n}"}, headers=headers)

    responses = await asyncio.gather(*(patch(n) for n in range(20)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: 19}, statuses
    winner = next(r for r in responses if r.status_code == 200)
    stored = (await client.get(url, headers=alice.headers)).json()["data"]
    assert stored["title"] == winner.json()["data"]["title"]


async def test_fifty_parallel_creates_make_fifty_tasks(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    async def create(n: int) -> httpx.Response:
        body = {"title": f"parallel {n}", "tags": ["shared", f"own-{n}"]}
        return await client.post(alice.tasks_url, json=body, headers=alice.headers)

    responses = await asyncio.gather(*(create(n) for n in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    ids = {r.json()["data"]["id"] for r in responses}
    assert len(ids) == 50
    listed = await client.get(alice.tasks_url, params={"page_size": 100}, headers=alice.headers)
    assert listed.json()["total"] == 50
    assert {t["id"] for t in listed.json()["data"]} == ids
    shared = await client.get(
        alice.tasks_url, params={"tag": "shared", "page_size": 100}, headers=alice.headers
    )
    assert shared.json()["total"] == 50


async def test_concurrent_toggles_are_never_lost(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice)
    url = f"{alice.tasks_url}/{task['id']}"
    before = (await client.get(url, headers=alice.headers)).headers["etag"]

    responses = await asyncio.gather(
        *(client.patch(f"{url}/complete", headers=alice.headers) for _ in range(11))
    )
    assert all(r.status_code == 200 for r in responses)
    # Each toggle saw the previous one: the states alternate, eleven flips end completed.
    states = Counter(r.json()["data"]["completed"] for r in responses)
    assert states == {True: 6, False: 5}, states
    final = await client.get(url, headers=alice.headers)
    assert final.json()["data"]["completed"] is True
    assert final.headers["etag"] != before
    assert len({r.headers["etag"] for r in responses}) == 11


async def test_parallel_replacements_with_the_same_new_tag_all_keep_it(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """Twenty PUTs at once, each giving its task the same tag no task had: every
    task ends with it, though all but one found it created by another writer
    after their statement began."""
    tasks = [await make_task(alice, title=f"t{n}") for n in range(20)]

    async def replace(n: int) -> httpx.Response:
        url = f"{alice.tasks_url}/{tasks[n]['id']}"
        body = {"title": f"t{n}", "tags": [f"own-{n}", "fresh"]}
        return await client.put(url, json=body, headers=alice.headers)

    responses = await asyncio.gather(*(replace(n) for n in range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    assert [r.json()["data"]["tags"] for r in responses] == [
        [f"own-{n}", "fresh"] for n in range(20)
    ]
    fresh = await client.get(
        alice.tasks_url, params={"tag": "fresh", "page_size": 100}, headers=alice.headers
    )
    assert fresh.json()["total"] == 20
