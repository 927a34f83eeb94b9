"""Password hashing: Argon2id (pwdlib), in a worker thread, with a dummy hash for
unknown emails so that a login costs the same whether or not the email exists
(the API contract, "Authentication")."""

from __future__ import annotations

import secrets
from functools import cached_property

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM = 2, 19_456, 1
"""Argon2id at m=19 MiB, t=2, p=1: OWASP Password Storage Cheat Sheet's recommendation.

Cheaper than argon2-cffi's default profile and still above OWASP's floor
(timings in docs/design.md, "Argon2id parameters"). Hashes made with other
parameters are re-hashed with these on the next successful login
(``verify_and_update``).
"""


class Passwords:
    """Argon2id hashing with a dummy hash for unknown emails."""

    def __init__(self) -> None:
        self._hasher = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=ARGON2_TIME_COST,
                    memory_cost=ARGON2_MEMORY_KIB,
                    parallelism=ARGON2_PARALLELISM,
                ),
            )
        )

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    def _verify_dummy(self, password: str) -> None:
        # In the worker thread: the first call also computes the dummy hash.
        self._hasher.verify(password, self._dummy_hash)

    async def hash(self, password: str) -> str:
        """The Argon2id PHC string of ``password``."""
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Check ``password``; with no hash, spend the same time on a dummy one.

        Returns:
            ``(valid, new_hash)``: ``new_hash`` is set when the stored hash used
            outdated parameters and should be replaced (pwdlib's
            ``verify_and_update``).
        """
        if password_hash is None:
            await anyio.to_thread.run_sync(self._verify_dummy, password)
            return False, None
        return await anyio.to_thread.run_sync(
            self._hasher.verify_and_update, password, password_hash
        )
