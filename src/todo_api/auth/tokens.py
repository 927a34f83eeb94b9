"""Issuing and verifying bearer tokens (the API contract, "Authentication").

Three verifiers, each with its algorithm fixed by configuration, never taken
from the token:

1. ``SharedSecretVerifier``: HS256 under ``BETTER_AUTH_SECRET`` (our login,
   or a Better Auth server with a custom HS256 signer).
2. ``JWKSVerifier``: EdDSA/ES256/ES512/RS256/PS256 tokens of Better Auth's JWT
   plugin, keys from ``{BETTER_AUTH_URL}{BETTER_AUTH_JWKS_PATH}``.
3. ``SessionTokenVerifier``: Better Auth session tokens (``token.signature``)
   looked up in Better Auth's ``session`` table.

``TokenVerifier`` routes a token to the right one and caches verified JWTs
until their ``exp`` (a bounded TLRU cache), so a token is verified once, not
on every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import jwt
from cachetools import TLRUCache

from todo_api.auth import repository
from todo_api.auth.models import better_auth_sessions
from todo_api.config import Settings
from todo_api.kit.columns import as_utc
from todo_api.kit.database import Database
from todo_api.kit.errors import Unauthorized

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 30
"""Clock leeway for ``exp``, ``nbf`` and ``iat`` (the API contract)."""

JWKS_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES512", "RS256", "PS256"})
"""Asymmetric algorithms a JWKS key may carry (the API contract, "Authentication" 2)."""


class InvalidToken(Exception):
    """A token failed verification; why is logged at debug level, never told to the client."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for.

    ``user_id`` is the token's ``sub``; ``expires_at`` is Unix seconds, after
    which the cached verification is dropped.
    """

    user_id: str
    email: str | None
    name: str | None
    expires_at: float


def issue_access_token(
    *, user_id: str, email: str | None, name: str | None, settings: Settings
) -> tuple[str, int]:
    """An HS256 token for a user of our own login.

    Claims: ``sub``, ``iat``, ``exp``, ``email``, ``name``, and ``iss``/``aud``
    when ``JWT_ISSUER``/``JWT_AUDIENCE`` are set.

    Returns:
        ``(token, expires_in)`` with ``expires_in`` in seconds.
    """
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + lifetime}
    if email is not None:
        claims["email"] = email
    if name is not None:
        claims["name"] = name
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    token = jwt.encode(claims, settings.better_auth_secret, algorithm="HS256")
    return token, int(lifetime.total_seconds())


def _principal(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 64:
        raise InvalidToken("sub missing or not a short string")
    email = claims.get("email")
    name = claims.get("name")
    return Principal(
        user_id=sub,
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        name=name.strip()[:100] if isinstance(name, str) and name.strip() else None,
        expires_at=float(claims["exp"]),
    )


def _decode(
    token: str,
    key: Any,
    algorithm: str,
    *,
    issuer: str | None,
    audience: str | None,
) -> Principal:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": ["sub", "exp"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return _principal(claims)


class SharedSecretVerifier:
    """HS256 under ``BETTER_AUTH_SECRET``; ``iss``/``aud`` checked when configured."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.better_auth_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify(self, token: str) -> Principal:
        """Raises ``InvalidToken`` for a bad signature, expiry, ``nbf``, claims."""
        return _decode(token, self._secret, "HS256", issuer=self._issuer, audience=self._audience)


class JWKSVerifier:
    """Tokens of Better Auth's JWT plugin, verified against its published key set.

    Keys are cached for ``JWKS_CACHE_SECONDS``; an unknown ``kid`` refetches
    at most once per ``JWKS_REFETCH_COOLDOWN_SECONDS`` (the API contract: once per 30 s),
    so a flood of bad ``kid`` values cannot hammer the Better Auth server. A
    failed fetch keeps the keys already held; with none, tokens are 401.
    ``iss`` and ``aud`` must equal the origin unless ``JWT_ISSUER`` /
    ``JWT_AUDIENCE`` say otherwise.
    """

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        assert settings.better_auth_url is not None
        self.jwks_url = settings.better_auth_url + settings.better_auth_jwks_path
        self._issuer = settings.jwt_issuer or settings.better_auth_url
        self._audience = settings.jwt_audience or settings.better_auth_url
        self._client = client
        self._ttl = settings.jwks_cache_seconds
        self._cooldown = settings.jwks_refetch_cooldown_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str, kid: str | None) -> Principal:
        """Raises ``InvalidToken`` for an unknown key, bad signature or claims."""
        key = await self._key(kid)
        if key is None:
            raise InvalidToken(f"no key for kid {kid!r}")
        return _decode(token, key, key.algorithm_name, issuer=self._issuer, audience=self._audience)

    async def _key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._fetched_at > self._ttl:
            await self._refresh(force=False)
        elif kid not in self._keys and now - self._attempted_at >= self._cooldown:
            await self._refresh(force=True)
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if force and now - self._attempted_at < self._cooldown:
                return  # another request refetched while we waited
            if not force and now - self._fetched_at <= self._ttl:
                return
            self._attempted_at = now
            try:
                response = await self._client.get(self.jwks_url)
                response.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                logger.warning("JWKS fetch from %s failed: %r", self.jwks_url, exc)
                return
            self._keys = {
                key.key_id: key
                for key in key_set.keys
                if key.key_id and key.algorithm_name in JWKS_ALGORITHMS
            }
            self._fetched_at = now
            logger.info("JWKS loaded from %s: %d keys", self.jwks_url, len(self._keys))


