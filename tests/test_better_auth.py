"""Interop with a real Better Auth server (issue 3): its JWTs, its keys, its sessions.

A Node program (``tests/betterauth/server.mjs``, ``better-auth`` pinned in its
``package-lock.json``) runs on loopback with the JWT and bearer plugins and
keeps its tables in the ``better_auth`` schema of the PostgreSQL test
database, the database our service reads sessions from. Needs Node and
``TEST_DATABASE_URL``; CI has both and must run these tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.betterauth.harness import BetterAuthServer, better_auth_server, node_available
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.helpers import assert_error
from todo_api.config import Settings
from todo_api.kit.database_url import normalise_database_url
from todo_api.main import close_resources, create_app
from todo_api.resources import app_resources

BA_SECRET = "better-auth-shared-secret-" + "x" * 24
BA_SCHEMA = "better_auth"


def _skip_reason() -> str | None:
    if not TEST_DATABASE_URL:
        return "Better Auth interop needs PostgreSQL: set TEST_DATABASE_URL"
    return node_available()


_reason = _skip_reason()
if _reason and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the Better Auth interop tests: {_reason}")
pytestmark = [
    pytest.mark.skipif(_reason is not None, reason=_reason or ""),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def ba_server() -> Iterator[BetterAuthServer]:
    """A Better Auth server sharing the PostgreSQL test database."""
    with better_auth_server(TEST_DATABASE_URL, BA_SECRET, schema=BA_SCHEMA) as server:
        yield server


@pytest.fixture(scope="module")
def other_ba_server() -> Iterator[BetterAuthServer]:
    """A second Better Auth server: other keys, other origin."""
    with better_auth_server(TEST_DATABASE_URL, BA_SECRET, schema="better_auth_other") as server:
        yield server


@pytest.fixture
def settings_overrides(ba_server: BetterAuthServer) -> dict[str, Any]:
    return {
        "better_auth_secret": BA_SECRET,
        "better_auth_url": ba_server.url,
        "better_auth_session_tokens": True,
        "better_auth_session_table": f"{BA_SCHEMA}.session",
        "jwks_refetch_cooldown_seconds": 1,
    }


@pytest.fixture
def database_url() -> str:
    """These tests run on PostgreSQL only (Better Auth keeps its tables there)."""
    from todo_api.migrate import upgrade_to_head

    upgrade_to_head(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


def _sign_up(server: BetterAuthServer) -> Any:
    email = f"ba-{secrets.token_hex(4)}@example.com"
    return server.sign_up(email, "a-long-password-123", "Grace Hopper")


async def _execute(statement: str, **params: Any) -> None:
    target = normalise_database_url(TEST_DATABASE_URL)
    engine = create_async_engine(target.url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_better_auth_jwt_works_on_every_task_route(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    signed_up = _sign_up(ba_server)
    token = ba_server.get_jwt(signed_up.session_token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"]
    headers, base = _bearer(token), f"/api/{signed_up.user_id}/tasks"

    created = await client.post(base, json={"title": "From Better Auth"}, headers=headers)
    assert created.status_code == 201, created.text
    task_url = created.headers["location"]
    assert (await client.get(base, headers=headers)).json()["total"] == 1
    assert (await client.get(task_url, headers=headers)).status_code == 200
    replaced = await client.put(task_url, json={"title": "Replaced"}, headers=headers)
    assert replaced.status_code == 200
    patched = await client.patch(task_url, json={"priority": "high"}, headers=headers)
    assert patched.json()["data"]["priority"] == "high"
    completed = await client.patch(f"{task_url}/complete", headers=headers)
    assert completed.json()["data"]["completed"] is True
    assert (await client.delete(task_url, headers=headers)).status_code == 204

    me = await client.get("/api/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["data"]["id"] == signed_up.user_id
    assert me.json()["data"]["name"] == "Grace Hopper"
    assert me.json()["data"]["email"].startswith("ba-")


async def test_better_auth_user_may_not_touch_another_path(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    first, second = _sign_up(ba_server), _sign_up(ba_server)
    token = ba_server.get_jwt(first.session_token)
    response = await client.get(f"/api/{second.user_id}/tasks", headers=_bearer(token))
    assert_error(response, 403, "FORBIDDEN")


async def test_token_of_another_better_auth_server_is_rejected(
    client: httpx.AsyncClient, other_ba_server: BetterAuthServer
) -> None:
    signed_up = _sign_up(other_ba_server)
    token = other_ba_server.get_jwt(signed_up.session_token)
    response = await client.get(f"/api/{signed_up.user_id}/tasks", headers=_bearer(token))
    assert_error(response, 401, "UNAUTHORIZED")


async def test_other_key_claiming_our_issuer_is_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer, other_ba_server: BetterAuthServer
) -> None:
    """Right ``iss``/``aud``, but signed by a key our Better Auth never published."""
    user = _sign_up(ba_server)
    forged = other_ba_server.sign_jwt(
        {"sub": user.user_id, "iss": ba_server.url, "aud": ba_server.url}
    )
    assert jwt.decode(forged, options={"verify_signature": False})["iss"] == ba_server.url
    response = await client.get(f"/api/{user.user_id}/tasks", headers=_bearer(forged))
    assert_error(response, 401, "UNAUTHORIZED")


async def test_rotated_key_is_accepted_without_restart(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    before = ba_server.get_jwt(user.session_token)
    url = f"/api/{user.user_id}/tasks"
    assert (await client.get(url, headers=_bearer(before))).status_code == 200

    new_kid = ba_server.rotate_key()
    after = ba_server.get_jwt(user.session_token)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    await asyncio.sleep(1.1)  # the refetch cooldown of this app (1 s)
    assert (await client.get(url, headers=_bearer(after))).status_code == 200


async def test_unknown_kid_flood_refetches_once_per_cooldown(
    app: Any, client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    good = ba_server.get_jwt(user.session_token)
    url = f"/api/{user.user_id}/tasks"
    fetches: list[str] = []

    async def count(request: httpx.Request) -> None:
        fetches.append(str(request.url))

    app_resources(app).http_client.event_hooks["request"].append(count)
    assert (await client.get(url, headers=_bearer(good))).status_code == 200
    _, payload, signature = good.split(".")
    for n in range(20):
        header = {"alg": "EdDSA", "kid": f"unknown-{n}"}
        forged_head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        forged = f"{forged_head}.{payload}.{signature}"
        assert_error(await client.get(url, headers=_bearer(forged)), 401, "UNAUTHORIZED")
    assert len(fetches) <= 2, fetches  # the first load, and at most one refetch


@asynccontextmanager
async def _client_of(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
    finally:
        await close_resources(app)


async def test_removed_key_stops_verifying_after_cache_expiry(
    database_url: str, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    old_token = ba_server.get_jwt(user.session_token)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    ba_server.rotate_key()
    fresh = ba_server.get_jwt(user.session_token)
    url = f"/api/{user.user_id}/tasks"
    settings = make_settings(
        database_url,
        better_auth_secret=BA_SECRET,
        better_auth_url=ba_server.url,
        jwks_cache_seconds=1,
    )
    async with _client_of(settings) as client:
        assert (await client.get(url, headers=_bearer(fresh))).status_code == 200
        await _execute(f"DELETE FROM {BA_SCHEMA}.jwks WHERE id = :kid", kid=old_kid)
        await asyncio.sleep(1.2)
        assert_error(await client.get(url, headers=_bearer(old_token)), 401, "UNAUTHORIZED")
        assert (await client.get(url, headers=_bearer(fresh))).status_code == 200


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "http://evil.example"}, "wrong issuer"),
        ({"aud": "http://evil.example"}, "wrong audience"),
        ({"exp": int(time.time()) - 120}, "expired beyond leeway"),
        ({"nbf": int(time.time()) + 600}, "not yet valid"),
    ],
)
async def test_genuinely_signed_token_with_bad_claims_is_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer, claims: dict[str, Any], why: str
) -> None:
    user = _sign_up(ba_server)
    token = ba_server.sign_jwt({"sub": user.user_id, **claims})
    response = await client.get(f"/api/{user.user_id}/tasks", headers=_bearer(token))
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert body["detail"] == "Not authenticated", why
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_without_sub_is_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    token = ba_server.sign_jwt({"email": "nobody@example.com"})
    assert "sub" not in jwt.decode(token, options={"verify_signature": False})
    response = await client.get(f"/api/{user.user_id}/tasks", headers=_bearer(token))
    assert_error(response, 401, "UNAUTHORIZED")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWT signed with any bytes (PyJWT refuses a public key as HMAC secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def test_forged_algorithms_are_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    genuine = ba_server.get_jwt(user.session_token)
    kid = jwt.get_unverified_header(genuine)["kid"]
    claims = jwt.decode(genuine, options={"verify_signature": False})
    public_jwk = next(k for k in ba_server.jwks()["keys"] if k["kid"] == kid)
    url = f"/api/{user.user_id}/tasks"

    none_header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    alg_none = f"{none_header}.{_b64(json.dumps(claims).encode())}."
    # The classic confusion attack: HS256 "signed" with the public key as the HMAC secret.
    for secret in (json.dumps(public_jwk).encode(), public_jwk["x"].encode()):
        confused = _hs256_by_hand({"alg": "HS256", "kid": kid}, claims, secret)
        assert_error(await client.get(url, headers=_bearer(confused)), 401, "UNAUTHORIZED")
    truncated = genuine[: len(genuine) // 2]
    for token in (alg_none, truncated, genuine + "x", "not-a-token"):
        assert_error(await client.get(url, headers=_bearer(token)), 401, "UNAUTHORIZED")
    basic = {"Authorization": "Basic " + base64.b64encode(b"user:pass").decode()}
    assert_error(await client.get(url, headers=basic), 401, "UNAUTHORIZED")
    assert (await client.get(url, headers=_bearer(genuine))).status_code == 200


async def test_session_token_works_when_enabled(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    url = f"/api/{user.user_id}/tasks"
    response = await client.post(
        url, json={"title": "via session"}, headers=_bearer(user.session_token)
    )
    assert response.status_code == 201, response.text
    # The cookie carries the same token URL-encoded; both forms are accepted.
    encoded = quote(user.session_token, safe="")
    assert (await client.get(url, headers=_bearer(encoded))).json()["total"] == 1


async def test_tampered_session_token_is_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    value, signature = user.session_token.rsplit(".", 1)
    url = f"/api/{user.user_id}/tasks"
    for token in (f"{value}.{'A' * len(signature)}", f"{value[:-1]}X.{signature}", value):
        assert_error(await client.get(url, headers=_bearer(token)), 401, "UNAUTHORIZED")


async def test_expired_and_deleted_sessions_are_rejected(
    client: httpx.AsyncClient, ba_server: BetterAuthServer
) -> None:
    expiring, leaving = _sign_up(ba_server), _sign_up(ba_server)
    for user in (expiring, leaving):
        ok = await client.get(f"/api/{user.user_id}/tasks", headers=_bearer(user.session_token))
        assert ok.status_code == 200

    await _execute(
        f"UPDATE {BA_SCHEMA}.session SET \"expiresAt\" = now() - interval '1 minute' "
        "WHERE token = :token",
        token=expiring.token,
    )
    ba_server.sign_out(leaving.session_token)
    for user in (expiring, leaving):
        response = await client.get(
            f"/api/{user.user_id}/tasks", headers=_bearer(user.session_token)
        )
        assert_error(response, 401, "UNAUTHORIZED")


async def test_session_tokens_are_refused_when_not_enabled(
    database_url: str, ba_server: BetterAuthServer
) -> None:
    user = _sign_up(ba_server)
    async with _client_of(make_settings(database_url, better_auth_secret=BA_SECRET)) as client:
        response = await client.get(
            f"/api/{user.user_id}/tasks", headers=_bearer(user.session_token)
        )
    assert_error(response, 401, "UNAUTHORIZED")


@pytest.fixture
async def dying_server() -> AsyncIterator[BetterAuthServer]:
    with better_auth_server(TEST_DATABASE_URL, BA_SECRET, schema="better_auth_dying") as server:
        yield server


async def test_cached_keys_survive_better_auth_outage_and_no_keys_is_503(
    database_url: str, dying_server: BetterAuthServer
) -> None:
    user = _sign_up(dying_server)
    first, second = (
        dying_server.get_jwt(user.session_token),
        dying_server.get_jwt(user.session_token),
    )
    settings = make_settings(
        database_url,
        better_auth_secret=BA_SECRET,
        better_auth_url=dying_server.url,
        jwks_cache_seconds=1,
    )
    url = f"/api/{user.user_id}/tasks"
    async with _client_of(settings) as warm_client, _client_of(settings) as cold_client:
        assert (await warm_client.get(url, headers=_bearer(first))).status_code == 200
        dying_server.stop()  # the outage under test
        await asyncio.sleep(1.2)  # past the key cache TTL: a refetch is due, and fails
        assert (await warm_client.get(url, headers=_bearer(second))).status_code == 200
        # An app that never fetched the keys cannot verify anything: 503 with
        # Retry-After (the outage must not sign users out), not 401 or 500.
        response = await cold_client.get(url, headers=_bearer(second))
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert int(response.headers["retry-after"]) >= 1


async def test_better_auth_as_the_only_identity_provider(
    database_url: str, ba_server: BetterAuthServer
) -> None:
    """``LOCAL_ACCOUNTS=false``: our signup is 404 and not documented, a Better Auth JWT
    does everything, the profile follows Better Auth, and ``DELETE /api/auth/me``
    empties the account."""
    signed_up = _sign_up(ba_server)
    settings = make_settings(
        database_url,
        better_auth_secret=BA_SECRET,
        better_auth_url=ba_server.url,
        local_accounts=False,
    )
    async with _client_of(settings) as client:
        signup = await client.post(
            "/api/auth/signup",
            json={"email": "mallory@example.com", "password": "a-long-password-123"},
        )
        assert_error(signup, 404, "NOT_FOUND")
        assert "/api/auth/signup" not in (await client.get("/openapi.json")).json()["paths"]

        headers = _bearer(ba_server.get_jwt(signed_up.session_token))
        base = f"/api/{signed_up.user_id}/tasks"
        created = await client.post(base, json={"title": "Only Better Auth"}, headers=headers)
        assert created.status_code == 201, created.text
        task_url = created.headers["location"]
        assert (await client.get(base, headers=headers)).json()["total"] == 1
        patched = await client.patch(task_url, json={"priority": "high"}, headers=headers)
        assert patched.json()["data"]["priority"] == "high"
        assert (await client.delete(task_url, headers=headers)).status_code == 204
        me = (await client.get("/api/auth/me", headers=headers)).json()["data"]
        assert (me["id"], me["name"]) == (signed_up.user_id, "Grace Hopper")

        async with httpx.AsyncClient(base_url=ba_server.url) as better_auth:
            renamed = await better_auth.post(
                "/api/auth/update-user",
                json={"name": "Grace B. Hopper"},
                headers={**_bearer(signed_up.session_token), "Origin": ba_server.url},
            )
        assert renamed.is_success, renamed.text
        fresh = _bearer(ba_server.get_jwt(signed_up.session_token))
        me = (await client.get("/api/auth/me", headers=fresh)).json()["data"]
        assert me["name"] == "Grace B. Hopper"

        await client.post(base, json={"title": "To be deleted"}, headers=fresh)
        assert (await client.delete("/api/auth/me", headers=fresh)).status_code == 204
        emptied = await client.get(base, headers=fresh)
        assert (emptied.status_code, emptied.json()["total"]) == (200, 0)
        assert (await client.delete("/api/auth/me", headers=fresh)).status_code == 204
