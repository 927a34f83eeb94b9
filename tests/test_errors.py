"""The error envelope, request ids, body guards, failures and response headers.

api.md "Conventions", "Details that clients rely on" and "Limits".
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import Message, Receive, Scope, Send

from tests.conftest import SECRET, make_settings
from tests.helpers import ApiUser, assert_error
from todo_api.auth.service import new_user_id
from todo_api.kit.middleware import BodyLimitMiddleware, ResponseHeadersMiddleware
from todo_api.main import close_resources, create_app

GENERATED_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
UNREACHABLE_DATABASE = "postgresql://postgres@127.0.0.1:1/nope"
ALLOWED_ORIGIN = "http://localhost:3000"
OTHER_ORIGIN = "https://evil.example.com"


# --- the envelope on the framework's own errors --------------------------------------------


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no/such/route")

    error = assert_error(response, 404, "NOT_FOUND")
    assert "field_errors" not in error


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("DELETE", "/api/health", "GET", id="delete-health"),
        pytest.param("POST", "/api/health", "GET", id="post-health"),
        pytest.param("GET", "/api/auth/signup", "POST", id="get-signup"),
        pytest.param("PUT", "/api/auth/me", "GET", id="put-me"),
    ],
)
async def test_wrong_method_is_405_envelope_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert allowed in response.headers["allow"]


async def test_query_validation_is_422_envelope_with_client_field_name(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.get(alice.tasks_url, params={"page_size": 0}, headers=alice.headers)

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert list(error["field_errors"]) == ["page_size"]
    assert all(isinstance(m, str) and m for m in error["field_errors"]["page_size"])


async def test_path_validation_is_422_envelope(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get(f"{alice.tasks_url}/not-a-number", headers=alice.headers)

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {"task_id"}


# --- X-Request-ID ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        pytest.param("GET", "/api/health", False, 200, id="health-200"),
        pytest.param("GET", "/api/auth/me", True, 200, id="me-200"),
        pytest.param("GET", "/api/auth/me", False, 401, id="me-401"),
        pytest.param("GET", "/api/nope", False, 404, id="route-404"),
        pytest.param("DELETE", "/api/health", False, 405, id="health-405"),
        pytest.param("POST", "/api/auth/login", False, 422, id="login-422"),
    ],
)
async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient,
    alice: ApiUser,
    method: str,
    path: str,
    authenticated: bool,
    status: int,
) -> None:
    headers = alice.headers if authenticated else {}

    first = await client.request(method, path, headers=headers)
    second = await client.request(method, path, headers=headers)

    assert first.status_code == status, first.text
    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    if status >= 400:
        assert first.json()["request_id"] == first.headers["x-request-id"]


@pytest.mark.parametrize(
    "request_id",
    ["abc", "0", "A.b_c-1", "3f2a9c1e-4b7d-4e8a-9f00-1234567890ab", "x" * 128],
)
async def test_sane_client_request_id_is_echoed(client: httpx.AsyncClient, request_id: str) -> None:
    ok = await client.get("/api/health", headers={"X-Request-ID": request_id})
    failed = await client.get("/api/nope", headers={"X-Request-ID": request_id})

    assert ok.headers["x-request-id"] == request_id
    assert assert_error(failed, 404, "NOT_FOUND")["request_id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [
        pytest.param("x" * 129, id="129-chars"),
        pytest.param("has space", id="space"),
        pytest.param("<script>alert(1)</script>", id="script"),
        pytest.param("", id="empty"),
        pytest.param("a/b", id="slash"),
        pytest.param("id\tx", id="tab"),
        pytest.param("caf%C3%A9", id="percent"),
    ],
)
async def test_insane_client_request_id_is_replaced(
    client: httpx.AsyncClient, request_id: str
) -> None:
    ok = await client.get("/api/health", headers={"X-Request-ID": request_id})
    failed = await client.get("/api/nope", headers={"X-Request-ID": request_id})

    for response in (ok, failed):
        assert response.headers["x-request-id"] != request_id
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"])
    assert assert_error(failed, 404, "NOT_FOUND")["request_id"] == failed.headers["x-request-id"]


# --- content types and JSON -----------------------------------------------------------------


NON_JSON_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/jsonp",
]


@pytest.mark.parametrize("content_type", NON_JSON_TYPES)
async def test_non_json_body_on_signup_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    body = json.dumps({"email": "a@example.com", "password": "long enough password"})

    response = await client.post(
        "/api/auth/signup", content=body, headers={"Content-Type": content_type}
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("content_type", NON_JSON_TYPES)
async def test_non_json_body_on_task_create_is_415_and_creates_nothing(
    client: httpx.AsyncClient, alice: ApiUser, content_type: str
) -> None:
    response = await client.post(
        alice.tasks_url,
        content=json.dumps({"title": "Typed wrong"}),
        headers={**alice.headers, "Content-Type": content_type},
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    listed = await client.get(alice.tasks_url, headers=alice.headers)
    assert listed.json()["total"] == 0


async def test_json_body_without_content_type_is_415(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(alice.tasks_url, content=b'{"title": "x"}', headers=alice.headers)

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_non_json_body_without_token_is_401_not_415(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(
        alice.tasks_url, content="title=x", headers={"Content-Type": "text/plain"}
    )

    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.todo+json",
    ],
)
async def test_json_and_plus_json_content_types_are_accepted(
    client: httpx.AsyncClient, alice: ApiUser, content_type: str
) -> None:
    response = await client.post(
        alice.tasks_url,
        content=json.dumps({"title": "Accepted"}),
        headers={**alice.headers, "Content-Type": content_type},
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["title"] == "Accepted"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"title": ', id="truncated"),
        pytest.param(b"{'title': 'x'}", id="single-quotes"),
        pytest.param(b'{"title": "x",}', id="trailing-comma"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
    ],
)
async def test_unparseable_json_is_422_with_body_field_error(
    client: httpx.AsyncClient, alice: ApiUser, content: bytes
) -> None:
    headers = {**alice.headers, "Content-Type": "application/json"}

    on_task = await client.post(alice.tasks_url, content=content, headers=headers)
    on_signup = await client.post(
        "/api/auth/signup", content=content, headers={"Content-Type": "application/json"}
    )

    for response in (on_task, on_signup):
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert list(error["field_errors"]) == ["body"], error
        assert error["field_errors"]["body"]


# --- body size ------------------------------------------------------------------------------

LIMIT = 2048


def padded_task_body(size: int) -> bytes:
    """A valid task body of exactly ``size`` bytes (JSON whitespace as padding)."""
    core = b'{"title": "Padded"}'
    return core[:-1] + b" " * (size - len(core)) + b"}"


async def chunks(total: int, size: int = 512) -> AsyncIterator[bytes]:
    """``total`` bytes of JSON-ish content in ``size`` chunks, streamed without a length."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


