"""Better Auth's key set (JWKS): fetched, cached and refetched so that an outage of
the identity server neither signs users out nor turns into a storm of fetches
(the API contract, "Authentication", "Details that clients rely on")."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time

import httpx
import jwt

from todo_api.auth.tokens import InvalidToken, Principal, decode
from todo_api.config import Settings
from todo_api.kit.errors import IdentityServerUnavailable

logger = logging.getLogger(__name__)

JWKS_FETCH_SECONDS = 10.0
"""The longest one key-set fetch may take, from connecting to the last byte."""

MAX_JWKS_BYTES = 256 * 1024
"""The largest key set read (Better Auth's holds a few keys of under 1 KiB each)."""

JWKS_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES512", "RS256", "PS256"})
"""Asymmetric algorithms a JWKS key may carry (the API contract, "Authentication" 2)."""


def _key_set(body: object) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWK set, by ``kid``.

    A member is usable when it is a JWK with a string ``kid`` and an algorithm
    of ``JWKS_ALGORITHMS``; other members (other key types, broken keys) are
    skipped, since the set is Better Auth's and may hold keys for others.

    Raises:
        ValueError: ``body`` is not a JWK set (an object with a ``keys`` list).
    """
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, jwt.PyJWK] = {}
    for member in body["keys"]:
        if not isinstance(member, dict) or not isinstance(member.get("kid"), str):
            continue
        try:
            key = jwt.PyJWK(member)
        except (jwt.PyJWTError, TypeError, ValueError):
            continue
        if key.algorithm_name in JWKS_ALGORITHMS:
            keys[member["kid"]] = key
    return keys


class JWKSVerifier:
    """Tokens of Better Auth's JWT plugin, verified against its published key set.

    The key set at ``{BETTER_AUTH_URL}{BETTER_AUTH_JWKS_PATH}`` is fetched by
    one fetch at a time: a request that needs it while a fetch runs waits for
    that fetch, never starts another. When it is fetched (the API contract,
    "Authentication" and "Details that clients rely on"):

    - a token whose key is held and fresh (fetched less than
      ``JWKS_CACHE_SECONDS`` ago) never waits: no fetch, no lock;
    - an unknown ``kid`` refetches at most once per
      ``JWKS_REFETCH_COOLDOWN_SECONDS``, counted from the end of the last
      fetch, good or failed, so forged ``kid`` values cannot hammer the Better
      Auth server, up or down;
    - a held key older than ``JWKS_CACHE_SECONDS`` is confirmed by a refetch
      first, so a key removed from the set stops verifying; while the last
      fetch has failed, held keys keep verifying without waiting and the
      refetch runs in the background, once per cooldown.

    A token whose key is not held while the key set cannot be fetched
    (connection refused, timeout, an answer other than 2xx, a body that is
    not a JWK set) is 503 ``IdentityServerUnavailable``: an outage of the
    identity server must not sign users out (the API contract). An unknown
    ``kid`` after a good fetch is ``InvalidToken`` (401). ``iss`` and ``aud``
    must equal the origin unless ``JWT_ISSUER`` / ``JWT_AUDIENCE`` say otherwise.
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
        self._fetched_at = float("-inf")  # time.monotonic() at the end of the last good fetch
        self._tried_at = float("-inf")  # ... at the end of the last fetch, good or failed
        self._reachable = True  # whether the last fetch was good (True before the first)
        self._fetching: asyncio.Task[None] | None = None  # the fetch in flight

    async def verify(self, token: str, kid: str | None) -> Principal:
        """The principal of a token signed by a key of the set.

        Raises:
            InvalidToken: an unknown key after a good fetch, a bad signature or claims.
            IdentityServerUnavailable: the key is not held and the key set
                cannot be fetched (503).
        """
        key = await self._key(kid)
        return decode(token, key, key.algorithm_name, issuer=self._issuer, audience=self._audience)

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        now = time.monotonic()
        key = self._held(kid)
        fresh = now - self._fetched_at <= self._ttl
        if key is not None and (fresh or not self._reachable):
            if not fresh:
                self._fetch_if_due(now)  # in the background: the server was down last time
            return key
        fetch = self._fetch_if_due(now)
        if fetch is not None:
            await asyncio.shield(fetch)  # a client that goes away does not cancel it
            key = self._held(kid)
        if key is not None:
            return key
        if not self._reachable:
            raise IdentityServerUnavailable(self._retry_after())
        raise InvalidToken(f"no key for kid {kid!r} in the key set at {self.jwks_url}")

    def _held(self, kid: str | None) -> jwt.PyJWK | None:
        """The held key for ``kid``; without a ``kid``, the only key if there is one."""
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _fetch_if_due(self, now: float) -> asyncio.Task[None] | None:
        """The fetch in flight, else a new one if one is due, else ``None``.

        Due once the cooldown has passed since the last fetch ended, or at
        once when the held keys are stale and the last fetch was good.
        """
        if self._fetching is None:
            stale = self._reachable and now - self._fetched_at > self._ttl
            if stale or now - self._tried_at >= self._cooldown:
                self._fetching = asyncio.create_task(self._fetch())
        return self._fetching

    def _retry_after(self) -> int:
        """Whole seconds until a fetch may run again, at least 1."""
        return max(1, math.ceil(self._cooldown - (time.monotonic() - self._tried_at)))

    async def _fetch(self) -> None:
        """Fetch the key set; on failure keep the keys held and log a warning.

        Bounded whatever the server does: the whole fetch within
        ``JWKS_FETCH_SECONDS`` (the client's timeout bounds each read only, so
        a server that trickles a byte at a time would otherwise hold the one
        fetch, and every token waiting on it, for ever) and a body of at most
        ``MAX_JWKS_BYTES``. Either is a failed fetch.
        """
        try:
            async with asyncio.timeout(JWKS_FETCH_SECONDS):
                body = await self._download()
            keys = _key_set(json.loads(body))
        except (httpx.HTTPError, ValueError, RecursionError, TimeoutError) as exc:
            self._reachable = False
            logger.warning("JWKS fetch from %s failed: %r", self.jwks_url, exc)
        else:
            self._keys = keys
            self._reachable = True
            self._fetched_at = time.monotonic()
            logger.info("JWKS loaded from %s: %d keys", self.jwks_url, len(keys))
        finally:
            self._tried_at = time.monotonic()
            self._fetching = None

    async def _download(self) -> bytes:
        """The key set's body.

        Raises:
            httpx.HTTPError: the request failed or the status is not 2xx.
            ValueError: the body is over ``MAX_JWKS_BYTES``.
        """
        async with self._client.stream("GET", self.jwks_url) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"key set larger than {MAX_JWKS_BYTES} bytes")
        return bytes(body)
