"""Hostile tokens and a failing identity server (api.md, "Authentication").

Two classes of fault, closed here on both databases:

- A token signed with our own secret (or a session token) whose claims or
  parts a verifier could not handle gave 500; every such token is 401, and
  an ``email`` or ``name`` claim that is not clean text never reaches the
  database (it is treated as absent).
- While Better Auth's key set cannot be fetched, forged ``kid`` values must
  not turn into a storm of fetches, a token whose key is held must not wait
  behind them, and a token whose key is not held is 503 with
  ``Retry-After``, not 401. The key-set server is a real HTTP server on
  127.0.0.1 (``KeySetServer``) that answers, fails, answers garbage, hangs or
  is down, and counts what it is asked.

Every app here has ``BETTER_AUTH_URL`` set to such a server, as a deployment
on Better Auth has, so a hostile token meets every verifier it can reach.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import func, select

from tests.conftest import SECRET
from tests.helpers import ApiUser, assert_error, sessionmaker_of
from todo_api.auth import jwks
from todo_api.auth.models import User
from todo_api.auth.service import new_user_id
from todo_api.resources import app_resources

ME = "/api/auth/me"
TEST_BOUND_SECONDS = 15
"""No test here may take longer, whatever the verifier does."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(payload: str, header: str = '{"alg":"HS256","typ":"JWT"}') -> str:
    """A token signed with our secret over raw JSON text, so the test chooses every
    byte: ``1e400``, ``NaN``, ``\\u0000``, ``\\ud800``..."""
    signing_input = f"{_b64(header.encode())}.{_b64(payload.encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(**raw: str) -> str:
    """A payload with a good ``sub``, ``iat`` and ``exp``, then ``raw`` (JSON text
    per claim) replacing or adding claims."""
    now = int(time.time())
    claims = {"sub": json.dumps(new_user_id()), "iat": str(now), "exp": str(now + 300), **raw}
    return "{" + ",".join(f'"{name}":{value}' for name, value in claims.items()) + "}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- bad claims under our own secret: 401, never 500 ------------------------------------------

BAD_CLAIMS: dict[str, str] = {
    "exp-10**400": _claims(exp="1" + "0" * 400),
    "exp-minus-10**400": _claims(exp="-1" + "0" * 400),
    "exp-1e400": _claims(exp="1e400"),
    "exp-NaN": _claims(exp="NaN"),
    "exp-Infinity": _claims(exp="Infinity"),
    "exp-numeric-string": _claims(exp=json.dumps(str(int(time.time()) + 300))),
    "exp-true": _claims(exp="true"),
    "exp-list": _claims(exp="[4102444800]"),
    "exp-past-year-9999": _claims(exp="1e300"),
    "exp-before-year-1": _claims(exp="-62135596801"),
    "exp-year-minus-2000": _claims(exp="-125000000000"),
    "iat-before-year-1": _claims(iat="-70000000000"),
    "iat-10**400": _claims(iat="1" + "0" * 400),
    "iat-minus-10**400": _claims(iat="-1" + "0" * 400),
    "iat-numeric-string": _claims(iat=json.dumps(str(int(time.time())))),
    "nbf-minus-10**400": _claims(nbf="-1" + "0" * 400),
    "nbf-NaN": _claims(nbf="NaN"),
    "sub-NUL": _claims(sub=r'"abc\u0000def"'),
    "sub-newline": _claims(sub=r'"abc\ndef"'),
    "sub-unit-separator": _claims(sub=r'"abc\u001fdef"'),
    "sub-DEL": _claims(sub=r'"abc\u007fdef"'),
    "sub-C1-control": _claims(sub=r'"abc\u0085def"'),
    "sub-lone-high-surrogate": _claims(sub=r'"abc\ud800"'),
    "sub-lone-low-surrogate": _claims(sub=r'"\udfffabc"'),
    "sub-65-characters": _claims(sub=json.dumps("a" * 65)),
    "sub-object": _claims(sub='{"id":"abc"}'),
}

