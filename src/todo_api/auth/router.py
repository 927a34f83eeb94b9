"""Account routes of the API contract ("Authentication"): signup, login, token, me.

``router`` holds our own account system (signup, login, token), which
``LOCAL_ACCOUNTS=false`` leaves unserved; ``me_router`` the profile, served always.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response, status

from todo_api.auth import service
from todo_api.auth.dependencies import AuthenticatedRoute, CurrentPrincipal
from todo_api.auth.repository import UserRow
from todo_api.auth.schemas import (
    LoginRequest,
    ProfileUpdate,
    SignupRequest,
    TokenRequest,
    TokenResponse,
    User,
    UserEnvelope,
    UserToken,
    UserTokenEnvelope,
)
from todo_api.auth.tokens import issue_access_token
from todo_api.kit.errors import error_doc
from todo_api.kit.routing import JSONRoute
from todo_api.resources import Resources, resources

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    413: error_doc("Body over the size limit (`PAYLOAD_TOO_LARGE`)."),
    422: error_doc("A field failed validation (`VALIDATION_ERROR`)."),
    429: error_doc("Too many attempts from this address (`RATE_LIMITED`)."),
    503: error_doc("The database is unreachable (`SERVICE_UNAVAILABLE`)."),
}
BAD_CREDENTIALS: dict[int | str, dict[str, Any]] = {
    401: error_doc("Wrong email or password (`INVALID_CREDENTIALS`).")
}


async def count_auth_attempt(request: Request) -> None:
    """Count a signup, login or token request for its client address (the peer's;
    uvicorn applies ``X-Forwarded-For`` from trusted proxies).

    The router's dependency, so it runs before FastAPI validates the body: a
    flood of invalid bodies is refused at the rate of valid ones. A body that
    is not JSON at all is refused before any dependency runs, at the cost of
    parsing it (at most ``MAX_BODY_BYTES``), and is not counted.

    Raises:
        RateLimited: over ``RATE_LIMIT_AUTH`` for the address (429).
    """
    host = request.client.host if request.client else "unknown"
    await resources(request).rate_limiter.limit_auth_attempt(request.scope, host)


router = APIRouter(
    prefix="/api/auth",
    tags=["auth"],
    route_class=JSONRoute,
    responses=AUTH_ERRORS,
    dependencies=[Depends(count_auth_attempt)],
)
me_router = APIRouter(
    prefix="/api/auth",
    tags=["auth"],
    route_class=AuthenticatedRoute,
    responses={
        401: error_doc("Missing, malformed or expired token (`UNAUTHORIZED`)."),
        429: error_doc("Over the rate limit (`RATE_LIMITED`)."),
        503: error_doc("The database is unreachable (`SERVICE_UNAVAILABLE`)."),
    },
)

ResourcesDep = Annotated[Resources, Depends(resources)]


async def _signed_in(found: Resources, sign_in: Callable[[], Awaitable[UserRow]]) -> UserToken:
    """Call ``sign_in`` (the service call) and answer with a fresh token for its user."""
    user = await sign_in()
    found.provisioner.remember(user)
    token, expires_in = issue_access_token(
        user_id=user["id"], email=user["email"], name=user["name"], settings=found.settings
    )
    return UserToken(user=User.model_validate(user), access_token=token, expires_in=expires_in)


@router.post(
    "/signup",
    operation_id="signUp",
    summary="Create an account",
    description=(
        "Creates an account and signs it in. The email is lower-cased; the password is "
        "8 to 128 characters and stored only as an Argon2id hash."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=UserTokenEnvelope,
    responses={
        409: error_doc("The email already has an account (`EMAIL_TAKEN`)."),
        415: error_doc("Body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)."),
    },
)
async def signup(body: SignupRequest, found: ResourcesDep) -> UserTokenEnvelope:
    sign_in = partial(service.signup, found.database, found.passwords, body)
    return UserTokenEnvelope(data=await _signed_in(found, sign_in))


@router.post(
    "/login",
    operation_id="logIn",
    summary="Log in",
    description=(
        "Exchanges email and password for a token. A wrong email and a wrong password "
        "get the same answer, in about the same time."
    ),
    response_model=UserTokenEnvelope,
    responses={**BAD_CREDENTIALS, 415: error_doc("Body is not JSON (`UNSUPPORTED_MEDIA_TYPE`).")},
)
async def login(body: LoginRequest, found: ResourcesDep) -> UserTokenEnvelope:
    sign_in = partial(
        service.check_credentials, found.database, found.passwords, body.email, body.password
    )
    return UserTokenEnvelope(data=await _signed_in(found, sign_in))


@router.post(
    "/token",
    operation_id="issueToken",
    summary="OAuth2 password flow",
    description=(
        "Form-encoded `username` (the email) and `password`; answers with the bare OAuth2 "
        "token body (RFC 6749 §5.1). This is what the Authorize button of `/docs` uses."
    ),
    response_model=TokenResponse,
    responses=BAD_CREDENTIALS,
)
async def token(form: Annotated[TokenRequest, Form()], found: ResourcesDep) -> TokenResponse:
    sign_in = partial(
        service.check_credentials, found.database, found.passwords, form.username, form.password
    )
    issued = await _signed_in(found, sign_in)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@me_router.get(
    "/me",
    operation_id="getProfile",
    summary="Your profile",
    description=(
        "The authenticated user. A token whose `email` or `name` claim differs from what "
        "the API last saw updates the profile first (Better Auth stays the source of truth); "
        "an email that another account holds is never taken."
    ),
    response_model=UserEnvelope,
)
async def get_me(principal: CurrentPrincipal, found: ResourcesDep) -> UserEnvelope:
    user = await service.get_profile(found.database, found.provisioner, principal)
    return UserEnvelope(data=User.model_validate(user))


@me_router.patch(
    "/me",
    operation_id="updateProfile",
    summary="Update your profile",
    description=(
        "Changes the fields sent; `name: null` clears the name. The next token with "
        "another `name` claim overwrites it: with Better Auth, change names there."
    ),
    response_model=UserEnvelope,
    responses={
        413: error_doc("Body over the size limit (`PAYLOAD_TOO_LARGE`)."),
        415: error_doc("Body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)."),
        422: error_doc("A field failed validation (`VALIDATION_ERROR`)."),
    },
)
async def update_me(
    body: ProfileUpdate, principal: CurrentPrincipal, found: ResourcesDep
) -> UserEnvelope:
    user = await service.update_profile(found.database, found.provisioner, principal, body)
    return UserEnvelope(data=User.model_validate(user))


@me_router.delete(
    "/me",
    operation_id="deleteProfile",
    summary="Delete your account",
    description=(
        "Deletes the user and all their data (tasks and their tags). A later token with "
        "the same `sub` provisions a new, empty user, so call this after deleting the "
        "account in Better Auth."
    ),
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={204: {"description": "Deleted, with everything the user owned."}},
)
async def delete_me(principal: CurrentPrincipal, found: ResourcesDep) -> Response:
    await service.delete_account(found.database, found.provisioner, principal.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
