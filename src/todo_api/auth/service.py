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
from todo_api.kit.database_errors import is_unique_violation
from todo_api.kit.errors import EmailTaken, InvalidCredentials, NotFound, Unauthorized

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


async def get_profile(
    database: Database, provisioner: UserProvisioner, principal: Principal
) -> UserRow:
    """The caller's profile (``GET /api/auth/me``).

    A user whose row is gone (deleted through another process, whose
    provisioner still remembered them) is provisioned again first, as the
    API contract says a later token of a deleted user is.

    Raises:
        NotFound: the row went again in between (404).
    """
    user = await get_user(database, principal.user_id)
    if user is None:
        await provisioner.provision_again(principal)
        user = await get_user(database, principal.user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def update_profile(
    database: Database, provisioner: UserProvisioner, principal: Principal, body: ProfileUpdate
) -> UserRow:
    """Apply the fields sent in ``body`` (``name: null`` clears the name).

    A missing row is provisioned again first, as in ``get_profile``.

    Raises:
        NotFound: the row went again in between (404).
    """
    if "name" not in body.model_fields_set:
        return await get_profile(database, provisioner, principal)

    async def set_name() -> UserRow | None:
        async with database.atomic_write() as db:
            return await repository.set_name(db, principal.user_id, body.name, utcnow())

    user = await set_name()
    if user is None:
        await provisioner.provision_again(principal)
        user = await set_name()
    if user is None:
        raise NotFound("User not found")
    return user


async def delete_account(database: Database, provisioner: UserProvisioner, user_id: str) -> None:
    """Delete the user and all their data, in one statement (``DELETE /api/auth/me``).

    Every table a user owns references ``users.id`` with ``ON DELETE
    CASCADE`` (``owner_field``), so the one ``DELETE`` takes their tasks, tags,
    tag links and task counts with it, atomically. A user already gone is
    no error. The provisioner forgets the user afterwards, so that this
    process's next request with their token provisions a new, empty user
    (the API contract); other processes are covered by ``UserProvisioner``.
    """
    async with database.atomic_write() as db:
        await repository.delete_user(db, user_id)
    provisioner.forget(user_id)


class UserProvisioner:
    """Stores the ``users`` row of a verified token's subject and keeps its profile
    up to the token's ``email`` and ``name`` claims (the API contract, "``GET
    /api/auth/me``": Better Auth stays the source of truth).

    It remembers (bounded LRU) each user it has stored with the claims last
    seen for them, so a request whose token says nothing new costs no
    database work. A token whose claims differ from those, or a user not
    remembered, costs one statement (``repository.provision_user``): the row
    is inserted, or its profile updated if it says something else. An absent
    claim changes nothing (session tokens carry none). An email that another
    user holds is never taken (accounts are never merged by email, "Details"):
    the row gets no email, also when the other user took it between the
    statement's check and its write (the statement is run again without it).

    Claims apply in the order their tokens were issued (``iat``): a token
    older than the one whose claims were applied last changes nothing, so an
    old and a new token used side by side do not rewrite the row in turn.
    What a process remembers is compared, not the stored row: a name changed
    by ``PATCH /api/auth/me`` stays until a token with another ``name`` claim
    comes, or until a process that has not seen the token compares it with
    the stored profile.

    Tokens our own login issued (``Principal.local_account``) are never
    provisioned from and never change the profile: their account is ours, its
    profile what sign-up and ``PATCH /api/auth/me`` made it. Their user must
    exist, so a deleted local account's tokens are refused (401) instead of
    making a password-less row that would hold its email for ever.

    The memory is per process. ``forget`` drops a user (``DELETE
    /api/auth/me`` in this process); another process may still remember a
    user deleted elsewhere and skip the statement. Nothing then breaks: reads
    find an empty account (what a new user would see), ``get_profile`` and
    ``update_profile`` provision the user again, and a write that fails on the
    missing row provisions them again and answers 503 to be retried
    (``AuthenticatedRoute``).
    """

    def __init__(self, database: Database, size: int = 100_000):
        self._database = database
        # user id -> (email, name, iat) of the claims last applied
        self._seen: LRUCache[str, tuple[str | None, str | None, float | None]] = LRUCache(
            maxsize=size
        )

    def remember(self, user: UserRow) -> None:
        """Mark ``user`` as stored, with its email and name as the claims seen (after
        sign-up or sign-in: the token issued carries them)."""
        self._seen[user["id"]] = (user["email"], user["name"], None)

    def forget(self, user_id: str) -> None:
        """Drop ``user_id``: its next request runs the statement again."""
        self._seen.pop(user_id, None)

    async def ensure(self, principal: Principal) -> None:
        """Store the principal's user, or update its profile, unless its claims say
        nothing new since last seen; idempotent under races.

        Raises:
            Unauthorized: a token of our own login whose account is gone (401).
            Whatever the database raises (503 or 500 by the error handlers); never
            a unique violation on the email.
        """
        if principal.local_account:
            await self._require_local_account(principal.user_id)
            return
        email, name = principal.email, principal.name
        issued_at = principal.issued_at
        seen = self._seen.get(principal.user_id)
        if seen is not None:
            seen_email, seen_name, seen_issued_at = seen
            if issued_at is not None and seen_issued_at is not None and issued_at < seen_issued_at:
                return  # an older token than the claims applied: they are out of date
            if (email is None or email == seen_email) and (name is None or name == seen_name):
                return
            email = seen_email if email is None else email
            name = seen_name if name is None else name
        await self._store(principal)
        self._seen[principal.user_id] = (email, name, issued_at)

    async def _require_local_account(self, user_id: str) -> None:
        if user_id in self._seen:
            return
        async with self._database.reading() as db:
            user = await repository.find_user(db, user_id)
        if user is None:
            raise Unauthorized()
        self.remember(user)

    async def provision_again(self, principal: Principal) -> None:
        """Forget the principal's user and store it again: its row is gone."""
        self.forget(principal.user_id)
        await self.ensure(principal)

    async def _store(self, principal: Principal) -> None:
        try:
            async with self._database.atomic_write() as db:
                await repository.provision_user(
                    db, principal.user_id, principal.email, principal.name, utcnow()
                )
        except Exception as exc:
            if principal.email is None or not is_unique_violation(exc):
                raise
            # Another user took the email after the statement looked: store without it.
            async with self._database.atomic_write() as db:
                await repository.provision_user(
                    db, principal.user_id, None, principal.name, utcnow()
                )
