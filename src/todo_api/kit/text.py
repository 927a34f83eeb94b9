"""Validated text for request schemas, and the base of every request body.

Text rule (the API contract, "Conventions"): leading and trailing whitespace is
stripped; NUL and the other C0 control characters except tab and newline
are rejected. Lone UTF-16 surrogates (``"\\ud800"`` in JSON) are rejected
too: they are not Unicode scalar values, so no database can store them.

Request bodies refuse unknown fields (the API contract: no mass assignment of
``id``, ``user_id``...), and the cost of refusing them is bounded: however
many unknown keys a body holds, at most ``MAX_REPORTED_UNKNOWN_FIELDS`` of
them are validated and reported.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict, model_validator
from sqlmodel import SQLModel
from sqlmodel.main import SQLModelConfig  # type: ignore[attr-defined]

from todo_api.kit.columns import MAX_INT64

FORBID_EXTRA = SQLModelConfig(extra="forbid")
"""Request bodies refuse unknown fields: no mass assignment of ``id``, ``user_id``...
(the API contract)."""

MAX_REPORTED_UNKNOWN_FIELDS = 20
"""Unknown fields of one body that are validated (and reported); the rest are dropped
unseen, so a body of 70,000 unknown keys costs what one of 20 does."""

_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")


def forbidden_character(value: str) -> bool:
    """True when ``value`` holds a C0 control character other than tab and
    newline, or a lone surrogate."""
    return _FORBIDDEN_CHARACTERS.search(value) is not None


def clean_text(value: object) -> object:
    """Strip whitespace and refuse forbidden characters (``forbidden_character``).

    Non-strings pass through so that Pydantic reports the type error.

    Raises:
        ValueError: the text holds a forbidden character.
    """
    if not isinstance(value, str):
        return value
    if forbidden_character(value):
        raise ValueError("must not contain control characters")
    return value.strip()


def check_query_text(value: str | None) -> str | None:
    """``clean_text`` for query parameters (``q``, ``tag``); ``None`` passes."""
    result = clean_text(value)
    assert result is None or isinstance(result, str)
    return result


CleanText = Annotated[str, BeforeValidator(clean_text)]
"""A ``str`` that is stripped and free of forbidden characters."""

QueryText = Annotated[str | None, AfterValidator(check_query_text)]

_DECIMAL_DIGITS = re.compile(r"[0-9]{1,20}")


def decimal_digits(value: object) -> object:
    """Refuse an integer written as anything but plain decimal digits.

    Pydantic's lax ``int`` takes ``"17.0"``, ``"+1"``, ``"1_0"`` and ``" 17"``;
    the API contract ("Details") says an id or ``page`` that is not a positive
    integer is 422. Non-strings (JSON numbers) pass through to ``int``'s own
    rules.

    Raises:
        ValueError: a string that is not 1 to 20 digits.
    """
    if isinstance(value, str) and not _DECIMAL_DIGITS.fullmatch(value):
        raise ValueError("Input should be a positive integer written in digits")
    return value


DECIMAL_DIGITS = BeforeValidator(decimal_digits)
"""``Annotated`` metadata for an ``int`` that, sent as text (path, query), must be
plain decimal digits. Put it after the ``Field``/``Path`` with the bounds, so
that they stay in the OpenAPI schema."""


class RequestBody(SQLModel):
    """Base of every JSON request body: unknown fields are 422, and only the first
    ``MAX_REPORTED_UNKNOWN_FIELDS`` of them are looked at."""

    model_config = FORBID_EXTRA

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        fields = cls.model_fields
        if not isinstance(data, dict) or len(data) <= len(fields) + MAX_REPORTED_UNKNOWN_FIELDS:
            return data
        kept: dict[Any, Any] = {}
        unknown = 0
        for key, value in data.items():
            if key in fields:
                kept[key] = value
            elif unknown < MAX_REPORTED_UNKNOWN_FIELDS:
                kept[key] = value
                unknown += 1
        return kept


BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_INT64)]
"""An id in a JSON body (a list's, a task's): a JSON integer from 1 to 2^63 - 1. Strict:
``"7"``, ``7.0`` and ``true`` are 422, not the id 7 or 1."""
