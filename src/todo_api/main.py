"""``create_app()``: settings, shared resources, middleware and routers.

Resources (engine, JWKS client, verifiers, rate limiter) are built when the
app is created and closed by the lifespan, so the app also works under
``httpx.ASGITransport`` in tests, which does not run a lifespan.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from todo_api import __version__
from todo_api.auth.router import me_router
from todo_api.auth.router import router as auth_router
from todo_api.auth.service import Passwords, UserProvisioner
from todo_api.auth.tokens import JWKSVerifier, SessionTokenVerifier, TokenVerifier
from todo_api.config import Settings, get_settings
from todo_api.db import create_engine, create_sessionmaker, normalise_database_url
from todo_api.errors import UnhandledErrorMiddleware, install_error_handlers
from todo_api.health import router as health_router
from todo_api.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    ResponseHeadersMiddleware,
    is_sane_request_id,
    new_request_id,
)
from todo_api.ratelimit import RateLimiter
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
    settings: Settings = app.state.settings
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
    """Dispose of the engine, the JWKS HTTP client and the rate-limit storage."""
    await app.state.http_client.aclose()
    await app.state.rate_limiter.close()
    await app.state.engine.dispose()


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

    _build_state(app, settings)
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
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        generator=new_request_id,
        validator=is_sane_request_id,
    )
    return app


def serve_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Serve the routers' routes from the app's own route list, ahead of any other.

    Not ``app.include_router``: in FastAPI 0.165 an included router is a
    route of its own that matches each request twice, through a layer of
    effective route contexts, which cost 6 % of a get's instructions
    (docs/benchmarks.md, "Before and after"). These routers are complete
    as declared (prefix, tags, dependencies, route class, responses), so
    including them would add nothing; the body limit is a middleware of the
    app's (``BodyLimitMiddleware``). One thing an inclusion gives is not given here:
    ``app.dependency_overrides`` do not reach these routes (apps are
    configured through ``Settings``, the tests included). Call it before the
    OpenAPI document is first built, as ``create_app`` does: FastAPI caches
    the document.
    """
    app.router.routes[:0] = [route for router in routers for route in router.routes]


def _build_state(app: FastAPI, settings: Settings) -> None:
    target = normalise_database_url(
        settings.database_url, connect_timeout=settings.db_connect_timeout_seconds
    )
    engine = create_engine(
        target, pool_size=settings.db_pool_size, pre_ping=settings.db_pool_pre_ping
    )
    sessionmaker = create_sessionmaker(engine)
    http_client = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
    jwks = JWKSVerifier(settings, http_client) if settings.better_auth_url else None
    sessions = (
        SessionTokenVerifier(settings, engine) if settings.better_auth_session_tokens else None
    )

    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.http_client = http_client
    app.state.token_verifier = TokenVerifier(settings, jwks=jwks, sessions=sessions)
    app.state.provisioner = UserProvisioner(sessionmaker)
    app.state.passwords = Passwords()
    app.state.rate_limiter = RateLimiter(settings)
