"""The account schemas of the API contract ("Authentication").

The class names are the schema names of the OpenAPI document, what a
generated client calls them: ``User`` (``UserPublic`` in the SQLModel
tutorial; the table is ``models.User``) and
``TokenRequest`` (the token route's form).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from todo_api.kit.routing import never_null, request_body_schema
from todo_api.kit.text import CleanText, RequestBody, clean_text

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


LoginEmail = Annotated[CleanText, AfterValidator(normalise_email)]
"""The email of a login or token request: clean text, in the form of ``normalise_email``,
not validated as an address (a malformed one is a plain ``INVALID_CREDENTIALS``)."""

NormalisedEmail = Annotated[CleanText, AfterValidator(valid_email)]
"""A signup email: valid, in the form of ``normalise_email``."""
MAX_NAME_LENGTH = 100
"""Characters of a profile name (the API contract, "Authentication")."""

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), BeforeValidator(clean_text)]
"""A profile name: the bounds on the ``str``, before the cleaning, so that they count
characters after stripping and say so ("String should have at most 100 characters";
after ``CleanText``'s validator Pydantic would count "items")."""


class User(SQLModel):
    """A user as clients see it: never the password hash (the table is ``models.User``)."""

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

    email: LoginEmail = Field(
        min_length=1, max_length=MAX_EMAIL_LENGTH, schema_extra={"examples": ["ada@example.com"]}
    )
    password: str = Field(
        min_length=1, max_length=1024, schema_extra={"examples": ["correct horse battery"]}
    )


class ProfileUpdate(RequestBody):
    """``PATCH /api/auth/me`` body: the fields sent change; ``name: null`` clears it."""

    name: Name | None = Field(default=None, schema_extra={"examples": ["Ada Lovelace"]})


def _secret(schema: dict[str, Any]) -> None:
    never_null(schema)
    schema["format"] = "password"


class TokenRequest(BaseModel):
    """``POST /api/auth/token`` form: the OAuth2 password grant (RFC 6749 §4.3.2).

    The fields and rules of FastAPI's ``OAuth2PasswordRequestForm``, under a name
    for clients; other form fields are ignored, as there. A form has no ``null``:
    the optional fields are left out, never null (``never_null``).
    """

    model_config = ConfigDict(json_schema_extra=request_body_schema)

    grant_type: str | None = PydanticField(
        default=None, pattern="^password$", json_schema_extra=never_null
    )
    username: LoginEmail = PydanticField(
        max_length=MAX_EMAIL_LENGTH, description="The account's email."
    )
    password: str = PydanticField(max_length=1024, json_schema_extra={"format": "password"})
    scope: str = ""
    client_id: str | None = PydanticField(default=None, json_schema_extra=never_null)
    client_secret: str | None = PydanticField(default=None, json_schema_extra=_secret)


class TokenResponse(SQLModel):
    """The bare OAuth2 token body of ``POST /api/auth/token`` (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (RFC 6750 token type)
    expires_in: int = Field(description="Lifetime in seconds.", schema_extra={"examples": [3600]})


class UserToken(TokenResponse):
    """Signup and login answer: the user and a token for them."""

    user: User


class UserTokenEnvelope(SQLModel):
    data: UserToken


class UserEnvelope(SQLModel):
    data: User
