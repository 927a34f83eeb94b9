"""Cursors of keyset pagination (the API contract, "Listing": ``next_cursor``,
``cursor``): opaque to clients, tamper-evident.

A cursor is a JSON payload in URL-safe base64, signed with HMAC (itsdangerous'
``Signer``) under a key derived from ``BETTER_AUTH_SECRET`` with a salt of its
own, so a cursor is good on every replica and a token signature is never one.
(``URLSafeSerializer`` would also try to compress the payload: twice the time
on every page, for a payload of some 100 bytes.) The
payload is readable, not secret: it says where a page starts, nothing a
client could not see.
"""

from __future__ import annotations

from typing import Any

import orjson
from itsdangerous import BadData, Signer
from itsdangerous.encoding import base64_decode, base64_encode

_SALT = "todo-api list cursor"


class CursorSigner:
    """Signs cursor payloads (JSON objects) and checks signed cursors."""

    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, salt=_SALT)

    def sign(self, payload: dict[str, Any]) -> str:
        """The cursor of ``payload``: ASCII, URL-safe."""
        return self._signer.sign(base64_encode(orjson.dumps(payload))).decode()

    def payload(self, cursor: str) -> dict[str, Any] | None:
        """The payload a cursor carries; ``None`` if it is malformed or its signature
        does not hold (made elsewhere, or altered)."""
        try:
            payload = orjson.loads(base64_decode(self._signer.unsign(cursor)))
        except (BadData, ValueError, UnicodeError):
            return None
        return payload if isinstance(payload, dict) else None
