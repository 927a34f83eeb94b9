"""``DB_POOL_PRE_PING=true``: each checkout is tested first, including the task
routes' (they check connections out of the same pool to run them with asyncpg)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"db_pool_pre_ping": True}


async def test_task_routes_work_with_pre_ping(client: httpx.AsyncClient, alice: ApiUser) -> None:
    created = await client.post(
        alice.tasks_url, json={"title": "pinged", "tags": ["a"]}, headers=alice.headers
    )
    assert created.status_code == 201, created.text
    task_url = f"{alice.tasks_url}/{created.json()['data']['id']}"
    assert (await client.get(task_url, headers=alice.headers)).json()["data"]["tags"] == ["a"]
    listed = await client.get(alice.tasks_url, headers=alice.headers)
    assert listed.json()["total"] == 1
    completed = await client.patch(f"{task_url}/complete", headers=alice.headers)
    assert completed.json()["data"]["completed"] is True
