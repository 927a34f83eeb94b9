"""Accounts: sign-up, login, profile, and provisioning users from verified tokens.

Passwords are Argon2id hashes (pwdlib). Hashing runs in a worker thread so
that it never blocks the event loop. Login costs one Argon2 verification
whether or not the email exists (a dummy hash stands in), so neither status,
body nor timing tells which emails have accounts (api.md, "Authentication").
"""

from __future__ import annotations

import secrets
import string
from functools import cached_property

import anyio.to_thread
from cachetools import LRUCache
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from todo_api.auth.models import USER_ID_LENGTH, ProfileUpdate, SignupRequest, User
from todo_api.auth.tokens import Principal
from todo_api.db import dialect_insert, utcnow
from todo_api.errors import EmailTaken, InvalidCredentials

_ID_ALPHABET = string.ascii_letters + string.digits


def new_user_id() -> str:
    """A 32-character alphanumeric id, the shape Better Auth gives its users."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(USER_ID_LENGTH))


ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM = 2, 19_456, 1
"""Argon2id at m=19 MiB, t=2, p=1: OWASP Password Storage Cheat Sheet's recommendation.

About 75 ms a hash on our 2-core machines (argon2-cffi's default profile,
64 MiB, t=3, p=4, took 320 ms there). Hashes made with other parameters are
re-hashed with these on the next successful login (``verify_and_update``).
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


async def signup(session: AsyncSession, passwords: Passwords, body: SignupRequest) -> User:
    """Create an account.

    Raises:
        EmailTaken: the (lower-cased) email already has an account.
    """
    existing = await session.execute(select(User.id).where(col(User.email) == body.email))
    if existing.first() is not None:
        raise EmailTaken()
    now = utcnow()
    user = User(
        id=new_user_id(),
        email=body.email,
        name=body.name,
        password_hash=await passwords.hash(body.password),
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent sign-up with the same email won
        raise EmailTaken() from None
    return user


async def authenticate(
    session: AsyncSession, passwords: Passwords, email: str, password: str
) -> User:
    """The user whose email and password these are.

    Raises:
        InvalidCredentials: unknown email or wrong password (one message, same cost).
    """
    result = await session.execute(select(User).where(col(User.email) == email))
    user = result.scalar_one_or_none()
    valid, new_hash = await passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid:
        raise InvalidCredentials()
    if new_hash is not None:
        user.password_hash = new_hash
    return user


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    """The user with id ``user_id``, if stored."""
    return await session.get(User, user_id)


async def update_profile(session: AsyncSession, user: User, body: ProfileUpdate) -> User:
    """Apply the fields sent in ``body`` to ``user``."""
    if "name" in body.model_fields_set:
        user.name = body.name
        user.updated_at = utcnow()
        await session.flush()
    return user


class UserProvisioner:
    """Creates the ``users`` row of a verified token's subject on first use.

    Remembers (bounded LRU) which ids exist, so a known user costs no database
    work per request. The row takes ``email`` and ``name`` from the claims;
    an email that another account already has is left out, because accounts
    are never merged by email (api.md, "Details").
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], size: int = 100_000):
        self._sessionmaker = sessionmaker
        self._known: LRUCache[str, bool] = LRUCache(maxsize=size)

    def remember(self, user_id: str) -> None:
        """Mark ``user_id`` as stored (after sign-up or login)."""
        self._known[user_id] = True

    async def ensure(self, principal: Principal) -> None:
        """Insert the principal's user unless it exists; idempotent under races."""
        if principal.user_id in self._known:
            return
        async with self._sessionmaker.begin() as session:
            insert = dialect_insert(session.get_bind().dialect)
            now = utcnow()
            row = {
                "id": principal.user_id,
                "email": principal.email,
                "name": principal.name,
                "created_at": now,
                "updated_at": now,
            }
            table = User.__table__  # type: ignore[attr-defined]
            inserted = await session.execute(
                insert(table).values(row).on_conflict_do_nothing().returning(table.c.id)
            )
            if (
                inserted.first() is None
                and principal.email is not None
                and await session.get(User, principal.user_id) is None
            ):
                # The email belongs to another account: provision without it.
                await session.execute(
                    insert(table).values({**row, "email": None}).on_conflict_do_nothing()
                )
        self.remember(principal.user_id)