class TestBodyLimit:
    """``MAX_BODY_BYTES`` lowered to 2048 for these tests."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_body_bytes": LIMIT}

    async def test_body_at_the_limit_is_accepted(
        self, client: httpx.AsyncClient, alice: ApiUser
    ) -> None:
        body = padded_task_body(LIMIT)

        response = await client.post(
            alice.tasks_url,
            content=body,
            headers={**alice.headers, "Content-Type": "application/json"},
        )

        assert len(body) == LIMIT
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
    async def test_declared_length_over_limit_is_413(
        self, client: httpx.AsyncClient, alice: ApiUser, authenticated: bool
    ) -> None:
        headers = {"Content-Type": "application/json", **(alice.headers if authenticated else {})}

        response = await client.post(
            alice.tasks_url, content=padded_task_body(LIMIT + 1), headers=headers
        )

        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        listed = await client.get(alice.tasks_url, headers=alice.headers)
        assert listed.json()["total"] == 0

    @pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
    async def test_streamed_body_over_limit_is_413(
        self, client: httpx.AsyncClient, alice: ApiUser, authenticated: bool
    ) -> None:
        headers = {"Content-Type": "application/json", **(alice.headers if authenticated else {})}
        request = client.build_request(
            "POST", alice.tasks_url, content=chunks(LIMIT * 4), headers=headers
        )
        assert "content-length" not in request.headers

        response = await client.send(request)

        assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [
            ("/api/auth/signup", "application/json"),
            ("/api/auth/login", "application/json"),
            ("/api/auth/token", "application/x-www-form-urlencoded"),
        ],
    )
    async def test_public_routes_refuse_large_bodies(
        self, client: httpx.AsyncClient, path: str, content_type: str
    ) -> None:
        declared = await client.post(
            path, content=b" " * (LIMIT + 1), headers={"Content-Type": content_type}
        )
        streamed = await client.send(
            client.build_request(
                "POST", path, content=chunks(LIMIT * 2), headers={"Content-Type": content_type}
            )
        )

        assert_error(declared, 413, "PAYLOAD_TOO_LARGE")
        assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")


# --- unexpected failures --------------------------------------------------------------------


async def test_unexpected_exception_is_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internals SELECT * FROM users")

    app.add_api_route("/api/test-explode", explode, methods=["GET"])

    response = await client.get("/api/test-explode", headers={"X-Request-ID": "trace-me-500"})

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["request_id"] == "trace-me-500"
    for leak in ("secret internals", "SELECT", "users", "Traceback", "RuntimeError", ".py"):
        assert leak not in response.text
    assert response.headers["content-type"].startswith("application/json")


async def test_exhausted_connection_pool_is_503_busy_not_an_outage(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def wait_for_connection() -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached")

    app.add_api_route("/api/test-pool", wait_for_connection, methods=["GET"])

    response = await client.get("/api/test-pool")

    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert error["detail"] == "The service is busy; try again"
    assert int(response.headers["retry-after"]) >= 1
    assert "QueuePool" not in response.text


def valid_token(sub: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 300}, SECRET, algorithm="HS256")


@pytest.fixture
async def offline_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose PostgreSQL does not exist (connection refused)."""
    app = create_app(make_settings(UNREACHABLE_DATABASE, db_connect_timeout_seconds=2))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await close_resources(app)


