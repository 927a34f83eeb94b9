"""The authentication dependency and the order of checks on protected routes.

The API contract's order: authentication (401) first, then the path owner
check (403), then the API rate limit (429), then everything else. ``user_guard`` does the first
three for every authenticated route (the task routes and ``/api/auth/me``);
``AuthenticatedRoute`` keeps that order even for the two body errors FastAPI
finds before any dependency runs (a non-JSON content type, 415, and JSON
that does not parse, 422).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.base import SecurityBase

from todo_api.auth.tokens import Principal
from todo_api.kit.database_errors import is_owner_gone
from todo_api.kit.errors import (
    Forbidden,
    MalformedBody,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from todo_api.kit.routing import JSONRoute
from todo_api.resources import resources

logger = logging.getLogger(__name__)

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    scheme_name="BearerToken",
    auto_error=False,
    description=(
        "A bearer token: from `POST /api/auth/login` or `/api/auth/token`, or issued by "
        "Better Auth (JWT plugin or session token)."
    ),
)


class UserGuard(SecurityBase):
    """The bearer scheme of every authenticated route, as its one dependency.

    Called per request, it checks in the API contract's order: the bearer token (401),
    then that the path's ``{user_id}``, if the route has one, is the token's
    ``sub`` (403), then the user's API rate limit (429), and returns the
    caller. It reads the token with ``oauth2_scheme`` and takes its model and
    name, so the OpenAPI document shows one security scheme for every
    authenticated route.

    One dependency with no parameters of its own, rather than three (the
    bearer scheme, the owner check with a declared ``user_id``, the rate
    limit): FastAPI solves each dependency and parameter per request, and
    these are the hot path (docs/design.md). The routes declare ``user_id``
    themselves, so the document lists it in path order.
    """

    def __init__(self, scheme: OAuth2PasswordBearer) -> None:
        self.scheme = scheme
        self.model = scheme.model
        self.scheme_name = scheme.scheme_name

    async def __call__(self, request: Request) -> Principal:
        """The caller, authorized for the path's ``{user_id}`` and counted.

        Raises:
            Unauthorized: no valid bearer token (401).
            IdentityServerUnavailable: the token's key cannot be had (503, see
                ``authenticate``).
            Forbidden: the path ``{user_id}`` is not the token's ``sub`` (403).
            RateLimited: the user is over ``RATE_LIMIT_API`` (429).
        """
        principal = await self.authorize(request)
        await resources(request).rate_limiter.limit_api_request(request.scope, principal.user_id)
        return principal

    async def authorize(self, request: Request) -> Principal:
        """Authentication and the owner check, without counting the request.

        Raises:
            Unauthorized: no valid bearer token (401).
            IdentityServerUnavailable: the token's key cannot be had (503, see
                ``authenticate``).
            Forbidden: the path ``{user_id}`` is not the token's ``sub`` (403).
        """
        principal = await authenticate(request, await self.scheme(request))
        path_user_id = request.path_params.get("user_id")
        if path_user_id is not None and path_user_id != principal.user_id:
            raise Forbidden()
        return principal


async def authenticate(request: Request, token: str | None) -> Principal:
    """Verify the bearer token, and provision its user or bring its profile up to the
    token's claims (``UserProvisioner.ensure``: no database work when nothing is new).

    Raises:
        Unauthorized: no bearer token, or it does not verify (401).
        IdentityServerUnavailable: a Better Auth JWT whose key is not held while
            the key set cannot be fetched (503 with ``Retry-After``, the API
            contract, "Authentication"); raised where a 401 would be, so the
            order of checks holds.
    """
    if not token:
        raise Unauthorized()
    found = resources(request)
    principal = await found.token_verifier.verify(token)
    await found.provisioner.ensure(principal)
    request.scope.setdefault("state", {})["user_id"] = principal.user_id  # for the access log
    return principal


user_guard = UserGuard(oauth2_scheme)
"""The dependency of every authenticated route (see ``UserGuard``)."""

CurrentPrincipal = Annotated[Principal, Depends(user_guard)]
"""The caller of an authenticated route, as a handler parameter."""


class AuthenticatedRoute(JSONRoute):
    """A JSON route whose body errors never come before 401 and 403.

    When the body is refused before dependencies run (415, or a body that
    does not parse), the caller is authenticated and the path owner checked
    first, so an unauthenticated caller learns nothing about the request
    (the API contract).

    A write that fails because the caller's ``users`` row is gone (a foreign
    key violation: the account was deleted through another process, whose
    provisioner still remembered it, see ``UserProvisioner``) provisions the
    user again and is answered 503 ``SERVICE_UNAVAILABLE`` with
    ``Retry-After``: nothing was written, and the retry finds a new, empty
    account, as the API contract says a later token of a deleted user gets.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ordered(request: Request) -> Response:
            try:
                return await handler(request)
            except (UnsupportedMediaType, MalformedBody):
                await user_guard.authorize(request)
                raise
            except Exception as exc:
                if not is_owner_gone(exc):
                    raise
                await _provision_again(request)
                raise ServiceUnavailable("Your account was just created again; try again") from None

        return ordered


async def _provision_again(request: Request) -> None:
    """Store the caller's user anew (``UserProvisioner.provision_again``).

    Raises:
        Unauthorized: the caller's token is our own login's, whose account is gone (401).
    """
    principal = await user_guard.authorize(request)  # the caller (their token is cached)
    logger.info("user %s was gone (deleted through another process)", principal.user_id)
    await resources(request).provisioner.provision_again(principal)