BAD_HEADERS: dict[str, str] = {
    "header-list": "[1,2]",
    "header-string": '"HS256"',
    "kid-number": '{"alg":"HS256","kid":7}',
    "kid-object": '{"alg":"HS256","kid":{"a":1}}',
    "alg-list": '{"alg":["HS256"]}',
    "alg-object": '{"alg":{"HS256":1}}',
    "crit-unknown": '{"alg":"HS256","crit":["x-unknown"]}',
}


@pytest.mark.parametrize(
    "token",
    [pytest.param(_hs256(payload), id=case) for case, payload in BAD_CLAIMS.items()]
    + [pytest.param(_hs256(_claims(), header), id=case) for case, header in BAD_HEADERS.items()],
)
async def test_token_with_unusable_claims_or_header_is_401(
    client: httpx.AsyncClient, app: FastAPI, token: str
) -> None:
    count_users = select(func.count()).select_from(User)
    async with sessionmaker_of(app)() as session:
        users_before = await session.scalar(count_users)

    response = await client.get(ME, headers=_bearer(token))

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"
    async with sessionmaker_of(app)() as session:
        assert await session.scalar(count_users) == users_before  # no user provisioned


def test_the_bad_claims_carry_a_good_signature() -> None:
    """The 401s above come from the claims, not from a broken signature."""
    for payload in BAD_CLAIMS.values():
        assert jwt.PyJWS().decode(_hs256(payload), SECRET, algorithms=["HS256"]) == payload.encode()


UNCLEAN_TEXT = {
    "NUL": "\u0000",
    "newline": "\n",
    "escape": "\u001b",
    "DEL": "\u007f",
    "C1": "\u0085",
    "lone-surrogate": "\ud800",
}


@pytest.mark.parametrize("character", list(UNCLEAN_TEXT.values()), ids=list(UNCLEAN_TEXT))
async def test_email_or_name_claim_that_is_not_clean_text_is_treated_as_absent(
    client: httpx.AsyncClient, app: FastAPI, character: str
) -> None:
    sub = new_user_id()
    payload = _claims(
        sub=json.dumps(sub),
        email=json.dumps(f"eve{character}@example.com"),
        name=json.dumps(f"Eve{character}"),
    )

    me = await client.get(ME, headers=_bearer(_hs256(payload)))

    assert me.status_code == 200, me.text
    profile = me.json()["data"]
    assert (profile["id"], profile["email"], profile["name"]) == (sub, None, None)
    async with sessionmaker_of(app)() as session:
        user = await session.get(User, sub)
    assert user is not None
    assert (user.email, user.name) == (None, None)


async def test_overlong_email_claim_is_treated_as_absent_and_name_is_cut(
    client: httpx.AsyncClient,
) -> None:
    sub = new_user_id()
    payload = _claims(
        sub=json.dumps(sub),
        email=json.dumps("a" * 400 + "@example.com"),
        name=json.dumps("N" * 500),
    )

    me = await client.get(ME, headers=_bearer(_hs256(payload)))

    assert me.status_code == 200, me.text
    assert me.json()["data"]["email"] is None
    assert me.json()["data"]["name"] == "N" * 100


