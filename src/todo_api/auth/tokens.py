"""Issuing and verifying bearer tokens (the API contract, "Authentication").

Three verifiers, each with its algorithm fixed by configuration, never taken
from the token:

1. ``SharedSecretVerifier``: HS256 under ``BETTER_AUTH_SECRET`` (our login,
   or a Better Auth server with a custom HS256 signer).
2. ``JWKSVerifier`` (``todo_api.auth.jwks``): EdDSA/ES256/ES512/RS256/PS256
   tokens of Better Auth's JWT plugin, keys from
   ``{BETTER_AUTH_URL}{BETTER_AUTH_JWKS_PATH}``.
3. ``SessionTokenVerifier``: Better Auth session tokens (``token.signature``)
   looked up in Better Auth's ``session`` table.

``TokenVerifier`` routes a token to the right one and caches verified JWTs
until their ``exp`` (a bounded TLRU cache), so a token is verified once, not
on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import jwt
from cachetools import TLRUCache

from todo_api.auth import repository
from todo_api.auth.models import better_auth_sessions
from todo_api.auth.schemas import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, normalise_email
from todo_api.config import Settings
from todo_api.kit.columns import as_utc
from todo_api.kit.database import Database
from todo_api.kit.errors import Unauthorized

if TYPE_CHECKING:
    from todo_api.auth.jwks import JWKSVerifier

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 30
"""Clock leeway for ``exp``, ``nbf`` and ``iat`` (the API contract)."""

MAX_NUMERIC_DATE = 253_402_300_799
"""9999-12-31T23:59:59Z in Unix seconds: ``exp``, ``iat`` and ``nbf`` after it are not
dates; a JSON number such as ``10**400`` would overflow a float."""

MIN_NUMERIC_DATE = -62_135_596_800
"""0001-01-01T00:00:00Z in Unix seconds: the first instant a ``datetime`` holds."""

LOCAL_ACCOUNT_CLAIM = "local_account"
"""A private claim (RFC 7519 §4.3), ``true`` in the tokens our own login issues: their
user must exist, so a deleted account's tokens die with it (``UserProvisioner``)."""

MAX_SUB_LENGTH = 64
"""Longest ``sub`` accepted: the length of ``users.id``."""

_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (C0, DEL, C1) and lone surrogates: neither belongs in an id, an
email or a name, PostgreSQL refuses NUL, and no database can store a lone surrogate."""


MAX_LOGGED_VALUE_LENGTH = 200
"""A value of the token (its ``iss``, ``aud``) is cut to this in the log line that says
why the token was refused."""


class InvalidToken(Exception):
    """A token failed verification; why is logged at info level (``TokenVerifier``),
    never told to the client. The message never holds the token."""


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
    local_account: bool = False
    """Issued by our own login (``LOCAL_ACCOUNT_CLAIM``): never provisioned from."""
    issued_at: float | None = None
    """The ``iat`` claim (Unix seconds), when the token has one."""


def issue_access_token(
    *, user_id: str, email: str | None, name: str | None, settings: Settings
) -> tuple[str, int]:
    """An HS256 token for a user of our own login.

    Claims: ``sub``, ``iat``, ``exp``, ``local_account``, ``email``, ``name``, and ``iss``/``aud``
    when ``JWT_ISSUER``/``JWT_AUDIENCE`` are set.

    Returns:
        ``(token, expires_in)`` with ``expires_in`` in seconds.
    """
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    claims: dict[str, Any] = {
        "sub": user_id,
        "iat": now,
        "exp": now + lifetime,
        LOCAL_ACCOUNT_CLAIM: True,
    }
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


def _is_numeric_date(value: object) -> bool:
    """A JWT NumericDate (RFC 7519): a JSON number, not a string or a bool, from
    ``MIN_NUMERIC_DATE`` to ``MAX_NUMERIC_DATE`` (so not NaN, and a ``datetime``)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and MIN_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE
    )


def _safe_text(value: object) -> str | None:
    """``value`` stripped, or ``None`` when it is not a string, is blank, or holds a
    control character or a lone surrogate (``_UNSAFE_TEXT``)."""
    if not isinstance(value, str) or _UNSAFE_TEXT.search(value):
        return None
    return value.strip() or None