USER_ID = new_user_id()
CREDENTIALS = {"email": "a@example.com", "password": "long enough password"}


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "kwargs"),
    [
        pytest.param("POST", "/api/auth/login", False, {"json": CREDENTIALS}, id="login"),
        pytest.param("POST", "/api/auth/signup", False, {"json": CREDENTIALS}, id="signup"),
        pytest.param(
            "POST",
            "/api/auth/token",
            False,
            {"data": {"username": CREDENTIALS["email"], "password": CREDENTIALS["password"]}},
            id="token",
        ),
        pytest.param("GET", "/api/auth/me", True, {}, id="me"),
        pytest.param("GET", f"/api/{USER_ID}/tasks", True, {}, id="list-tasks"),
        pytest.param(
            "POST", f"/api/{USER_ID}/tasks", True, {"json": {"title": "x"}}, id="create-task"
        ),
    ],
)
async def test_unreachable_database_is_503_with_retry_after(
    offline_client: httpx.AsyncClient,
    method: str,
    path: str,
    authenticated: bool,
    kwargs: dict[str, Any],
) -> None:
    headers = {"Authorization": f"Bearer {valid_token(USER_ID)}"} if authenticated else {}
    started = time.monotonic()

    response = await offline_client.request(method, path, headers=headers, **kwargs)

    elapsed = time.monotonic() - started
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["retry-after"]) >= 1
    assert elapsed < 6, f"took {elapsed:.1f}s"
    assert "127.0.0.1" not in response.text
    assert "nope" not in response.text


async def test_invalid_token_is_still_401_while_database_is_unreachable(
    offline_client: httpx.AsyncClient,
) -> None:
    response = await offline_client.get("/api/auth/me", headers={"Authorization": "Bearer x.y.z"})

    assert_error(response, 401, "UNAUTHORIZED")


# --- security headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "authenticated", "status"),
    [
        pytest.param("/api/health", False, 200, id="health"),
        pytest.param("/api/auth/me", True, 200, id="me"),
        pytest.param("/api/auth/me", False, 401, id="me-401"),
        pytest.param("/api/nope", False, 404, id="404"),
    ],
)
async def test_json_responses_carry_security_headers(
    client: httpx.AsyncClient, alice: ApiUser, path: str, authenticated: bool, status: int
) -> None:
    response = await client.get(path, headers=alice.headers if authenticated else {})

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        pytest.param("GET", "", 200, id="list"),
        pytest.param("POST", "", 201, id="create"),
        pytest.param("GET", "/999999", 404, id="missing-task"),
    ],
)
async def test_authenticated_responses_are_not_stored(
    client: httpx.AsyncClient, alice: ApiUser, method: str, suffix: str, status: int
) -> None:
    body = {"title": "Private"} if method == "POST" else None

    response = await client.request(
        method, alice.tasks_url + suffix, json=body, headers=alice.headers
    )
    me = await client.get("/api/auth/me", headers=alice.headers)

    assert response.status_code == status, response.text
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert me.headers.get_list("cache-control") == ["no-store"]


