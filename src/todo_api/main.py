"""``create_app()``: settings, shared resources, middleware and routers.

The resources (``todo_api.resources.Resources``: database, JWKS client,
verifiers, rate limiter) are built when the app is created and closed by the
lifespan, so the app also works under ``httpx.ASGITransport`` in tests,
which does not run a lifespan.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import URL, make_url

from todo_api import __version__
from todo_api.auth.router import me_router
from todo_api.auth.router import router as auth_router
from todo_api.config import Settings, get_settings
from todo_api.health import router as health_router
from todo_api.kit.database_url import normalise_database_url
from todo_api.kit.errors import install_error_handlers
from todo_api.kit.metrics import install_metrics
from todo_api.kit.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    ResponseHeadersMiddleware,
    UnhandledErrorMiddleware,
    is_sane_request_id,
    new_request_id,
)
from todo_api.kit.routing import serve_routes
from todo_api.lists.router import router as lists_router
from todo_api.resources import Resources, app_resources
from todo_api.tags.router import router as tags_router
from todo_api.tasks.router import router as tasks_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
Tasks for the users of a Next.js + Better Auth front end.

{authenticate} Every task route is under `/api/{{user_id}}/tasks`, where
`{{user_id}}` must be the token's subject.

Errors share one envelope: `{{"detail", "error_code", "field_errors"?, "request_id"}}`.
"""

AUTHENTICATE = {
    True: (
        "Authenticate with **Authorize** (email and password of an account made with "
        "`POST /api/auth/signup`), or send `Authorization: Bearer <token>` with a token "
        "from Better Auth."
    ),
    False: (
        "Send `Authorization: Bearer <token>` with a token from Better Auth (**Authorize** "
        "takes the token); this deployment has no accounts of its own (`LOCAL_ACCOUNTS=false`)."
    ),
}


def bearer_only_openapi(app: FastAPI) -> None:
    """Document the bearer scheme as plain HTTP bearer, for ``LOCAL_ACCOUNTS=false``.

    The scheme is OAuth2's password flow, whose ``tokenUrl`` is our token route;
    without local accounts that route does not exist, so the document (and the
    docs page's **Authorize**) takes a bearer token as it is instead. FastAPI's
    documented way to change the document: replace ``app.openapi``.
    """
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for scheme in schema.get("components", {}).get("securitySchemes", {}).values():
                scheme.clear()
                scheme.update(
                    {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A token issued by Better Auth (JWT or session token).",
                    }
                )
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "X-Request-ID",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app_resources(app).settings
    if settings.secret_was_generated:
        logger.warning(
            "BETTER_AUTH_SECRET is not set: using a random secret for this process "
            "(development only; tokens stop working when it exits)"
        )
    for warning in normalise_database_url(settings.database_url).warnings:
        logger.warning(warning)  # what DATABASE_URL asks for and the driver cannot do
    gc.freeze()  # start-up objects live for ever: keep them out of every collection
    # ready_message is logged by the server once the port takes connections (cli.serve,
    # kit/server.py): uvicorn binds the port only after this start-up has returned.
    yield
    await close_resources(app)


def ready_message(settings: Settings) -> str:
    """The line that says the service is ready: version, environment, the database
    (without password or query parameters), the token verifiers that are on, and
    whether local accounts are.

    For example ``Todo API 1.0.0 ready (environment: production; database:
    postgresql://app@db:5432/todo; tokens: HS256, JWKS from
    http://localhost:3000/api/auth/jwks (iss http://localhost:3000, aud
    http://localhost:3000); local accounts: off)``.
    """
    url = make_url(settings.database_url)
    database = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    verifiers = ["HS256"]
    if settings.better_auth_url:
        origin = settings.better_auth_url
        verifiers.append(
            f"JWKS from {origin}{settings.better_auth_jwks_path} "
            f"(iss {settings.jwt_issuer or origin}, aud {settings.jwt_audience or origin})"
        )
    if settings.better_auth_session_tokens:
        verifiers.append(f"session tokens (table {settings.better_auth_session_table})")
    return (
        f"Todo API {__version__} ready (environment: {settings.environment.value}; "
        f"database: {database.render_as_string(hide_password=False)}; "
        f"tokens: {', '.join(verifiers)}; "
        f"local accounts: {'on' if settings.local_accounts else 'off'})"
    )


async def close_resources(app: FastAPI) -> None:
    """Close the app's resources (``Resources.aclose``)."""
    await app_resources(app).aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application for ``settings`` (default: the environment's)."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "title": "Todo API",
        "version": __version__,
        "description": DESCRIPTION.format(authenticate=AUTHENTICATE[settings.local_accounts]),
        "lifespan": lifespan,
        "separate_input_output_schemas": False,
    }
    if settings.docs_enabled:
        app = FastAPIOffline(**options)
    else:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **options)

    # A trailing slash is another path, so 404: no 307 that echoes the client's
    # Host before the request is authenticated.
    app.router.redirect_slashes = False
    app.state.resources = Resources.build(settings)
    install_error_handlers(app)
    # The task routes first: the hot path, and FastAPI tries the routes in this order.
    # LOCAL_ACCOUNTS=false: no signup, login or token route (404, and not in OpenAPI).
    accounts = (auth_router,) if settings.local_accounts else ()
    serve_routes(
        app, (tasks_router, lists_router, tags_router, me_router, *accounts, health_router)
    )
    if not settings.local_accounts:
        bearer_only_openapi(app)

    # Added innermost first: each add_middleware wraps everything added before it.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ResponseHeadersMiddleware)
    wildcard = "*" in settings.cors_origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=not wildcard,  # never "*" together with credentials
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "X-Request-ID",
        ],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    if settings.metrics_enabled:  # inside HEAD as GET: a HEAD is counted under its route
        install_metrics(app, app_resources(app).database)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        generator=new_request_id,
        validator=is_sane_request_id,
    )
    return app
