"""One error family and the handlers that write the error envelope.

Every error status the API returns carries the envelope of the API contract
("Conventions"):
``{"detail": str, "error_code": str, "field_errors"?: {field: [msg]}, "request_id": str}``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar, Literal

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

DATABASE_RETRY_AFTER_SECONDS = 5


ErrorCode = Literal[
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "INVALID_CREDENTIALS",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "EMAIL_TAKEN",
    "CONFLICT",
    "CURSOR_EXPIRED",
    "PRECONDITION_FAILED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "VALIDATION_ERROR",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
]
"""Every ``error_code`` of the API contract's table ("Conventions"), in its order:
an enum in the OpenAPI document, so a generated client can switch on it."""


def _absent_rather_than_null(schema: dict[str, Any]) -> None:
    """``field_errors`` is left out when there are none, never ``null``: its schema
    is the object alone (and not required)."""
    schema.pop("default", None)
    (kept,) = [each for each in schema.pop("anyOf") if each != {"type": "null"}]
    schema.update(kept)


class ErrorBody(BaseModel):
    """The error envelope (the API contract, "Conventions")."""

    detail: str = Field(examples=["Task not found"])
    error_code: ErrorCode = Field(examples=["NOT_FOUND"])
    field_errors: dict[str, list[str]] | None = Field(
        default=None,
        examples=[{"title": ["String should have at most 200 characters"]}],
        json_schema_extra=_absent_rather_than_null,
    )
    request_id: str = Field(examples=["7f0c3b2a9d8e4f6a8b1c2d3e4f5a6b7c"])


def error_doc(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for an error status: the envelope, described."""
    return {"model": ErrorBody, "description": description}


class ApiError(Exception):
    """An error the API answers with on purpose: status, ``error_code``, message."""

    status_code: ClassVar[int] = 400
    error_code: ClassVar[str] = "BAD_REQUEST"
    default_detail: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        self.field_errors = field_errors
        super().__init__(self.detail)


class BadRequest(ApiError):
    """400 for a malformed request that is not a field error."""


class Unauthorized(ApiError):
    """401 for any token problem; the message never says which (the API contract)."""

    status_code = 401
    error_code = "UNAUTHORIZED"
    default_detail = "Not authenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class InvalidCredentials(ApiError):
    status_code = 401
    error_code = "INVALID_CREDENTIALS"
    default_detail = "Incorrect email or password"


class Forbidden(ApiError):
    status_code = 403
    error_code = "FORBIDDEN"
    default_detail = "You may not access another user's tasks"


class NotFound(ApiError):
    status_code = 404
    error_code = "NOT_FOUND"
    default_detail = "Not found"


class MethodNotAllowed(ApiError):
    status_code = 405
    error_code = "METHOD_NOT_ALLOWED"
    default_detail = "Method not allowed"


class EmailTaken(ApiError):
    status_code = 409
    error_code = "EMAIL_TAKEN"
    default_detail = "An account with this email already exists"


class Conflict(ApiError):
    """409 for a request that contradicts the resource's state (deleting the inbox)."""

    status_code = 409
    error_code = "CONFLICT"
    default_detail = "The request conflicts with the resource's state"


class PreconditionFailed(ApiError):
    status_code = 412
    error_code = "PRECONDITION_FAILED"
    default_detail = "The task has changed since you read it (If-Match does not match its ETag)"


