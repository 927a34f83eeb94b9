"""Entity tags and conditional requests (RFC 9110 §8.8.3, §13.1).

A resource's ETag is derived from its id and its version, which grows on
every write: the same on every replica, new after every change. The router
reads ``If-Match`` into a ``Precondition`` and hands it to the service, which
checks it against the row it has locked, so that the check and the write
that follows are atomic.
"""

from __future__ import annotations

from dataclasses import dataclass

from todo_api.kit.errors import PreconditionFailed


def entity_tag(resource_id: int, version: int) -> str:
    """The strong ETag of version ``version`` of resource ``resource_id``: ``"42.3"``."""
    return f'"{resource_id}.{version}"'


def etag_matches(header: str | None, etag: str, *, weak: bool) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` header names ``etag``.

    ``*`` matches any current representation. ``If-Match`` uses the strong
    comparison (RFC 9110 §13.1.1), so a ``W/`` tag never matches it;
    ``If-None-Match`` uses the weak one (§13.1.2).
    """
    if header is None:
        return False
    for candidate in (part.strip() for part in header.split(",")):
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            if weak and candidate[2:] == etag:
                return True
        elif candidate == etag:
            return True
    return False


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether a GET with this ``If-None-Match`` gets 304 for ``etag`` (RFC 9110 §13.1.2)."""
    return etag_matches(if_none_match, etag, weak=True)


@dataclass(frozen=True, slots=True)
class Precondition:
    """A write's ``If-Match`` header (``None``: no header, every version passes)."""

    if_match: str | None = None

    def versions(self, resource_id: int) -> list[int] | None:
        """The versions of resource ``resource_id`` that ``If-Match`` names, for a
        statement that checks them itself: ``None`` when any version passes (no
        header, or ``*``), an empty list when none does.
        """
        if self.if_match is None:
            return None
        prefix = f'"{resource_id}.'
        versions = []
        for candidate in (part.strip() for part in self.if_match.split(",")):
            if candidate == "*":
                return None
            if candidate.startswith(prefix) and candidate.endswith('"'):
                number = candidate[len(prefix) : -1]
                if number.isdigit() and len(number) <= 18:  # a BIGINT, never a 500
                    versions.append(int(number))
        return versions

    def check(self, resource_id: int, version: int) -> None:
        """Pass if the resource at ``version`` may be written.

        Raises:
            PreconditionFailed: ``If-Match`` does not name the current ETag (412).
        """
        if self.if_match is not None and not etag_matches(
            self.if_match, entity_tag(resource_id, version), weak=False
        ):
            raise PreconditionFailed()


UNCONDITIONAL = Precondition()
"""A write without ``If-Match``."""
