"""``Resources``: everything a request may need that lives as long as the app.

Built once by ``create_app`` and closed by its lifespan; read in a route or
dependency with ``resources(request)``. One typed object instead of loose
attributes on ``app.state``, so that every reader names the same thing and
mypy checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request

from todo_api.auth.jwks import JWKSVerifier
from todo_api.auth.passwords import Passwords
from todo_api.auth.service import UserProvisioner
from todo_api.auth.tokens import SessionTokenVerifier, TokenVerifier
from todo_api.config import Settings
from todo_api.kit.cursors import CursorSigner
from todo_api.kit.database import Database
from todo_api.kit.database_url import normalise_database_url
from todo_api.kit.engine import create_engine
from todo_api.kit.ratelimit import RateLimiter

JWKS_HTTP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Resources:
    """The app's long-lived resources."""

    settings: Settings
    database: Database
    http_client: httpx.AsyncClient
    """For the JWKS fetches (``JWKSVerifier``)."""
    token_verifier: TokenVerifier
    provisioner: UserProvisioner
    passwords: Passwords
    rate_limiter: RateLimiter
    cursors: CursorSigner

    @classmethod
    def build(cls, settings: Settings) -> Resources:
        """The resources for ``settings``; nothing connects until first used."""
        target = normalise_database_url(
            settings.database_url, connect_timeout=settings.db_connect_timeout_seconds
        )
        database = Database(
            create_engine(
                target, pool_size=settings.db_pool_size, pre_ping=settings.db_pool_pre_ping
            )
        )
        http_client = httpx.AsyncClient(timeout=httpx.Timeout(JWKS_HTTP_TIMEOUT_SECONDS))
        jwks = JWKSVerifier(settings, http_client) if settings.better_auth_url else None
        sessions = (
            SessionTokenVerifier(settings, database)
            if settings.better_auth_session_tokens
            else None
        )
        return cls(
            settings=settings,
            database=database,
            http_client=http_client,
            token_verifier=TokenVerifier(settings, jwks=jwks, sessions=sessions),
            provisioner=UserProvisioner(database),
            passwords=Passwords(),
            rate_limiter=RateLimiter(settings),
            cursors=CursorSigner(settings.better_auth_secret),
        )

    async def aclose(self) -> None:
        """Close the JWKS HTTP client, the rate-limit storage and the pool."""
        await self.http_client.aclose()
        await self.rate_limiter.close()
        await self.database.dispose()


def resources(request: Request) -> Resources:
    """The resources of the app serving ``request``."""
    found: Resources = request.app.state.resources
    return found


def app_resources(app: FastAPI) -> Resources:
    """The resources of ``app`` (``create_app``'s)."""
    found: Resources = app.state.resources
    return found
