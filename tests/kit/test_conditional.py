"""``kit.conditional``: which versions an ``If-Match`` header names (RFC 9110 §13.1.1)."""

from __future__ import annotations

import pytest

from todo_api.kit.conditional import Precondition


@pytest.mark.parametrize(
    ("if_match", "versions"),
    [
        (None, None),  # no header: any version
        ("*", None),
        ('"7.3"', [3]),
        ('"7.3", "7.5"', [3, 5]),
        ('"8.3"', []),  # another task's ETag
        ('W/"7.3"', []),  # a weak tag never matches If-Match
        ('"7.3', []),
        ('"7.-1"', []),
        ('"7.' + "9" * 30 + '"', []),  # beyond BIGINT: no match, no overflow
        ('"8.1", *', None),
    ],
)
def test_versions_named_by_if_match(if_match: str | None, versions: list[int] | None) -> None:
    assert Precondition(if_match).versions(7) == versions
