"""Entity tags and conditional requests (RFC 9110 §8.8.3, §13.1).

A resource's ETag is derived from its id and its version, which grows on
every write: the same on every replica, new after every change. The router
reads ``If-Match`` into a ``Precondition``; the service hands the versions it
names to the write statement, which compares them with the row it has
locked, so that the check and the write are atomic.
"""

from __future__ import annotations

from dataclasses import dataclass


def entity_tag(resource_id: int, version: int | str) -> str:
    """The strong ETag of version ``version`` of resource ``resource_id``: ``"42.3"``.

    ``version`` is a string when a resource's representation changes with more
    than its own version (a list's counts: ``"7.3.12.5"``)."""
    return f'"{resource_id}.{version}"'


def _listed(header: str) -> list[str]:
    """The members of an entity-tag list header (``*`` among them, if sent)."""
    return [part.strip() for part in header.split(",")]


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether a GET with this ``If-None-Match`` gets 304 for ``etag``: ``*`` or the
    weak comparison, in which ``W/"42.3"`` names ``"42.3"`` too (RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _listed(if_none_match))


@dataclass(frozen=True, slots=True)
class Precondition:
    """A write's ``If-Match`` header (``None``: no header, every version passes)."""

    if_match: str | None = None

    def allows(self, etag: str) -> bool:
        """Whether a write to the resource whose current ETag is ``etag`` may go ahead:
        no header, ``*``, or ``etag`` among the tags sent (the strong comparison,
        RFC 9110 §13.1.1), for a service that compares under the row's lock."""
        if self.if_match is None:
            return True
        return any(tag in ("*", etag) for tag in _listed(self.if_match))

    def versions(self, resource_id: int) -> list[int] | None:
        """The versions of resource ``resource_id`` that ``If-Match`` names, for a
        statement that checks them itself: ``None`` when any version passes (no
        header, or ``*``), an empty list when none does. The strong comparison
        (RFC 9110 §13.1.1): a weak ``W/`` tag names no version.
        """
        if self.if_match is None:
            return None
        prefix = f'"{resource_id}.'
        versions = []
        for tag in _listed(self.if_match):
            if tag == "*":
                return None
            if tag.startswith(prefix) and tag.endswith('"'):
                number = tag[len(prefix) : -1]
                if number.isdigit() and len(number) <= 18:  # a BIGINT, never a 500
                    versions.append(int(number))
        return versions