async def test_responses_with_a_token_are_not_stored(client: httpx.AsyncClient) -> None:
    """RFC 6749 §5.1: a response containing a token carries ``Cache-Control: no-store``."""
    signup = await client.post("/api/auth/signup", json=CREDENTIALS)
    token = await client.post(
        "/api/auth/token",
        data={"username": CREDENTIALS["email"], "password": CREDENTIALS["password"]},
    )

    assert signup.status_code == 201, signup.text
    assert token.status_code == 200, token.text
    assert signup.headers.get_list("cache-control") == ["no-store"]
    assert token.headers.get_list("cache-control") == ["no-store"]


async def test_http2_body_without_a_length_is_still_counted() -> None:
    """Under HTTP/2 a body needs neither ``Content-Length`` nor
    ``Transfer-Encoding`` (RFC 9113 §8.1), so it is counted like a chunked one."""
    sent: list[Message] = []
    body = [{"type": "http.request", "body": b" " * 1024, "more_body": True}] * 3

    async def read_all(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return body.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": "2", "method": "POST", "path": "/", "headers": []}
    await BodyLimitMiddleware(read_all, max_body_bytes=2048)(scope, receive, send)

    assert sent[0]["status"] == 413


async def never_called(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("with_headers needs no app")


def test_private_responses_carry_only_no_store() -> None:
    middleware = ResponseHeadersMiddleware(never_called)
    raw = [(b"Cache-Control", b"max-age=60"), (b"content-type", b"application/json")]

    headers = middleware.with_headers(
        raw, {"Cache-Control": "public", "RateLimit": '"api";r=1;t=2'}, private=True
    )

    names = [name for name, _ in headers]
    assert [value for name, value in headers if name == b"cache-control"] == [b"no-store"]
    assert (b"ratelimit", b'"api";r=1;t=2') in headers
    assert len(names) == len(set(names)), names
    assert all(name == name.lower() for name in names)


def test_a_header_the_response_has_is_kept() -> None:
    middleware = ResponseHeadersMiddleware(never_called)
    raw = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"max-age=60")]

    headers = middleware.with_headers(raw, None, private=False)

    assert headers.count((b"x-content-type-options", b"nosniff")) == 1
    assert (b"cache-control", b"max-age=60") in headers
    assert (b"referrer-policy", b"no-referrer") in headers
    assert not any(name == b"content-security-policy" for name, _ in headers)


# --- CORS -----------------------------------------------------------------------------------


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match",
    }


async def test_preflight_from_configured_origin_is_allowed_with_credentials(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.options(
        f"{alice.tasks_url}/1", headers=preflight_headers(ALLOWED_ORIGIN)
    )

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "if-match"):
        assert header in allowed_headers


async def test_simple_request_from_configured_origin_exposes_headers(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.get(
        alice.tasks_url, headers={**alice.headers, "Origin": ALLOWED_ORIGIN}
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = response.headers["access-control-expose-headers"].lower()
    for header in ("etag", "location", "x-request-id", "retry-after"):
        assert header in exposed


async def test_preflight_from_other_origin_is_not_allowed(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    preflight = await client.options(alice.tasks_url, headers=preflight_headers(OTHER_ORIGIN))
    simple = await client.get(alice.tasks_url, headers={**alice.headers, "Origin": OTHER_ORIGIN})

    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


class TestWildcardCors:
    """``CORS_ORIGINS=*``: any origin may read, but never with credentials."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"cors_origins": ["*"]}

    @pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, OTHER_ORIGIN])
    async def test_wildcard_never_allows_credentials(
        self, client: httpx.AsyncClient, alice: ApiUser, origin: str
    ) -> None:
        preflight = await client.options(alice.tasks_url, headers=preflight_headers(origin))
        simple = await client.get(alice.tasks_url, headers={**alice.headers, "Origin": origin})

        assert preflight.status_code == 200, preflight.text
        assert simple.status_code == 200, simple.text
        for response in (preflight, simple):
            assert response.headers["access-control-allow-origin"] in {"*", origin}
            assert response.headers.get("access-control-allow-credentials") != "true"