def _principal(claims: dict[str, Any]) -> Principal:
    """The principal of verified ``claims``.

    ``sub`` must be 1 to ``MAX_SUB_LENGTH`` characters without control
    characters or lone surrogates, and ``exp`` (``iat``, ``nbf`` when present)
    a NumericDate. An ``email`` or ``name`` claim that is not clean text is
    treated as absent, never stored (an email over ``MAX_EMAIL_LENGTH`` too);
    a name is cut to ``MAX_NAME_LENGTH``.

    Raises:
        InvalidToken: a bad ``sub``, ``exp``, ``iat`` or ``nbf``.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB_LENGTH or _UNSAFE_TEXT.search(sub):
        raise InvalidToken("sub is not a short string of printable characters")
    for claim in ("exp", "iat", "nbf"):
        if claim in claims and not _is_numeric_date(claims[claim]):
            raise InvalidToken(f"{claim} is not a NumericDate")
    email = _safe_text(claims.get("email"))
    if email is not None:
        email = normalise_email(email)
    name = _safe_text(claims.get("name"))
    return Principal(
        user_id=sub,
        email=email if email is not None and len(email) <= MAX_EMAIL_LENGTH else None,
        name=name[:MAX_NAME_LENGTH].rstrip() if name is not None else None,
        expires_at=float(claims["exp"]),
        local_account=claims.get(LOCAL_ACCOUNT_CLAIM) is True,
        issued_at=float(claims["iat"]) if "iat" in claims else None,
    )


def _shown(value: object) -> str:
    """``value`` as a log line may show it: a printable string as it is, anything else
    as its ``repr`` (so a newline cannot forge a line), cut to
    ``MAX_LOGGED_VALUE_LENGTH``."""
    shown = value if isinstance(value, str) and value.isprintable() else repr(value)
    return shown[:MAX_LOGGED_VALUE_LENGTH]


def _date(value: object) -> str:
    """A NumericDate claim as an ISO 8601 UTC time, for a log line."""
    if not _is_numeric_date(value):
        return _shown(value)
    assert isinstance(value, int | float)
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")


def _refusal(
    exc: jwt.PyJWTError, token: str, algorithm: str, issuer: str | None, audience: str | None
) -> str:
    """Why ``token`` was refused, for the log: what was expected and what the token
    says for its issuer, audience and validity times, else PyJWT's own message.

    These errors come after the signature verified, so the claims are the
    signer's; they are still shown with ``_shown``.
    """
    claims: dict[str, Any] = {}
    if isinstance(
        exc,
        jwt.InvalidIssuerError
        | jwt.InvalidAudienceError
        | jwt.ExpiredSignatureError
        | jwt.ImmatureSignatureError,
    ):
        claims = jwt.decode(token, options={"verify_signature": False})
    if isinstance(exc, jwt.InvalidIssuerError):
        reason = f"invalid issuer: expected {issuer}, got {_shown(claims.get('iss'))}"
    elif isinstance(exc, jwt.InvalidAudienceError):
        reason = f"invalid audience: expected {audience}, got {_shown(claims.get('aud'))}"
    elif isinstance(exc, jwt.ExpiredSignatureError):
        reason = f"expired at {_date(claims.get('exp'))} (leeway {LEEWAY_SECONDS} s)"
    elif isinstance(exc, jwt.ImmatureSignatureError):
        reason = f"not valid before {_date(claims.get('nbf'))} (leeway {LEEWAY_SECONDS} s)"
    else:
        reason = str(exc)
    return f"{reason} ({algorithm})"


def decode(
    token: str,
    key: Any,
    algorithm: str,
    *,
    issuer: str | None,
    audience: str | None,
) -> Principal:
    """The principal of ``token`` verified under ``key`` with ``algorithm`` only.

    Raises:
        InvalidToken: a bad signature, ``exp``, ``nbf``, ``iss``, ``aud`` or claims;
            its message says what was wrong (``_refusal``), for the log.
    """
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
        raise InvalidToken(_refusal(exc, token, algorithm, issuer, audience)) from exc
    return _principal(claims)


class SharedSecretVerifier:
    """HS256 under ``BETTER_AUTH_SECRET``; ``iss``/``aud`` checked when configured."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.better_auth_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience

    def verify(self, token: str) -> Principal:
        """Raises ``InvalidToken`` for a bad signature, expiry, ``nbf``, claims."""
        return decode(token, self._secret, "HS256", issuer=self._issuer, audience=self._audience)


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
        expected = base64.b64encode(hmac.new(self._secret, value.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature.encode()):  # bytes: any signature compares
            raise InvalidToken("bad session token signature")
        if _UNSAFE_TEXT.search(value):  # signed, but no database stores a NUL
            raise InvalidToken("session token holds a control character")
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

        Why a token is refused is logged at info level ("token refused: invalid
        issuer: expected ..., got ..."), with the request id the logging filter
        adds and never the token; the client hears only the generic 401.

        Raises:
            Unauthorized: for every kind of failure, with one generic message.
        """
        if self._cache is not None and (cached := self._cache.get(token)) is not None:
            return cached
        try:
            principal, cacheable = await self._verify(token)
        except InvalidToken as exc:
            logger.info("token refused: %.500s", exc)
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
