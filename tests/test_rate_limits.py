"""Rate limits (api.md, "Limits"; issue 4).

In one process with memory counters, across two real ``todo-api serve``
processes sharing a real Redis, and with Redis gone (fail open).
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

import httpx
import pytest

from tests.conftest import SECRET
from tests.helpers import ApiUser, assert_error
from tests.processes import todo_api_server
from todo_api.migrate import upgrade_to_head

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reason() -> str | None:
    host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return None
    except OSError as exc:
        return f"no Redis at {REDIS_URL}: {exc}"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_api": "5/minute", "rate_limit_auth": "3/minute"}


def _assert_headers(response: httpx.Response, policy: str, quota: int) -> None:
    assert response.headers["ratelimit-policy"] == f'"{policy}";q={quota};w=60'
    remaining = response.headers["ratelimit"]
    assert remaining.startswith(f'"{policy}";r=')
    assert int(remaining.split(";t=")[1]) in range(0, 61)


async def test_api_limit_per_user_with_headers(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    for n in range(5):
        response = await client.get(alice.tasks_url, headers=alice.headers)
        assert response.status_code == 200
        _assert_headers(response, "api", 5)
        assert f";r={4 - n};" in response.headers["ratelimit"]
    refused = await client.get(alice.tasks_url, headers=alice.headers)
    assert_error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    _assert_headers(refused, "api", 5)
    # Bob has his own count.
    assert (await client.get(bob.tasks_url, headers=bob.headers)).status_code == 200


async def test_refused_requests_do_not_reach_the_route(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for _ in range(5):
        assert (await client.get(alice.tasks_url, headers=alice.headers)).status_code == 200
    refused = await client.post(alice.tasks_url, json={"title": "x"}, headers=alice.headers)
    assert_error(refused, 429, "RATE_LIMITED")


async def test_rate_limit_comes_after_authentication(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for _ in range(8):
        assert_error(await client.get(alice.tasks_url), 401, "UNAUTHORIZED")
    assert (await client.get(alice.tasks_url, headers=alice.headers)).status_code == 200


# Per account and address: tests/test_hostile_requests.py, ``TestLockout``.


async def test_login_limited_by_address_across_emails(client: httpx.AsyncClient) -> None:
    for n in range(3):
        body = {"email": f"user{n}@example.com", "password": "wrong-password"}
        assert (await client.post("/api/auth/login", json=body)).status_code == 401
    body = {"email": "user99@example.com", "password": "wrong-password"}
    assert_error(await client.post("/api/auth/login", json=body), 429, "RATE_LIMITED")


async def test_signup_and_token_share_the_auth_limit(client: httpx.AsyncClient) -> None:
    email = f"{secrets.token_hex(4)}@example.com"
    signup = await client.post(
        "/api/auth/signup", json={"email": email, "password": "long-password"}
    )
    assert signup.status_code == 201
    form = {"username": email, "password": "long-password"}
    assert (await client.post("/api/auth/token", data=form)).status_code == 200
    assert (await client.post("/api/auth/token", data=form)).status_code == 200
    assert_error(await client.post("/api/auth/token", data=form), 429, "RATE_LIMITED")


async def test_health_is_not_limited(client: httpx.AsyncClient) -> None:
    for _ in range(10):
        response = await client.get("/api/health")
        assert response.status_code == 200
        assert "ratelimit" not in response.headers


class TestRedisGone:
    """With the counter storage unreachable, requests are served (fail open)."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit_api": "2/minute", "rate_limit_storage_url": "redis://127.0.0.1:1/0"}

    async def test_requests_are_served_without_limit_headers(
        self, client: httpx.AsyncClient, alice: ApiUser
    ) -> None:
        for _ in range(4):
            response = await client.get(alice.tasks_url, headers=alice.headers)
            assert response.status_code == 200
            assert "ratelimit" not in response.headers


@pytest.mark.slow
@pytest.mark.skipif(_redis_reason() is not None, reason=_redis_reason() or "")
def test_two_processes_share_one_limit_through_redis(tmp_path: Any) -> None:
    """Two real server processes, one Redis: one limit, not two."""
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade_to_head(database_url)
    env = {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "RATE_LIMIT_STORAGE_URL": REDIS_URL,
        "RATE_LIMIT_API": "6/minute",
        "RATE_LIMIT_AUTH": "100/minute",
        "LOG_LEVEL": "warning",
    }
    with todo_api_server(env) as first, todo_api_server(env) as second:
        email = f"{secrets.token_hex(6)}@example.com"
        signed_up = httpx.post(
            f"{first.url}/api/auth/signup", json={"email": email, "password": "long-password"}
        )
        assert signed_up.status_code == 201, signed_up.text
        data = signed_up.json()["data"]
        headers = {"Authorization": f"Bearer {data['access_token']}"}
        path = f"/api/{data['user']['id']}/tasks"
        statuses = [
            httpx.get(f"{server.url}{path}", headers=headers).status_code
            for server in [first, second] * 4
        ]
        assert statuses == [200] * 6 + [429] * 2, statuses
