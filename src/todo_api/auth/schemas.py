"""The account schemas of the API contract ("Authentication")."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator
from sqlmodel import Field, SQLModel

from todo_api.kit.text import CleanText, RequestBody

MAX_EMAIL_LENGTH = 320
"""Characters of an email address (RFC 3696 errata: 64 + 1 + 255)."""


def normalise_email(value: str) -> str:
    """The one form of an email that identifies an account: NFKC, stripped, lower-cased.

    Used alike by signup, login, token and token claims, so that one address
    is one account however it is written (the API contract, "Details"): the
    case, surrounding spaces, decomposed accents (``jose\u0301``) and
    full-width letters (``\\uff41da@…``) all fold to one string.
    """
    return unicodedata.normalize("NFKC", value).strip().lower()


def valid_email(value: str) -> str:
    """``normalise_email(value)``, checked to be an email address (no DNS lookup).

    Raises:
        ValueError: the normalised value is not an email address.
    """
    normalised = normalise_email(value)
    try:
        validate_email(normalised, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None
    return normalised


NormalisedEmail = Annotated[CleanText, AfterValidator(valid_email)]
"""A signup email: valid, in the form of ``normalise_email``."""
Name = Annotated[CleanText, Field(min_length=1, max_length=100)]


class UserPublic(SQLModel):
    """A user as clients see it: never the password hash."""

    id: str = Field(schema_extra={"examples": ["3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe"]})
    email: str | None = Field(schema_extra={"examples": ["ada@example.com"]})
    name: str | None = Field(schema_extra={"examples": ["Ada"]})
    created_at: datetime


class SignupRequest(RequestBody):
    """``POST /api/auth/signup`` body: password 8 to 128 characters, name at most 100."""

    email: NormalisedEmail = Field(
        max_length=MAX_EMAIL_LENGTH,
        schema_extra={"examples": ["ada@example.com"], "format": "email"},
    )
    password: str = Field(
        min_length=8, max_length=128, schema_extra={"examples": ["correct horse battery"]}
    )
    name: Name | None = Field(default=None, schema_extra={"examples": ["Ada"]})


class LoginRequest(RequestBody):
    """``POST /api/auth/login`` body.

    The email is only normalised, not validated as an address, so that a
    malformed one is a plain ``INVALID_CREDENTIALS`` like any unknown one.
    """

    email: Annotated[CleanText, AfterValidator(normalise_email)] = Field(
        min_length=1, max_length=MAX_EMAIL_LENGTH, schema_extra={"examples": ["ada@example.com"]}
    )
    password: str = Field(
        min_length=1, max_length=1024, schema_extra={"examples": ["correct horse battery"]}
    )


class ProfileUpdate(RequestBody):
    """``PATCH /api/auth/me`` body: the fields sent change; ``name: null`` clears it."""

    name: Name | None = Field(default=None, schema_extra={"examples": ["Ada Lovelace"]})


class TokenResponse(SQLModel):
    """The bare OAuth2 token body of ``POST /api/auth/token`` (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (RFC 6750 token type)
    expires_in: int = Field(description="Lifetime in seconds.", schema_extra={"examples": [3600]})


class UserToken(TokenResponse):
    """Signup and login answer: the user and a token for them."""

    user: UserPublic


class UserTokenEnvelope(SQLModel):
    data: UserToken


class UserEnvelope(SQLModel):
    data: UserPublic