class PayloadTooLarge(ApiError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"
    default_detail = "Request body is too large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    default_detail = "Request body must be JSON (Content-Type: application/json)"


class ValidationFailed(ApiError):
    status_code = 422
    error_code = "VALIDATION_ERROR"
    default_detail = "Request validation failed"

    @classmethod
    def of_field(cls, field: str, message: str) -> ValidationFailed:
        """The 422 of one field a service refused: ``field_errors`` ``{field: [message]}``."""
        return cls(field_errors={field: [message]})


class MalformedBody(ValidationFailed):
    """422 for a body that is not JSON at all (bad syntax, not UTF-8): ``field_errors.body``.

    ``reason`` is the parser's word (``"EOF while parsing a value at line 1
    column 9"``), added to the message when known.
    """

    def __init__(self, reason: str | None = None) -> None:
        message = f"Body is not valid JSON: {reason}" if reason else "Body is not valid JSON"
        super().__init__(field_errors={"body": [message[:MAX_MESSAGE_CHARACTERS]]})


class RateLimited(ApiError):
    status_code = 429
    error_code = "RATE_LIMITED"
    default_detail = "Too many requests"


class InternalError(ApiError):
    status_code = 500
    error_code = "INTERNAL_ERROR"
    default_detail = "Internal server error"


class ServiceUnavailable(ApiError):
    status_code = 503
    error_code = "SERVICE_UNAVAILABLE"
    default_detail = "The database is unavailable; try again shortly"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


class IdentityServerUnavailable(ServiceUnavailable):
    """503 for a token whose key is not held while the identity server's key set
    cannot be fetched: an outage there must not sign users out (the API contract,
    "Authentication"). ``retry_after`` is in seconds: when a refetch may run."""

    default_detail = "The identity server's key set is unreachable; try again shortly"

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.headers["Retry-After"] = str(retry_after)


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        RateLimited,
        InternalError,
        ServiceUnavailable,
    )
}


def current_request_id() -> str:
    """The request id of the request being served (the ``X-Request-ID`` header)."""
    return correlation_id.get() or ""


def error_response(error: ApiError) -> Response:
    """Render ``error`` as the envelope (``ErrorBody``; ``field_errors`` only when
    set), with its headers."""
    body = ErrorBody(
        detail=error.detail,
        error_code=error.error_code,
        field_errors=error.field_errors,
        request_id=current_request_id(),
    )
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=error.status_code,
        headers=error.headers,
        media_type="application/json",
    )


MAX_REPORTED_ERRORS = 20
"""Validation errors a 422 lists; the rest are counted in ``detail``."""

MAX_FIELD_NAME_CHARACTERS = 64
"""A field name in ``field_errors`` is cut to this (a client's unknown key may be 1 MB)."""

MAX_MESSAGE_CHARACTERS = 300
"""An error message is cut to this."""


def _field_name(loc: tuple[int | str, ...]) -> str:
    """The field as the client sent it: ``("body", "title")`` → ``title``."""
    if len(loc) >= 2 and loc[0] in {"body", "query", "path", "header", "cookie"}:
        name = str(loc[1])
    else:
        name = str(loc[0]) if loc else "body"
    return (
        name if len(name) <= MAX_FIELD_NAME_CHARACTERS else name[:MAX_FIELD_NAME_CHARACTERS] + "…"
    )


def validation_error(exc: RequestValidationError) -> ValidationFailed:
    """Turn FastAPI's validation error into our 422 with ``field_errors``.

    The answer is bounded whatever the request: at most ``MAX_REPORTED_ERRORS``
    messages (``detail`` says how many more there were), field names and
    messages cut to ``MAX_FIELD_NAME_CHARACTERS`` and ``MAX_MESSAGE_CHARACTERS``,
    so a 422 stays a few KiB (the API contract, "Limits").
    """
    errors = exc.errors()
    field_errors: dict[str, list[str]] = defaultdict(list)
    for error in errors[:MAX_REPORTED_ERRORS]:
        loc = tuple(error.get("loc", ()))
        message = str(error.get("msg", "Invalid value")).removeprefix("Value error, ")
        field_errors[_field_name(loc)].append(message[:MAX_MESSAGE_CHARACTERS])
    detail = None
    if len(errors) > MAX_REPORTED_ERRORS:
        detail = (
            f"Request validation failed: {len(errors)} errors, "
            f"the first {MAX_REPORTED_ERRORS} are listed"
        )
    return ValidationFailed(detail, field_errors=dict(field_errors))


async def _api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _validation_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc))


async def _http_exception_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    cls = _BY_STATUS.get(exc.status_code, BadRequest if exc.status_code < 500 else InternalError)
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
    error = cls(detail)
    if exc.headers:
        error.headers.update(exc.headers)
    if exc.status_code == 404:
        error.detail = "Not found"
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that write the envelope for every error status."""
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
