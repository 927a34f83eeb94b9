"""Accounts (the API contract, "Authentication"): sign-up, sign-in, profile, and users
provisioned from verified tokens.

Passwords are hashed outside any transaction (``Passwords`` runs Argon2 in a
worker thread), so no connection is held while a hash is computed. Sign-in
costs one Argon2 verification whether or not the email exists, so neither
status, body nor timing tells which emails have accounts.
"""

from __future__ import annotations

import secrets
import string

from cachetools import LRUCache

from todo_api.auth import repository
from todo_api.auth.models import USER_ID_LENGTH
from todo_api.auth.passwords import Passwords
from todo_api.auth.repository import UserRow
from todo_api.auth.schemas import ProfileUpdate, SignupRequest
from todo_api.auth.tokens import Principal
from todo_api.kit.columns import utcnow
from todo_api.kit.database import Database
from todo_api.kit.errors import EmailTaken, InvalidCredentials

_ID_ALPHABET = string.ascii_letters + string.digits


def new_user_id() -> str:
    """A 32-character alphanumeric id, the shape Better Auth gives its users."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(USER_ID_LENGTH))


def new_user(
    user_id: str, email: str | None, name: str | None, password_hash: str | None
) -> UserRow:
    """A ``users`` row created now."""
    now = utcnow()
    return UserRow(
        id=user_id,
        email=email,
        name=name,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )


async def signup(database: Database, passwords: Passwords, body: SignupRequest) -> UserRow:
    """Create an account.

    Raises:
        EmailTaken: the (lower-cased) email already has an account (409).
    """
    async with database.reading() as db:
        if await repository.find_user_by_email(db, body.email) is not None:
            raise EmailTaken()  # before the hash: a taken email costs no Argon2
    user = new_user(new_user_id(), body.email, body.name, await passwords.hash(body.password))
    async with database.atomic_write() as db:
        if not await repository.insert_user(db, user):  # a concurrent sign-up won
            raise EmailTaken()
    return user


async def check_credentials(
    database: Database, passwords: Passwords, email: str, password: str
) -> UserRow:
    """The user whose email and password these are; an outdated hash is re-hashed.

    Raises:
        InvalidCredentials: unknown email or wrong password (one message, same cost; 401).
    """
    async with database.reading() as db:
        user = await repository.find_user_by_email(db, email)
    valid, new_hash = await passwords.verify(password, user["password_hash"] if user else None)
    if user is None or not valid:
        raise InvalidCredentials()
    if new_hash is not None:
        async with database.unit_of_work() as db:
            await repository.set_password_hash(db, user["id"], new_hash)
    return user


async def get_user(database: Database, user_id: str) -> UserRow | None:
    """The user ``user_id``, if stored."""
    async with database.reading() as db:
        return await repository.find_user(db, user_id)


async def update_profile(database: Database, user_id: str, body: ProfileUpdate) -> UserRow | None:
    """Apply the fields sent in ``body`` (``name: null`` clears the name).

    Returns:
        The user as stored, ``None`` if there is no such user.
    """
    if "name" not in body.model_fields_set:
        return await get_user(database, user_id)
    async with database.atomic_write() as db:
        return await repository.set_name(db, user_id, body.name, utcnow())


class UserProvisioner:
    """Creates the ``users`` row of a verified token's subject on first use.

    Remembers (bounded LRU) which ids exist, so a known user costs no database
    work per request. The row takes ``email`` and ``name`` from the claims;
    an email that another account already has is left out, because accounts
    are never merged by email (the API contract, "Details").
    """

    def __init__(self, database: Database, size: int = 100_000):
        self._database = database
        self._known: LRUCache[str, bool] = LRUCache(maxsize=size)

    def remember(self, user_id: str) -> None:
        """Mark ``user_id`` as stored (after sign-up or sign-in)."""
        self._known[user_id] = True

    async def ensure(self, principal: Principal) -> None:
        """Insert the principal's user unless it exists; idempotent under races."""
        if principal.user_id in self._known:
            return
        user = new_user(principal.user_id, principal.email, principal.name, None)
        async with self._database.unit_of_work() as db:
            if (
                not await repository.insert_user(db, user)
                and principal.email is not None
                and await repository.find_user(db, principal.user_id) is None
            ):
                # The email belongs to another account: provision without it.
                await repository.insert_user(db, {**user, "email": None})
        self.remember(principal.user_id)
