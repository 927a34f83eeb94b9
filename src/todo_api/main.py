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

from todo_api import __version__
from todo_api.auth.router import me_router
from todo_api.auth.router import router as auth_router
from todo_api.config import Settings, get_settings
from todo_api.health import router as health_router
from todo_api.kit.errors import install_error_handlers
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
from todo_api.resources import Resources, app_resources
from todo_api.tasks.router import router as tasks_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
Tasks for the users of a Next.js + Better Auth front end.

Authenticate with **Authorize** (email and password of an account made with
`POST /api/auth/signup`), or send `Authorization: Bearer <token>` with a token
from Better Auth. Every task route is under `/api/{user_id}/tasks`, where
`{user_id}` must be the token's subject.

Errors share one envelope: `{"detail", "error_code", "field_errors"?, "request_id"}`.
"""

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
    gc.freeze()  # start-up objects live for ever: keep them out of every collection
    logger.info("Todo API %s ready (environment: %s)", __version__, settings.environment.value)
    yield
    await close_resources(app)


async def close_resources(app: FastAPI) -> None:
    """Close the app's resources (``Resources.aclose``)."""
    await app_resources(app).aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application for ``settings`` (default: the environment's)."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "title": "Todo API",
        "version": __version__,
        "description": DESCRIPTION,
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
    serve_routes(app, (tasks_router, me_router, auth_router, health_router))

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
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        generator=new_request_id,
        validator=is_sane_request_id,
    )
    return app