class TestSessionTokens:
    """With session tokens on, a bearer that is not a JWT is tried as one; a
    signature that is not ASCII is a bad signature, not a 500."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"better_auth_session_tokens": True}

    @pytest.mark.parametrize(
        "authorization",
        [
            b"Bearer x.%C3%A9",
            b"Bearer x.%FF",
            b"Bearer x.%ED%A0%80",
            b"Bearer x.%00",
            b"Bearer %00.%00",
            b"Bearer value.%E2%80%AEsig",
            b"Bearer x.\xc3\xa9",
            b"Bearer x.\xff",
        ],
    )
    async def test_session_token_with_non_ascii_signature_is_401(
        self, client: httpx.AsyncClient, alice: ApiUser, authorization: bytes
    ) -> None:
        response = await client.get(alice.tasks_url, headers={b"Authorization": authorization})

        assert_error(response, 401, "UNAUTHORIZED")


# --- the key-set server -------------------------------------------------------------------------

SIGNING_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_SIGNING_KEY = ed25519.Ed25519PrivateKey.generate()


def _jwk(private_key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


class KeySetServer:
    """A JWKS endpoint on 127.0.0.1, in a thread, that does what ``mode`` says.

    ``"ok"`` serves ``key_set``; ``"error"`` answers 500; ``"garbage"`` answers
    200 with ``garbage``, a body that is not a JWK set; ``"hang"`` reads the request and
    answers nothing until ``release()`` (then drops the connection); ``"trickle"``
    answers 200 and then a byte of body every 0.2 s until ``release()``. ``stop()``
    closes the port (connections are refused) and ``start()`` opens the same
    port again. ``requests`` counts the requests received.
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.key_set: dict[str, Any] = {"keys": [_jwk(SIGNING_KEY, "key-1")]}
        self.garbage = b"<html>Bad gateway</html>"
        self.requests = 0
        self.released = threading.Event()
        self._counted = threading.Condition()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._counted:
                    owner.requests += 1
                    owner._counted.notify_all()
                if owner.mode == "hang":
                    owner.released.wait(TEST_BOUND_SECONDS)
                    self.close_connection = True
                    return
                if owner.mode == "trickle":  # a 200, then a byte every 0.2 s
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    while not owner.released.wait(0.2):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    self.close_connection = True
                    return
                if owner.mode == "error":
                    self._answer(500, b'{"error":"boom"}')
                elif owner.mode == "garbage":
                    self._answer(200, owner.garbage)
                else:
                    self._answer(200, json.dumps(owner.key_set).encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    async def received(self, count: int) -> bool:
        """Wait until ``count`` requests have arrived (at most ``TEST_BOUND_SECONDS``)."""

        def wait() -> bool:
            with self._counted:
                return self._counted.wait_for(lambda: self.requests >= count, TEST_BOUND_SECONDS)

        return await asyncio.to_thread(wait)

    def release(self) -> None:
        """Let hanging requests end (without an answer)."""
        self.released.set()


@pytest.fixture
def key_server() -> Iterator[KeySetServer]:
    server = KeySetServer()
    server.start()
    try:
        yield server
    finally:
        server.release()
        server.stop()


@pytest.fixture
def cooldown() -> int:
    """``JWKS_REFETCH_COOLDOWN_SECONDS``; a test parametrizes it to wait one out."""
    return 30


@pytest.fixture
def cache_seconds() -> int:
    """``JWKS_CACHE_SECONDS``; a test parametrizes it to see keys go stale."""
    return 300


@pytest.fixture
def settings_overrides(
    key_server: KeySetServer, cooldown: int, cache_seconds: int
) -> dict[str, Any]:
    return {
        "better_auth_url": key_server.url,
        "jwks_refetch_cooldown_seconds": cooldown,
        "jwks_cache_seconds": cache_seconds,
    }


@pytest.fixture
def fetches(app: FastAPI) -> list[str]:
    """Every key-set request the app starts (the server cannot count refused ones)."""
    started: list[str] = []

    async def record(request: httpx.Request) -> None:
        started.append(str(request.url))

    app_resources(app).http_client.event_hooks["request"].append(record)
    return started


def _token(
    server: KeySetServer,
    *,
    sub: str | None = None,
    kid: str = "key-1",
    key: ed25519.Ed25519PrivateKey = SIGNING_KEY,
) -> str:
    """A token as Better Auth's JWT plugin signs it; a fresh ``jti`` each time, so
    the verified-token cache never answers for it."""
    now = int(time.time())
    claims = {
        "sub": sub or "ba-user-0123456789",
        "iat": now,
        "exp": now + 300,
        "iss": server.url,
        "aud": server.url,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def _forged(server: KeySetServer, n: int) -> str:
    return _token(server, kid=f"forged-{n}", key=OTHER_SIGNING_KEY)


def _assert_key_set_unreachable(response: httpx.Response) -> None:
    body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert "key set" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers


# --- the key set up ------------------------------------------------------------------------------


async def test_unknown_kid_after_a_good_fetch_stays_401(
    client: httpx.AsyncClient, key_server: KeySetServer, fetches: list[str]
) -> None:
    assert (await client.get(ME, headers=_bearer(_token(key_server)))).status_code == 200

    for n in range(30):
        response = await client.get(ME, headers=_bearer(_forged(key_server, n)))
        assert_error(response, 401, "UNAUTHORIZED")

    assert len(fetches) == 1
    assert key_server.requests == 1


@pytest.mark.parametrize("cache_seconds", [1])
async def test_key_removed_from_the_set_stops_verifying_once_stale(
    client: httpx.AsyncClient, key_server: KeySetServer
) -> None:
    key_server.key_set = {"keys": [_jwk(SIGNING_KEY, "key-1"), _jwk(OTHER_SIGNING_KEY, "key-2")]}
    old = _token(key_server, kid="key-1")
    assert (await client.get(ME, headers=_bearer(old))).status_code == 200
    key_server.key_set = {"keys": [_jwk(OTHER_SIGNING_KEY, "key-2")]}

    await asyncio.sleep(1.1)
    stale = await client.get(ME, headers=_bearer(_token(key_server, kid="key-1")))
    fresh = await client.get(
        ME, headers=_bearer(_token(key_server, kid="key-2", key=OTHER_SIGNING_KEY))
    )

    assert_error(stale, 401, "UNAUTHORIZED")
    assert fresh.status_code == 200, fresh.text


BROKEN_MEMBERS: list[Any] = [
    5,
    "key",
    {"kty": "OKP", "crv": "Ed25519", "x": 5, "kid": "x-number"},
    {"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": ["RS256"], "kid": "alg-list"},
    {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
    {**_jwk(OTHER_SIGNING_KEY, "no-kid"), "kid": None},
]


async def test_unusable_members_of_the_key_set_are_skipped(
    client: httpx.AsyncClient, key_server: KeySetServer, fetches: list[str]
) -> None:
    key_server.key_set = {"keys": [*BROKEN_MEMBERS, _jwk(SIGNING_KEY, "key-1")]}

    genuine = await client.get(ME, headers=_bearer(_token(key_server)))
    hmac_kid = await client.get(
        ME, headers=_bearer(_hs256(_claims(), '{"alg":"HS512","kid":"hmac"}'))
    )

    assert genuine.status_code == 200, genuine.text
    assert_error(hmac_kid, 401, "UNAUTHORIZED")
    assert len(fetches) == 1


# --- the key set down --------------------------------------------------------------------------

OUTAGES = ["error", "garbage", "down"]


def _break(server: KeySetServer, outage: str) -> None:
    if outage == "down":
        server.stop()
    else:
        server.mode = outage


def _mend(server: KeySetServer) -> None:
    server.mode = "ok"
    if not server.running:
        server.start()


@pytest.mark.parametrize("outage", OUTAGES)
async def test_forged_kid_flood_during_an_outage_fetches_once_and_is_503(
    client: httpx.AsyncClient,
    key_server: KeySetServer,
    fetches: list[str],
    outage: str,
) -> None:
    _break(key_server, outage)

    concurrent = await asyncio.gather(
        *(client.get(ME, headers=_bearer(_forged(key_server, n))) for n in range(15))
    )
    one_by_one = [
        await client.get(ME, headers=_bearer(_forged(key_server, n))) for n in range(15, 30)
    ]
    genuine = await client.get(ME, headers=_bearer(_token(key_server)))

    for response in [*concurrent, *one_by_one, genuine]:
        _assert_key_set_unreachable(response)
    assert len(fetches) == 1, fetches
    assert key_server.requests == (0 if outage == "down" else 1)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[1, 2]",
        b'{"keys": 5}',
        b'{"keys": {"kid": "key-1"}}',
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["empty", "null", "array", "keys-number", "keys-object", "not-utf-8", "deep"],
)
async def test_a_body_that_is_not_a_jwk_set_is_a_failed_fetch(
    client: httpx.AsyncClient, key_server: KeySetServer, fetches: list[str], body: bytes
) -> None:
    key_server.mode, key_server.garbage = "garbage", body

    _assert_key_set_unreachable(await client.get(ME, headers=_bearer(_token(key_server))))
    _assert_key_set_unreachable(await client.get(ME, headers=_bearer(_forged(key_server, 1))))

    assert len(fetches) == 1


async def test_a_fetch_that_never_ends_is_cut_and_is_a_failed_fetch(
    client: httpx.AsyncClient,
    key_server: KeySetServer,
    fetches: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that trickles its body (each read within the client's timeout) holds
    the one fetch only for ``JWKS_FETCH_SECONDS``; so does a body over the size cap."""
    monkeypatch.setattr(jwks, "JWKS_FETCH_SECONDS", 1.0)
    key_server.mode = "trickle"

    started = time.monotonic()
    response = await client.get(ME, headers=_bearer(_token(key_server)))

    _assert_key_set_unreachable(response)
    assert time.monotonic() - started < 5
    assert len(fetches) == 1


async def test_a_key_set_over_the_size_cap_is_a_failed_fetch(
    client: httpx.AsyncClient, key_server: KeySetServer
) -> None:
    key_server.key_set["padding"] = "x" * jwks.MAX_JWKS_BYTES

    _assert_key_set_unreachable(await client.get(ME, headers=_bearer(_token(key_server))))


@pytest.mark.parametrize("outage", OUTAGES)
@pytest.mark.parametrize("cooldown", [1])
async def test_tokens_verify_again_once_the_key_set_is_back_and_the_cooldown_passed(
    client: httpx.AsyncClient,
    key_server: KeySetServer,
    fetches: list[str],
    outage: str,
) -> None:
    _break(key_server, outage)
    _assert_key_set_unreachable(await client.get(ME, headers=_bearer(_token(key_server))))

    _mend(key_server)
    await asyncio.sleep(1.1)
    genuine = await client.get(ME, headers=_bearer(_token(key_server)))
    forged = await client.get(ME, headers=_bearer(_forged(key_server, 1)))

    assert genuine.status_code == 200, genuine.text
    assert_error(forged, 401, "UNAUTHORIZED")
    assert len(fetches) == 2, fetches


@pytest.mark.parametrize("cooldown", [1])
async def test_token_with_a_held_key_does_not_wait_behind_a_hanging_fetch(
    client: httpx.AsyncClient, key_server: KeySetServer, fetches: list[str]
) -> None:
    assert (await client.get(ME, headers=_bearer(_token(key_server)))).status_code == 200
    key_server.mode = "hang"
    await asyncio.sleep(1.1)  # past the cooldown: an unknown kid may refetch

    forged = [
        asyncio.create_task(client.get(ME, headers=_bearer(_forged(key_server, n))))
        for n in range(10)
    ]
    assert await key_server.received(2)  # the refetch hangs on the server
    started = time.monotonic()
    genuine = await client.get(ME, headers=_bearer(_token(key_server)))
    waited = time.monotonic() - started

    assert genuine.status_code == 200, genuine.text
    assert waited < 2, waited
    assert not any(task.done() for task in forged)
    key_server.release()
    for response in await asyncio.gather(*forged):
        _assert_key_set_unreachable(response)
    assert len(fetches) == 2, fetches
    assert key_server.requests == 2


@pytest.mark.parametrize("cooldown", [1])
@pytest.mark.parametrize("cache_seconds", [1])
async def test_stale_held_keys_keep_verifying_during_an_outage_without_waiting(
    client: httpx.AsyncClient, key_server: KeySetServer, fetches: list[str]
) -> None:
    assert (await client.get(ME, headers=_bearer(_token(key_server)))).status_code == 200
    key_server.mode = "error"
    await asyncio.sleep(1.1)  # the keys are stale: the next token refetches, which fails
    assert (await client.get(ME, headers=_bearer(_token(key_server)))).status_code == 200

    key_server.mode = "hang"
    await asyncio.sleep(1.1)  # past the cooldown: a background refetch is due
    started = time.monotonic()
    genuine = await client.get(ME, headers=_bearer(_token(key_server)))
    waited = time.monotonic() - started
    assert await key_server.received(3)  # the background refetch hangs

    assert genuine.status_code == 200, genuine.text
    assert waited < 2, waited
    key_server.release()
    # A key that is not held waits for the refetch in flight, which now fails.
    _assert_key_set_unreachable(await client.get(ME, headers=_bearer(_forged(key_server, 1))))
    assert len(fetches) == 3, fetches
