"""Validated text for request schemas, and the rule that bodies refuse unknown fields.

Text rule (the API contract, "Conventions"): leading and trailing whitespace is
stripped; NUL and the other C0 control characters except tab and newline
are rejected.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from sqlmodel.main import SQLModelConfig  # type: ignore[attr-defined]

FORBID_EXTRA = SQLModelConfig(extra="forbid")
"""Request bodies refuse unknown fields: no mass assignment of ``id``, ``user_id``...
(the API contract)."""

_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def clean_text(value: object) -> object:
    """Strip whitespace and refuse C0 control characters other than tab and newline.

    Non-strings pass through so that Pydantic reports the type error.

    Raises:
        ValueError: the text holds a forbidden control character.
    """
    if not isinstance(value, str):
        return value
    if _FORBIDDEN_CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value.strip()


def check_query_text(value: str | None) -> str | None:
    """``clean_text`` for query parameters (``q``, ``tag``); ``None`` passes."""
    result = clean_text(value)
    assert result is None or isinstance(result, str)
    return result


CleanText = Annotated[str, BeforeValidator(clean_text)]
"""A ``str`` that is stripped and free of forbidden control characters."""

QueryText = Annotated[str | None, AfterValidator(check_query_text)]
