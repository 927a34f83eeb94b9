"""Cursors of keyset pagination (the API contract, "Listing": ``next_cursor``,
``cursor``): opaque to clients, tamper-evident.

A cursor is a JSON payload signed with HMAC (itsdangerous'
``URLSafeSerializer``: URL-safe base64 of the payload, then its signature),
under a key derived from ``BETTER_AUTH_SECRET`` with a salt of its own, so a
cursor is good on every replica and a token signature is never one. The
payload is readable, not secret: it says where a page starts, nothing a
client could not see.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadData, URLSafeSerializer

_SALT = "todo-api list cursor"


class CursorSigner:
    """Signs cursor payloads (JSON objects) and checks signed cursors."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)

    def sign(self, payload: dict[str, Any]) -> str:
        """The cursor of ``payload``: ASCII, URL-safe."""
        cursor: str = self._serializer.dumps(payload)
        return cursor

    def payload(self, cursor: str) -> dict[str, Any] | None:
        """The payload a cursor carries; ``None`` if it is malformed or its signature
        does not hold (made elsewhere, or altered)."""
        try:
            payload = self._serializer.loads(cursor)
        except BadData:
            return None
        return payload if isinstance(payload, dict) else None
