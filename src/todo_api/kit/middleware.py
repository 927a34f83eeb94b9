"""The app's ASGI middleware: request ids, the body limit, response headers, the
access log, and the last-resort error envelope.

Order, outermost first (see ``main.create_app``): request id → access log →
HEAD as GET → metrics (``kit/metrics.py``, when on) → CORS → response headers
→ body limit → unhandled-error envelope → FastAPI.
"""

from __future__ import annotations

import logging
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable

from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.kit.database_errors import is_database_unavailable, is_transient_conflict
from todo_api.kit.errors import InternalError, PayloadTooLarge, ServiceUnavailable, error_response

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("todo_api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_sane_request_id(value: str) -> bool:
    """A client's ``X-Request-ID`` is echoed when it is 1 to 128 of ``[A-Za-z0-9._-]``
    (the API contract)."""
    return _REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh request id: 32 hex digits, 128 random bits.

    An id correlates log lines, it guards nothing, so it comes from ``random``
    (seeded from the OS once per process) rather than from ``uuid4()``'s
    system call per request (docs/benchmarks.md).
    """
    return f"{random.getrandbits(128):032x}"


class ASGIMiddleware:
    """A pure ASGI middleware around ``app`` (no per-request wrapper objects)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app


class HeadAsGetMiddleware(ASGIMiddleware):
    """``HEAD`` is answered as ``GET`` without the body (RFC 9110 §9.3.2).

    FastAPI's routes take only the methods they declare, so without this a
    ``HEAD`` on a ``GET`` route is 405. The request goes on as ``GET``; the
    status and headers (``ETag``, ``Content-Length``...) are the ``GET``'s,
    and the body is dropped here. A route without ``GET`` answers its 405.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            if "route" in as_get:  # for the access log: the route that served it
                scope["route"] = as_get["route"]


class BodyLimitMiddleware:
    """``MAX_BODY_BYTES`` for every request body: 413 ``PAYLOAD_TOO_LARGE``.

    A declared ``Content-Length`` over the limit is answered at once: nothing
    of the body is read and the route never runs, so the answer comes before
    authentication (the API contract, "Details"). A chunked body (``Transfer-Encoding``,
    no length) is counted as it streams by Starlette's
    ``RequestBodyLimitMiddleware``, whose 413 is an ``HTTPException`` that the
    error handlers write as the envelope. An HTTP/1.x request with neither
    header has no body (RFC 9112 §6.3), and the server delivers no more than
    a declared length, so those skip the counting (docs/benchmarks.md,
    "Before and after"). Under HTTP/2
    or 3 a body needs neither header, so every such request is counted.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.counted = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = b""
            chunked = False
            for name, value in scope["headers"]:  # ASGI header names are lower-case
                if name == b"content-length":
                    declared = value
                elif name == b"transfer-encoding":
                    chunked = True
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                error = PayloadTooLarge(f"Request body is larger than {self.max_body_bytes} bytes")
                await error_response(error)(scope, receive, send)
                return
            if chunked or scope.get("http_version") not in ("1.0", "1.1"):
                await self.counted(scope, receive, send)
                return
        await self.app(scope, receive, send)


RESPONSE_HEADERS_STATE = "response_headers"


def add_response_headers(scope: Scope, headers: dict[str, str]) -> None:
    """Ask ``ResponseHeadersMiddleware`` to add ``headers`` to this request's response.

    For headers decided in a dependency (rate-limit headers) that must reach
    every response, including those a route returns as a ``Response``.
    """
    scope.setdefault("state", {}).setdefault(RESPONSE_HEADERS_STATE, {}).update(headers)


class ResponseHeadersMiddleware(ASGIMiddleware):
    """Headers every response gets, ``no-store`` on authenticated ones, and those
    added with ``add_response_headers``.

    ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``
    everywhere; a strict ``Content-Security-Policy`` on JSON (the docs pages
    keep theirs, which load their own scripts); ``Cache-Control: no-store``
    on every ``/api`` response, which carry a user's tasks or a token, so no
    cache keeps them (RFC 9111 §5.2.2.5; RFC 6749 §5.1 for token responses).
    """

    ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
    JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
    NO_STORE = (b"cache-control", b"no-store")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.with_headers(
                    message.get("headers", ()),
                    scope.get("state", {}).get(RESPONSE_HEADERS_STATE),
                    private=private,
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def with_headers(
        self,
        raw: Iterable[tuple[bytes, bytes]],
        requested: dict[str, str] | None,
        *,
        private: bool,
    ) -> list[tuple[bytes, bytes]]:
        """The response's raw headers (``(name, value)`` byte pairs, names
        lower-cased here) plus ours.

        ``requested`` are the headers asked for with ``add_response_headers``
        (names and values ``str``, Latin-1). A header the response already
        has is kept, except ``Cache-Control`` on a private response, which
        is ``no-store`` and nothing else.
        """
        headers = [(name.lower(), value) for name, value in raw]
        if private:
            headers = [header for header in headers if header[0] != b"cache-control"]
        present = dict(headers)
        if private:
            present[b"cache-control"] = self.NO_STORE[1]  # nothing requested replaces it
        added = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in (requested or {}).items()
        ]
        added += self.ALWAYS
        if present.get(b"content-type", b"").startswith(b"application/json"):
            added.append(self.JSON_CSP)
        for name, value in added:
            if name not in present:
                headers.append((name, value))
                present[name] = value
        if private:
            headers.append(self.NO_STORE)
        return headers


class ResponseObserver(ASGIMiddleware, ABC):
    """Serves the request, then reports its status and duration to ``observe``.

    The base of the access log and the metrics. ``observe`` runs after the
    response was sent, or after the exception that ended the request (then
    the status is 500 unless a response had started). ``root_path`` is the
    request's from before a mount extended it, for ``route_template``.
    """

    def observes(self, scope: Scope) -> bool:
        """Whether to observe this request (default: every HTTP request)."""
        return bool(scope["type"] == "http")

    @abstractmethod
    def observe(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        """Report one request: its ``status`` and how long it took, in ``seconds``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.observes(scope):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        root_path = scope.get("root_path", "")

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            self.observe(scope, root_path, status, time.perf_counter() - started)


class AccessLogMiddleware(ResponseObserver):
    """One log record per request: method, route template, status, duration, user id.

    The route template (``/api/{user_id}/tasks``), never the raw path, so that
    logs group by route and carry no ids from the URL; never headers or bodies,
    so no token or password reaches a log. The message ends with the duration
    in milliseconds, for the text format; the JSON format also has it as
    ``duration_ms``. ``user_id`` is what the auth dependency stored in
    ``scope["state"]``. A path no route or mount serves is ``<no route>``.
    """

    def observes(self, scope: Scope) -> bool:
        # LOG_LEVEL above info: nothing to record
        return scope["type"] == "http" and access_logger.isEnabledFor(logging.INFO)

    def observe(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        duration_ms = round(seconds * 1000, 2)
        route = route_template(scope, root_path)
        access_logger.info(
            "%s %s %d %.2f ms",
            scope["method"],
            route or "<no route>",
            status,
            duration_ms,
            extra={
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": scope.get("state", {}).get("user_id"),
            },
        )


class UnhandledErrorMiddleware(ASGIMiddleware):
    """Last line of defence: an exception nobody handled becomes an envelope.

    A database that cannot be reached is 503 ``SERVICE_UNAVAILABLE`` with
    ``Retry-After``; anything else is 500 ``INTERNAL_ERROR``, logged with the
    stack trace and request id while the body shows nothing internal. Sits
    inside the request-id middleware so the response still carries
    ``X-Request-ID``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, PoolTimeoutError):
                logger.warning("database pool exhausted: every connection busy (DB_POOL_SIZE)")
                response = error_response(ServiceUnavailable("The service is busy; try again"))
            elif is_database_unavailable(exc):
                logger.warning("database unavailable: %s", type(exc).__name__)
                response = error_response(ServiceUnavailable())
            elif is_transient_conflict(exc):
                logger.info("transaction aborted by a concurrent one: %s", type(exc).__name__)
                response = error_response(
                    ServiceUnavailable("A concurrent request conflicted with this one; try again")
                )
            else:
                # The path as a repr: a %0A the client sent cannot start a forged log line.
                logger.exception("unhandled error on %s %r", scope["method"], scope["path"])
                response = error_response(InternalError())
            await response(scope, receive, send)


def route_template(scope: Scope, root_path: str) -> str | None:
    """The path template of the route or mount that served the request, or ``None``.

    FastAPI names its own routes in ``scope["route"]``. It does not for
    Starlette's routes and mounts (``/openapi.json``, the docs' static
    files), nor can it for a ``HEAD`` that ``HeadAsGetMiddleware`` passed on
    in a copy of the scope; those are matched again here against the
    app's routes, in the router's order (a full match first, then a match
    of the path alone), with the request's original ``root_path``. A
    mount's template ends in ``/{path}``.
    """
    route = scope.get("route")
    if route is None:
        request = {
            "type": "http",
            "path": scope["path"],
            "root_path": root_path,
            "method": scope["method"],
        }
        partial = None
        for candidate in getattr(scope.get("app"), "routes", ()):
            match, _ = candidate.matches(request)
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None
