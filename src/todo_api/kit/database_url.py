"""``DATABASE_URL`` in every form operations.md accepts, as an async SQLAlchemy URL.

Neon's console strings included: ``sslmode`` and ``channel_binding`` (libpq
options that asyncpg does not take) become asyncpg's ``ssl`` argument, and a
``-pooler`` host (PgBouncer in transaction mode) gets unique prepared-statement
names, as SQLAlchemy's asyncpg dialect documents for PgBouncer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from sqlalchemy.engine import URL, make_url

_LIBPQ_ONLY_PARAMS = ("sslmode", "channel_binding", "sslrootcert", "sslcert", "sslkey")


@dataclass(frozen=True)
class DatabaseTarget:
    """A normalised ``DATABASE_URL``: the SQLAlchemy URL plus driver arguments."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    pooler: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def normalise_database_url(raw: str, *, connect_timeout: float = 5.0) -> DatabaseTarget:
    """Turn any accepted ``DATABASE_URL`` into an async SQLAlchemy URL.

    ``postgres://``, ``postgresql://`` and ``postgresql+<driver>://`` become
    ``postgresql+asyncpg://``; ``sqlite://`` becomes ``sqlite+aiosqlite://``.
    ``sslmode`` is passed to asyncpg as ``ssl`` (asyncpg understands the libpq
    mode names); ``channel_binding`` is dropped because asyncpg negotiates
    SCRAM itself. ``connect_timeout`` (seconds) bounds each connection attempt,
    so an unreachable database fails in seconds rather than the OS default.

    Raises:
        sqlalchemy.exc.ArgumentError: ``raw`` is not a URL.
    """
    url = make_url(raw)
    if url.get_backend_name() == "sqlite":
        return DatabaseTarget(url=url.set(drivername="sqlite+aiosqlite"))

    query = dict(url.query)
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    sslmode = query.pop("sslmode", None)
    if isinstance(sslmode, str) and sslmode != "disable":
        connect_args["ssl"] = sslmode
    for name in _LIBPQ_ONLY_PARAMS:
        query.pop(name, None)
    host = url.host or ""
    pooler = "-pooler." in host
    if pooler:
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
        query["prepared_statement_cache_size"] = "0"
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return DatabaseTarget(url=url, connect_args=connect_args, pooler=pooler)


def direct_host_url(target: DatabaseTarget) -> DatabaseTarget:
    """The same database through Neon's direct host (``ep-x-pooler`` → ``ep-x``).

    Migrations take advisory locks and run DDL, which PgBouncer in transaction
    mode does not carry reliably, so they go through the direct host.
    """
    if not target.pooler or target.url.host is None:
        return target
    url = target.url.set(host=target.url.host.replace("-pooler.", ".", 1))
    args = {
        k: v
        for k, v in target.connect_args.items()
        if k not in {"statement_cache_size", "prepared_statement_name_func"}
    }
    query = {k: v for k, v in url.query.items() if k != "prepared_statement_cache_size"}
    return DatabaseTarget(url=url.set(query=query), connect_args=args, pooler=False)


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4()}__"
