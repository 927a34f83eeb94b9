"""Rate limits with the ``limits`` library (the API contract, "Limits").

Auth routes count per client address (``RATE_LIMIT_AUTH``; an IPv6 address
by its /64, one host's share of addresses, so the key is bounded whatever
the client sends); every other limited route counts per user
(``RATE_LIMIT_API``). Counters live
in memory, or in Redis when ``RATE_LIMIT_STORAGE_URL=redis://...`` so that
several processes enforce one limit. If the storage fails, requests are
served (fail open) and the failure is logged.

Every limited response carries the IETF draft's headers
(draft-ietf-httpapi-ratelimit-headers): ``RateLimit-Policy: "api";q=600;w=60``
and ``RateLimit: "api";r=599;t=42``; a 429 adds ``Retry-After`` (seconds).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.types import Scope

from todo_api.config import Settings
from todo_api.kit.errors import RateLimited
from todo_api.kit.middleware import add_response_headers

logger = logging.getLogger(__name__)


def async_storage_uri(uri: str) -> str:
    """``redis://h:6379/0`` → ``async+redis://h:6379/0``, as ``limits.aio`` expects."""
    return uri if uri.startswith("async+") else f"async+{uri}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one counted request under one policy."""

    policy: str
    limit: RateLimitItem
    allowed: bool
    remaining: int
    reset_in: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit`` (and ``Retry-After`` when refused)."""
        window = self.limit.get_expiry()
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit.amount};w={window}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_in}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_in))
        return headers


def address_key(host: str) -> str:
    """The rate-limit key of a client address.

    An IPv4 address as is; an IPv6 address by its /64 network, which one host
    or household is given whole, so that hopping through it does not start
    fresh counts (OWASP's authentication cheat sheet); an IPv4-mapped IPv6
    address as its IPv4 address. Anything else (a Unix socket's peer) is cut
    to 64 characters.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """The service's two policies over one ``limits`` storage: the API rate limit
    (``RATE_LIMIT_API``, per user) and the auth rate limit (``RATE_LIMIT_AUTH``,
    per client address)."""

    def __init__(self, settings: Settings) -> None:
        storage = storage_from_string(async_storage_uri(settings.rate_limit_storage_url))
        assert isinstance(storage, Storage), "an async+ storage URI gives an async storage"
        self.storage = storage
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self.auth_limit = parse(settings.rate_limit_auth)
        self.api_limit = parse(settings.rate_limit_api)

    async def hit(self, policy: str, limit: RateLimitItem, key: str) -> Decision | None:
        """Count one request for ``key``; ``None`` when the storage failed (fail open)."""
        try:
            allowed = await self.strategy.hit(limit, policy, key)
            stats = await self.strategy.get_window_stats(limit, policy, key)
        except Exception as exc:  # any storage failure: serve rather than 500
            logger.warning("rate limit storage unavailable, not limiting: %r", exc)
            return None
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(policy, limit, allowed, stats.remaining, reset_in)

    async def limit_api_request(self, scope: Scope, user_id: str) -> None:
        """Count a request against its user's API rate limit (``RATE_LIMIT_API``).

        Raises:
            RateLimited: the user is over the limit (429).
        """
        _apply(scope, [await self.hit("api", self.api_limit, user_id)])

    async def limit_auth_attempt(self, scope: Scope, host: str) -> None:
        """Count a signup, login or token request for its client address (``address_key``).

        Called before the body is validated, so that what one address may try
        is bounded however invalid its bodies are. Counted by address alone,
        not by email: a count by email would let anyone lock an owner out of
        their own login by failing it from elsewhere (OWASP's authentication
        cheat sheet), and a count by email *and* address can never refuse
        before the address's own count does.

        Raises:
            RateLimited: the address is over ``RATE_LIMIT_AUTH`` (429).
        """
        _apply(scope, [await self.hit("auth-ip", self.auth_limit, address_key(host))])

    async def close(self) -> None:
        """Release storage connections (a no-op for memory)."""
        reset = getattr(self.storage, "close", None)
        if reset is not None:
            await reset()


def _apply(scope: Scope, decisions: list[Decision | None]) -> None:
    """Expose the tightest decision's headers; raise 429 if any refused."""
    counted = [d for d in decisions if d is not None]
    if not counted:
        return
    refused = [d for d in counted if not d.allowed]
    shown = (
        max(refused, key=lambda d: d.reset_in)
        if refused
        else min(counted, key=lambda d: d.remaining)
    )
    headers = shown.headers()
    if refused:
        raise RateLimited(headers=headers)
    add_response_headers(scope, headers)
