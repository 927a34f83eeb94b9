"""Hostile requests, round two (api.md "Conventions", "Details that clients rely on",
"Limits"): the cost of refusing a request is bounded by what the contract
allows, not by what the client sends; no input is a 5xx; attempts from
elsewhere do not lock an owner out.

Each class of fault an attacker found has a test here, on both databases.
Bounds on time are generous (a slow CI machine passes them by far); they
catch a cost that grows with the request again, which took seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import SECRET
from tests.helpers import ApiUser, assert_error
from tests.processes import todo_api_server
from todo_api.auth.schemas import normalise_email
from todo_api.kit.errors import MAX_REPORTED_ERRORS
from todo_api.kit.ratelimit import address_key
from todo_api.migrate import upgrade_to_head
from todo_api.resources import app_resources

MAX_ERROR_BODY_BYTES = 64 * 1024
"""No error answer is larger (issue's rule: a 422 is a few KiB whatever the request)."""

JSON = {"Content-Type": "application/json"}


def assert_small_422(response: httpx.Response) -> dict[str, Any]:
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert len(response.content) < MAX_ERROR_BODY_BYTES
    assert sum(len(messages) for messages in body["field_errors"].values()) <= MAX_REPORTED_ERRORS
    return body


async def timed_with_health(
    client: httpx.AsyncClient, request: Any
) -> tuple[httpx.Response, float]:
    """Send ``request`` (a coroutine) and, while it runs, ``GET /api/health``;
    the answer to ``request`` and the seconds health waited."""

    async def health() -> float:
        await asyncio.sleep(0)  # let the hostile request start first
        started = time.perf_counter()
        assert (await client.get("/api/health")).status_code == 200
        return time.perf_counter() - started

    response, waited = await asyncio.gather(request, health())
    return response, waited


# --- cost amplification ---------------------------------------------------------------------


async def test_a_huge_list_of_invalid_tags_is_refused_at_the_eleventh(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    body = json.dumps({"title": "x", "tags": [1] * 300_000})
    request = client.post(alice.tasks_url, content=body, headers={**alice.headers, **JSON})

    response, health_waited = await timed_with_health(client, request)

    errors = assert_small_422(response)["field_errors"]
    assert errors == {"tags": ["List should have at most 10 distinct tags"]}
    assert health_waited < 1.0


async def test_repeated_tags_are_validated_once_each(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """90,000 spellings of two tags: valid (two distinct tags), stored once each."""
    tags = ["Home", " home", "work "] * 30_000
    body = json.dumps({"title": "x", "tags": tags})
    request = client.post(alice.tasks_url, content=body, headers={**alice.headers, **JSON})

    response, health_waited = await timed_with_health(client, request)

    assert response.status_code == 201, response.text[:300]
    assert response.json()["data"]["tags"] == ["home", "work"]
    assert health_waited < 1.0


async def test_thousands_of_unknown_keys_without_a_token_get_a_small_422(
    client: httpx.AsyncClient,
) -> None:
    body = json.dumps({f"k{n}": 0 for n in range(70_000)})
    request = client.post("/api/auth/login", content=body, headers=JSON)

    response, health_waited = await timed_with_health(client, request)

    error = assert_small_422(response)
    assert "first 20" in error["detail"]
    assert error["field_errors"]["email"] == ["Field required"]
    assert health_waited < 1.0


async def test_a_megabyte_field_name_is_cut_in_the_answer(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    body = json.dumps({"title": "x", "k" * 900_000: 1})
    response = await client.post(alice.tasks_url, content=body, headers={**alice.headers, **JSON})

    errors = assert_small_422(response)["field_errors"]
    (name,) = errors
    assert name.startswith("kkkk") and len(name) < 100
    assert errors[name] == ["Extra inputs are not permitted"]


async def test_json_nested_thousands_deep_is_422_body(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    deep = b'{"title": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for url, headers in (
        ("/api/auth/signup", JSON),
        (alice.tasks_url, {**alice.headers, **JSON}),
    ):
        response = await client.post(url, content=deep, headers=headers)
        errors = assert_small_422(response)["field_errors"]
        assert list(errors) == ["body"]
        assert errors["body"][0].startswith("Body is not valid JSON")


# --- text that no database stores: NUL, lone surrogates; times without a UTC ---------------


LONE_SURROGATE = "\ud800"
"""A lone high surrogate: ``json.dumps`` sends it as the escape ``"\\ud800"``."""


async def test_lone_surrogate_in_signup_name_is_422_before_any_hash(
    client: httpx.AsyncClient,
) -> None:
    signup = {"email": "s@example.com", "password": "long-password", "name": LONE_SURROGATE}
    response = await client.post("/api/auth/signup", content=json.dumps(signup), headers=JSON)

    assert list(assert_small_422(response)["field_errors"]) == ["body"]
    login = {"email": "s@example.com", "password": "long-password"}
    assert_error(await client.post("/api/auth/login", json=login), 401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize(
    "change",
    [
        {"title": f"a{LONE_SURROGATE}b"},
        {"description": LONE_SURROGATE},
        {"tags": ["ok", LONE_SURROGATE]},
    ],
)
async def test_lone_surrogates_in_task_text_are_422(
    client: httpx.AsyncClient, alice: ApiUser, change: dict[str, Any]
) -> None:
    headers = {**alice.headers, **JSON}
    created = await client.post(
        alice.tasks_url, content=json.dumps({"title": "ok", **change}), headers=headers
    )
    assert list(assert_small_422(created)["field_errors"]) == ["body"]

    task = (await client.post(alice.tasks_url, json={"title": "ok"}, headers=alice.headers)).json()
    url = f"{alice.tasks_url}/{task['data']['id']}"
    patched = await client.patch(url, content=json.dumps(change), headers=headers)
    assert list(assert_small_422(patched)["field_errors"]) == ["body"]
    listed = await client.get(alice.tasks_url, headers=alice.headers)
    assert [t["title"] for t in listed.json()["data"]] == ["ok"]


async def test_lone_surrogate_in_profile_name_is_422(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    body = json.dumps({"name": LONE_SURROGATE})
    response = await client.patch("/api/auth/me", content=body, headers={**alice.headers, **JSON})
    assert list(assert_small_422(response)["field_errors"]) == ["body"]
    profile = await client.get("/api/auth/me", headers=alice.headers)
    assert profile.json()["data"]["name"] == "Alice"


async def test_nul_in_login_email_or_token_username_is_422(client: httpx.AsyncClient) -> None:
    login = await client.post(
        "/api/auth/login", json={"email": "ada\x00@example.com", "password": "long-password"}
    )
    assert list(assert_small_422(login)["field_errors"]) == ["email"]

    form = {"username": "ada\x00@example.com", "password": "long-password"}
    token = await client.post("/api/auth/token", data=form)
    assert list(assert_small_422(token)["field_errors"]) == ["username"]


async def test_a_megabyte_token_username_is_422(client: httpx.AsyncClient) -> None:
    form = {"username": "a" * 1_000_000 + "@example.com", "password": "long-password"}
    response = await client.post("/api/auth/token", data=form)
    assert list(assert_small_422(response)["field_errors"]) == ["username"]


OVERFLOWING_TIMES = ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"]


@pytest.mark.parametrize("when", OVERFLOWING_TIMES)
async def test_times_without_a_utc_equivalent_are_422(
    client: httpx.AsyncClient, alice: ApiUser, when: str
) -> None:
    created = await client.post(
        alice.tasks_url, json={"title": "x", "due_date": when}, headers=alice.headers
    )
    assert list(assert_small_422(created)["field_errors"]) == ["due_date"]
    for name in ("due_before", "due_after"):
        listed = await client.get(alice.tasks_url, params={name: when}, headers=alice.headers)
        assert list(assert_small_422(listed)["field_errors"]) == [name]


@pytest.mark.parametrize("task_id", ["17.0", "+1", "1_0", " 17", "17 ", "0x11", "\u0661\u0667"])
async def test_task_ids_that_are_not_plain_digits_are_422(
    client: httpx.AsyncClient, alice: ApiUser, task_id: str
) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method, f"{alice.tasks_url}/{task_id}", json={"title": "x"}, headers=alice.headers
        )
        assert list(assert_small_422(response)["field_errors"]) == ["task_id"]


@pytest.mark.parametrize("page", ["2.0", "+2", "1_0"])
async def test_pages_that_are_not_plain_digits_are_422(
    client: httpx.AsyncClient, alice: ApiUser, page: str
) -> None:
    for name in ("page", "page_size"):
        response = await client.get(alice.tasks_url, params={name: page}, headers=alice.headers)
        assert list(assert_small_422(response)["field_errors"]) == [name]


# --- one email, one account ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "jose\u0301@example.com",  # decomposed é
        "\uff41da@example.com",  # full-width a
        "Ada@\uff45xample.com",  # full-width e in the domain
    ],
)
async def test_an_email_logs_in_as_it_signed_up(client: httpx.AsyncClient, spelling: str) -> None:
    password = "long-password"
    signup = await client.post("/api/auth/signup", json={"email": spelling, "password": password})
    assert signup.status_code == 201, signup.text
    stored = signup.json()["data"]["user"]["email"]
    assert stored == normalise_email(spelling)

    login = await client.post("/api/auth/login", json={"email": spelling, "password": password})
    assert login.status_code == 200, login.text
    token = await client.post("/api/auth/token", data={"username": spelling, "password": password})
    assert token.status_code == 200, token.text
    again = await client.post("/api/auth/signup", json={"email": stored, "password": password})
    assert_error(again, 409, "EMAIL_TAKEN")


# --- rate-limit keys and lockout -------------------------------------------------------------


def test_rate_limit_keys_are_bounded_whatever_the_client_sends() -> None:
    assert address_key("2001:db8:1:2:3:4:5:6") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") != address_key("203.0.113.8")
    assert len(address_key("x" * 10_000)) <= 64


class TestLockout:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit_auth": "3/minute"}

    @staticmethod
    async def attempt(app: FastAPI, address: str, email: str, password: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = {"email": email, "password": password}
            return await client.post("/api/auth/login", json=body)

    async def test_guesses_from_elsewhere_do_not_lock_the_owner_out(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        password = "owners-password"
        signup = {"email": "owner@example.com", "password": password}
        assert (await client.post("/api/auth/signup", json=signup)).status_code == 201

        for n in range(12):  # four attackers, three guesses each: every one refused
            address = f"198.51.100.{n // 3 + 1}"
            guess = await self.attempt(app, address, "owner@example.com", f"guess-{n}")
            assert_error(guess, 401, "INVALID_CREDENTIALS")
        assert_error(
            await self.attempt(app, "198.51.100.1", "owner@example.com", "guess-13"),
            429,
            "RATE_LIMITED",
        )

        owner = await self.attempt(app, "203.0.113.50", "Owner@Example.com", password)
        assert owner.status_code == 200, owner.text

    async def test_an_ipv6_64_counts_as_one_address(self, app: FastAPI) -> None:
        for n in range(3):
            hopping = f"2001:db8:0:1::{n + 1:x}"
            refused = await self.attempt(app, hopping, f"user{n}@example.com", "wrong-password")
            assert_error(refused, 401, "INVALID_CREDENTIALS")
        same_64 = await self.attempt(app, "2001:db8:0:1:ffff::9", "new@example.com", "wrong")
        assert_error(same_64, 429, "RATE_LIMITED")
        next_64 = await self.attempt(app, "2001:db8:0:2::1", "new@example.com", "wrong")
        assert_error(next_64, 401, "INVALID_CREDENTIALS")

    async def test_invalid_bodies_count_against_the_address_before_validation(
        self, client: httpx.AsyncClient
    ) -> None:
        body = json.dumps({f"key{n}": n for n in range(1000)})
        for _ in range(3):
            response = await client.post("/api/auth/login", content=body, headers=JSON)
            assert_error(response, 422, "VALIDATION_ERROR")
        refused = await client.post("/api/auth/login", content=body, headers=JSON)
        assert_error(refused, 429, "RATE_LIMITED")
        assert int(refused.headers["retry-after"]) >= 1


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_megabyte_usernames_do_not_grow_the_server(tmp_path: Any) -> None:
    """A real ``todo-api serve``: 100 token requests with 1 MB usernames from one
    address leave the process within a few MiB of where it started."""
    url = f"sqlite:///{tmp_path}/rss.db"
    upgrade_to_head(url)
    env = {
        "DATABASE_URL": url,
        "BETTER_AUTH_SECRET": SECRET,
        "RATE_LIMIT_AUTH": "100000/minute",
        "LOG_LEVEL": "warning",
    }
    with todo_api_server(env) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        pid = server.process.pid
        form = {"username": "warm@example.com", "password": "long-password"}
        for _ in range(5):  # warm the allocator and the code paths
            client.post("/api/auth/token", data=form)
        before = _rss_bytes(pid)
        for n in range(100):
            username = f"{n}{secrets.token_hex(4)}" + "u" * 1_000_000
            response = client.post(
                "/api/auth/token", data={"username": username, "password": "long-password"}
            )
            assert response.status_code == 422, response.text[:200]
            assert len(response.content) < MAX_ERROR_BODY_BYTES
        grown = _rss_bytes(pid) - before
        assert grown < 40 * 1024 * 1024, f"grew {grown / 2**20:.0f} MiB"


# --- smaller ones ----------------------------------------------------------------------------


async def test_trailing_slash_is_404_without_a_redirect(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for path in (f"{alice.tasks_url}/", f"{alice.tasks_url}/1/", "/api/auth/me/"):
        response = await client.get(path, headers={"Host": "evil.example"})
        assert_error(response, 404, "NOT_FOUND")
        assert "location" not in response.headers


async def test_head_is_get_without_a_body(
    client: httpx.AsyncClient, alice: ApiUser, make_task: Any
) -> None:
    task = await make_task(alice, title="Head me")
    url = f"{alice.tasks_url}/{task['id']}"
    got = await client.get(url, headers=alice.headers)

    head = await client.head(url, headers=alice.headers)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))
    assert (await client.head(alice.tasks_url, headers=alice.headers)).status_code == 200
    assert (await client.head("/api/health")).status_code == 200
    unauthenticated = await client.head(url)
    assert unauthenticated.status_code == 401 and unauthenticated.content == b""
    post_only = await client.head("/api/auth/login")
    assert post_only.status_code == 405 and post_only.content == b""


async def test_a_newline_in_the_path_cannot_forge_a_log_line(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(anything: str) -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/test-explode/{anything}", explode, methods=["GET"])

    with caplog.at_level(logging.ERROR, logger="todo_api"):
        response = await client.get("/api/test-explode/x%0AINFO%20forged%20admin%20login")

    assert_error(response, 500, "INTERNAL_ERROR")
    (record,) = [r for r in caplog.records if r.name.startswith("todo_api")]
    assert "\n" not in record.getMessage()
    assert "\\n" in record.getMessage()


async def test_database_errors_never_carry_the_values_bound_to_them(app: FastAPI) -> None:
    """A failing statement's message (which a logged trace shows) holds the SQL, not
    the parameters: no email or password hash reaches a log through it."""
    engine = app_resources(app).database.engine
    with pytest.raises(DBAPIError) as failure:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO users (id, email) VALUES (:id, :email)"),
                {"id": None, "email": "secret-address@example.com"},
            )
    assert "secret-address" not in str(failure.value)
    assert "hide_parameters" in str(failure.value)
