"""The account schemas of the API contract ("Authentication")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr
from sqlmodel import Field, SQLModel

from todo_api.kit.text import FORBID_EXTRA, CleanText


def normalise_email(value: str) -> str:
    """Emails are one account regardless of case or surrounding spaces (the API contract)."""
    return value.strip().lower()


NormalisedEmail = Annotated[EmailStr, AfterValidator(normalise_email)]
Name = Annotated[CleanText, Field(min_length=1, max_length=100)]


class UserPublic(SQLModel):
    """A user as clients see it: never the password hash."""

    id: str = Field(schema_extra={"examples": ["3kQx9mW2pL7vN4rT8yB1cF6hJ0dS5aGe"]})
    email: str | None = Field(schema_extra={"examples": ["ada@example.com"]})
    name: str | None = Field(schema_extra={"examples": ["Ada"]})
    created_at: datetime


class SignupRequest(SQLModel):
    """``POST /api/auth/signup`` body: password 8 to 128 characters, name at most 100."""

    model_config = FORBID_EXTRA

    email: NormalisedEmail = Field(max_length=320, schema_extra={"examples": ["ada@example.com"]})
    password: str = Field(
        min_length=8, max_length=128, schema_extra={"examples": ["correct horse battery"]}
    )
    name: Name | None = Field(default=None, schema_extra={"examples": ["Ada"]})


class LoginRequest(SQLModel):
    """``POST /api/auth/login`` body.

    The email is only normalised, not validated as an address, so that a
    malformed one is a plain ``INVALID_CREDENTIALS`` like any unknown one.
    """

    model_config = FORBID_EXTRA

    email: Annotated[str, AfterValidator(normalise_email)] = Field(
        min_length=1, max_length=320, schema_extra={"examples": ["ada@example.com"]}
    )
    password: str = Field(
        min_length=1, max_length=1024, schema_extra={"examples": ["correct horse battery"]}
    )


class ProfileUpdate(SQLModel):
    """``PATCH /api/auth/me`` body: the fields sent change; ``name: null`` clears it."""

    model_config = FORBID_EXTRA

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
