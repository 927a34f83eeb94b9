"""Request-level guards: request ids, body limits, content types, headers, access log.

Order, outermost first (see ``main.create_app``): request id → access log →
CORS → response headers → body limit → unhandled-error envelope → FastAPI.
"""

from __future__ import annotations

import email.message
import logging
import random
import re
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.errors import (
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response,
)

access_logger = logging.getLogger("todo_api.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_sane_request_id(value: str) -> bool:
    """A client's ``X-Request-ID`` is echoed when it is 1 to 128 of ``[A-Za-z0-9._-]`` (api.md)."""
    return _REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh request id: 32 hex digits, 128 random bits.

    An id correlates log lines, it guards nothing, so it comes from ``random``
    (seeded from the OS once per process) rather than from ``os.urandom``:
    ``uuid4()``'s system call per request was 3 % of a task read's CPU
    (py-spy, docs/benchmarks.md).
    """
    return f"{random.getrandbits(128):032x}"


class BodyLimitMiddleware:
    """``MAX_BODY_BYTES`` for every request body: 413 ``PAYLOAD_TOO_LARGE``.

    A declared ``Content-Length`` over the limit is answered at once: nothing
    of the body is read and the route never runs, so the answer comes before
    authentication (api.md, "Details"). A chunked body (``Transfer-Encoding``,
    no length) is counted as it streams by Starlette's
    ``RequestBodyLimitMiddleware``, whose 413 is an ``HTTPException`` that the
    error handlers write as the envelope. An HTTP/1.x request with neither
    header has no body (RFC 9112 §6.3), and the server delivers no more than
    a declared length, so those skip the counting, which cost 2.6 % of a
    get's instructions (docs/benchmarks.md, "Before and after"). Under HTTP/2
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


class ResponseHeadersMiddleware:
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

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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


class AccessLogMiddleware:
    """One log record per request: method, route template, status, duration, user id.

    The route template (``/api/{user_id}/tasks``), never the raw path, so that
    logs group by route and carry no ids from the URL; never headers or bodies,
    so no token or password reaches a log. ``user_id`` is what the auth
    dependency stored in ``scope["state"]``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)  # LOG_LEVEL above info: nothing to record
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = scope.get("route")
            access_logger.info(
                "%s %s %d",
                scope["method"],
                getattr(route, "path", None) or "<no route>",
                status,
                extra={
                    "method": scope["method"],
                    "route": getattr(route, "path", None),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": scope.get("state", {}).get("user_id"),
                },
            )


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JSONRoute(APIRoute):
    """An ``APIRoute`` that refuses bodies that are not JSON as the contract says.

    A body with a non-JSON ``Content-Type`` is 415 ``UNSUPPORTED_MEDIA_TYPE``
    (FastAPI would validate it as raw bytes); a body that does not parse,
    whether bad JSON syntax or not UTF-8 (FastAPI answers the latter with a
    bare 400), is 422 with ``field_errors.body`` (api.md, "Details"). A
    request without a body (no ``Content-Length`` or ``0``, no chunked
    transfer) is left alone.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field_info = getattr(self.body_field, "field_info", None)
        takes_json = self.body_field is not None and type(field_info).__name__ != "Form"
        if not takes_json:
            return handler

        async def guarded(request: Request) -> Response:
            headers = request.headers
            has_body = headers.get("content-length", "0") != "0" or "chunked" in headers.get(
                "transfer-encoding", ""
            )
            if has_body and not _is_json(headers.get("content-type", "")):
                raise UnsupportedMediaType()
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if any(error.get("type") == "json_invalid" for error in exc.errors()):
                    raise MalformedBody() from None
                raise
            except StarletteHTTPException as exc:
                if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
                    raise MalformedBody() from None
                raise

        return guarded
