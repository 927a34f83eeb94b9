"""The task routes through PgBouncer in transaction mode, as behind Neon's `-pooler` host.

A real PgBouncer (Debian's, 1.18: no protocol-level prepared statements)
with two server connections in front of the test database; the app's pool
of 20 and 40 concurrent clients share them, so consecutive statements of one
request, and a statement's prepare and its execution, could land on
different server connections if anything depended on that. The app's engine
is built for a `-pooler` host (what ``normalise_database_url`` gives Neon's
pooler) and pointed at this PgBouncer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL, UserFactory
from tests.processes import pgbouncer, pgbouncer_unavailable
from todo_api.auth.service import UserProvisioner
from todo_api.kit.database import Database
from todo_api.kit.database_url import DatabaseTarget, normalise_database_url
from todo_api.kit.engine import create_engine
from todo_api.resources import app_resources

_reason = pgbouncer_unavailable()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")

CLIENTS = 40
ROUNDS = 3


@pytest.fixture
async def pooled_app(app: Any, backend: str) -> AsyncIterator[Any]:
    """``app`` with its engine behind PgBouncer (the accounts keep the direct one)."""
    if backend != "postgresql":
        pytest.skip("PgBouncer is a PostgreSQL pooler")
    direct = make_url(TEST_DATABASE_URL)
    with pgbouncer(direct.host or "127.0.0.1", direct.port or 5432, server_connections=2) as port:
        as_neon_pooler = normalise_database_url(
            direct.set(host="ep-test-pooler.example.invalid").render_as_string(False)
        )
        assert as_neon_pooler.pooler
        target = DatabaseTarget(
            url=as_neon_pooler.url.set(host="127.0.0.1", port=port),
            connect_args=as_neon_pooler.connect_args,
            pooler=True,
        )
        own = app_resources(app)
        through_pgbouncer = Database(create_engine(target, pool_size=20))
        app.state.resources = replace(
            own, database=through_pgbouncer, provisioner=UserProvisioner(through_pgbouncer)
        )
        try:
            yield app
        finally:
            await through_pgbouncer.dispose()
            app.state.resources = own


async def test_task_routes_work_through_pgbouncer_in_transaction_mode(
    pooled_app: Any, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()

    async def one_client(number: int) -> list[int]:
        created = await client.post(
            user.tasks_url,
            json={"title": f"pooled {number}", "tags": ["pooled", f"t{number % 3}"]},
            headers=user.headers,
        )
        statuses = [created.status_code]
        task_url = f"{user.tasks_url}/{created.json()['data']['id']}"
        for _ in range(ROUNDS):
            for response in (
                await client.get(user.tasks_url, headers=user.headers),
                await client.get(task_url, headers=user.headers),
                await client.patch(f"{task_url}/complete", headers=user.headers),
                await client.get(
                    user.tasks_url, params={"tag": "pooled", "q": "pooled"}, headers=user.headers
                ),
            ):
                statuses.append(response.status_code)
        return statuses

    results = await asyncio.gather(*(one_client(number) for number in range(CLIENTS)))

    assert Counter(status for statuses in results for status in statuses) == {
        201: CLIENTS,
        200: CLIENTS * ROUNDS * 4,
    }
    completed = await client.get(
        user.tasks_url, params={"status": "completed", "page_size": 100}, headers=user.headers
    )
    assert completed.json()["total"] == CLIENTS  # toggled three times each: completed
    assert all(task["tags"][0] == "pooled" for task in completed.json()["data"])