class SessionTokenVerifier:
    """Better Auth session tokens, checked against its ``session`` table.

    The token is ``value.signature`` (URL-encoded), signature = base64
    HMAC-SHA256 of ``value`` under ``BETTER_AUTH_SECRET``; compared in
    constant time, then the row must exist with ``expiresAt`` in the future.
    Results are not cached, so a deleted session stops working at once.
    """

    def __init__(self, settings: Settings, database: Database) -> None:
        self._secret = settings.better_auth_secret.encode()
        self._database = database
        self._sessions = better_auth_sessions(settings)

    def value_of(self, raw: str) -> str:
        """The session token value if the signature is right.

        Raises:
            InvalidToken: not ``value.signature`` or the signature does not match.
        """
        value, _, signature = unquote(raw).rpartition(".")
        if not value or not signature:
            raise InvalidToken("not a signed session token")
        expected = base64.b64encode(
            hmac.new(self._secret, value.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, signature):
            raise InvalidToken("bad session token signature")
        return value

    async def verify(self, raw: str) -> Principal:
        """Raises ``InvalidToken`` for a bad signature or a missing or expired session."""
        value = self.value_of(raw)
        async with self._database.reading() as db:
            session = await repository.find_session(db, self._sessions, value)
        if session is None:
            raise InvalidToken("no such session")
        expires_at = as_utc(session["expires_at"])
        if expires_at <= datetime.now(UTC):
            raise InvalidToken("session expired")
        return Principal(
            user_id=session["user_id"], email=None, name=None, expires_at=expires_at.timestamp()
        )


def _cache_until(_key: str, principal: Principal, _now: float) -> float:
    return principal.expires_at


class TokenVerifier:
    """All configured verifiers behind one ``verify``, with the verified-token cache.

    A JWT goes to the HS256 verifier when its header says HS256 and to the
    JWKS verifier otherwise (the header only chooses which verifier tries;
    each verifier fixes its own algorithm). Anything that is not a JWT is
    tried as a Better Auth session token when those are enabled.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        jwks: JWKSVerifier | None = None,
        sessions: SessionTokenVerifier | None = None,
    ) -> None:
        self.shared_secret = SharedSecretVerifier(settings)
        self.jwks = jwks
        self.sessions = sessions
        self._cache: TLRUCache[str, Principal] | None = (
            TLRUCache(maxsize=settings.token_cache_size, ttu=_cache_until, timer=time.time)
            if settings.token_cache_size
            else None
        )

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token.

        Raises:
            Unauthorized: for every kind of failure, with one generic message.
        """
        if self._cache is not None and (cached := self._cache.get(token)) is not None:
            return cached
        try:
            principal, cacheable = await self._verify(token)
        except InvalidToken as exc:
            logger.debug("token rejected: %s", exc)
            raise Unauthorized() from None
        if cacheable and self._cache is not None:
            self._cache[token] = principal
        return principal

    async def _verify(self, token: str) -> tuple[Principal, bool]:
        if token.count(".") == 2:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.PyJWTError as exc:
                raise InvalidToken(str(exc)) from exc
            if header.get("alg") == "HS256":
                return self.shared_secret.verify(token), True
            if self.jwks is None:
                raise InvalidToken(f"algorithm {header.get('alg')!r} without JWKS configured")
            kid = header.get("kid")
            return await self.jwks.verify(token, kid if isinstance(kid, str) else None), True
        if self.sessions is not None:
            return await self.sessions.verify(token), False
        raise InvalidToken("not a JWT")
