"""``GET /api/health`` (api.md, "Health"): for load balancers, no authentication."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import make_settings
from todo_api import __version__
from todo_api.main import close_resources, create_app

HEALTH = "/api/health"


async def test_health_is_ok_when_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get(HEALTH)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "version": __version__}
    assert response.headers["content-type"].startswith("application/json")
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_health_ignores_credentials(client: httpx.AsyncClient, authorization: str) -> None:
    response = await client.get(HEALTH, headers={"Authorization": authorization})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


async def test_health_version_is_the_documented_api_version(client: httpx.AsyncClient) -> None:
    health = await client.get(HEALTH)
    document = await client.get("/openapi.json")

    assert health.json()["version"] == document.json()["info"]["version"]


@pytest.fixture
async def offline_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose PostgreSQL does not exist (connection refused)."""
    app = create_app(
        make_settings("postgresql://postgres@127.0.0.1:1/nope", db_connect_timeout_seconds=2)
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await close_resources(app)


async def test_health_is_degraded_503_when_database_is_unreachable(
    offline_client: httpx.AsyncClient,
) -> None:
    started = time.monotonic()

    response = await offline_client.get(HEALTH)

    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json() == {
        "status": "degraded",
        "database": "unreachable",
        "version": __version__,
    }
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-request-id"]
    assert elapsed < 6, f"took {elapsed:.1f}s"


async def test_health_stays_degraded_on_repeated_checks(offline_client: httpx.AsyncClient) -> None:
    """A failed check leaves nothing broken behind: the next one answers the same way."""
    first = await offline_client.get(HEALTH)
    second = await offline_client.get(HEALTH)

    assert (first.status_code, second.status_code) == (503, 503)
    assert second.json()["database"] == "unreachable"
