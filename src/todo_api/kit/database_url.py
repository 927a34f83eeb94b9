"""``DATABASE_URL`` in every form operations.md accepts, as an async SQLAlchemy URL.

Neon's console strings included. Every query parameter of a PostgreSQL URL
either reaches asyncpg in the form it takes, or stops start-up with a message
naming it (``DatabaseUrlError``): libpq's names (``sslmode``, ``options``,
``application_name``, ``connect_timeout``, the TLS files...) are not all
asyncpg's, and SQLAlchemy would hand an unknown one to ``asyncpg.connect()``,
which fails at the first connection instead. A ``-pooler`` host (PgBouncer in
transaction mode) gets unique prepared-statement names, as SQLAlchemy's
asyncpg dialect documents for PgBouncer.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

from sqlalchemy.engine import URL, make_url

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's ``sslmode`` values; asyncpg's ``ssl`` argument takes the same names."""

CHANNEL_BINDING_MODES = ("disable", "prefer", "require")

ASYNCPG_DSN_PARAMS = frozenset(
    {
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcrl",
        "sslnegotiation",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "passfile",
        "service",
    }
)
"""libpq parameters that asyncpg reads, with libpq's meaning, only from a DSN string
(not as ``connect()`` arguments): they reach it as its ``dsn`` argument, beside the
host, user and database that SQLAlchemy passes as arguments (which take precedence)."""

SQLALCHEMY_PARAMS = frozenset({"host", "prepared_statement_cache_size"})
"""Query parameters SQLAlchemy's asyncpg dialect reads itself: ``host`` (a Unix
socket directory, or several hosts) and its statement cache size."""

DSN_PARAM_VALUES = {
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
    "sslnegotiation": ("postgres", "direct"),
}
"""The values libpq (and asyncpg) take for those of ``ASYNCPG_DSN_PARAMS`` that are a
choice: anything else stops start-up instead of failing the first connection."""

NEON_OPTION_NAMES = ("endpoint", "project")
"""Neon's routing options inside ``options`` (``project`` is its older name)."""


class DatabaseUrlError(ValueError):
    """A ``DATABASE_URL`` query parameter that cannot be honoured; the message names it."""


@dataclass(frozen=True)
class DatabaseTarget:
    """A normalised ``DATABASE_URL``: the SQLAlchemy URL plus driver arguments.

    ``warnings`` are what the URL asks for and the driver cannot do (one line
    each, naming the parameter), for the service to log at start-up.
    """

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    pooler: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def normalise_database_url(raw: str, *, connect_timeout: float = 5.0) -> DatabaseTarget:
    """Turn any accepted ``DATABASE_URL`` into an async SQLAlchemy URL and asyncpg arguments.

    ``postgres://``, ``postgresql://`` and ``postgresql+<driver>://`` become
    ``postgresql+asyncpg://``; ``sqlite://`` becomes ``sqlite+aiosqlite://``
    (its query is SQLAlchemy's, left as it is). A PostgreSQL URL's query
    parameters, by libpq's names:

    - ``sslmode`` (or asyncpg's name, ``ssl``): asyncpg's ``ssl``, same mode names;
    - ``channel_binding``: asyncpg authenticates with SCRAM without channel
      binding, so ``require`` cannot be enforced: the connection is made and
      ``warnings`` says so; ``prefer`` and ``disable`` are what asyncpg does;
    - ``options``: ``-c name=value`` (or ``--name=value``) become asyncpg
      ``server_settings``; Neon's ``endpoint=<id>`` (for clients without SNI) is
      sent as the ``options`` startup parameter, as libpq sends it;
    - ``application_name``: a ``server_settings`` entry;
    - ``connect_timeout`` (seconds): replaces the ``connect_timeout`` argument;
    - the TLS files and the other libpq parameters asyncpg understands
      (``ASYNCPG_DSN_PARAMS``): given to asyncpg as its ``dsn`` argument;
    - ``host``, ``prepared_statement_cache_size``: left to SQLAlchemy.

    ``connect_timeout`` (seconds) bounds each connection attempt, so an
    unreachable database fails in seconds rather than the OS default.

    Raises:
        sqlalchemy.exc.ArgumentError: ``raw`` is not a URL.
        DatabaseUrlError: a query parameter is unknown or has a value that
            cannot be honoured; the message names the parameter.
    """
    url = make_url(raw)
    if url.get_backend_name() == "sqlite":
        return DatabaseTarget(url=url.set(drivername="sqlite+aiosqlite"))

    query = {name: _single(name, value) for name, value in url.query.items()}
    connect_args: dict[str, Any] = {"timeout": connect_timeout}
    server_settings: dict[str, str] = {}
    dsn_params: dict[str, str] = {}
    warnings: list[str] = []
    kept: dict[str, str] = {}
    system_trust = False
    for name, value in query.items():
        if name in ("sslmode", "ssl"):  # libpq's name, asyncpg's name
            connect_args["ssl"] = _one_of(name, value, SSL_MODES)
        elif name == "channel_binding":
            if _one_of(name, value, CHANNEL_BINDING_MODES) == "require":
                warnings.append(
                    "DATABASE_URL: channel_binding=require cannot be enforced by the asyncpg "
                    "driver; connections authenticate without channel binding"
                )
        elif name == "options":
            server_settings.update(_server_settings_from_options(value))
        elif name == "application_name":
            server_settings["application_name"] = value
        elif name == "connect_timeout":
            connect_args["timeout"] = _seconds(name, value)
        elif name == "sslrootcert" and value == "system":
            system_trust = True
        elif name in ASYNCPG_DSN_PARAMS:
            if name in DSN_PARAM_VALUES:
                _one_of(name, value, DSN_PARAM_VALUES[name])
            dsn_params[name] = value
        elif name in SQLALCHEMY_PARAMS:
            kept[name] = value
        else:
            raise DatabaseUrlError(
                f"query parameter {name!r} is not supported by the asyncpg driver "
                "(docs/operations.md, 'DATABASE_URL query parameters')"
            )
    if system_trust:  # libpq 16: the system's CAs, and sslmode verify-full
        if connect_args.get("ssl", "verify-full") != "verify-full":
            raise DatabaseUrlError("query parameter sslrootcert=system needs sslmode=verify-full")
        connect_args["ssl"] = ssl.create_default_context()
    if server_settings:
        connect_args["server_settings"] = server_settings
    if dsn_params:
        connect_args["dsn"] = "postgresql://?" + urlencode(dsn_params)
    host = url.host or ""
    pooler = "-pooler." in host
    if pooler:
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unique_statement_name
        kept["prepared_statement_cache_size"] = "0"
    url = url.set(drivername="postgresql+asyncpg", query=kept)
    return DatabaseTarget(
        url=url, connect_args=connect_args, pooler=pooler, warnings=tuple(warnings)
    )


def _single(name: str, value: str | tuple[str, ...]) -> str:
    if isinstance(value, str):
        return value
    raise DatabaseUrlError(f"query parameter {name!r} is given more than once")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise DatabaseUrlError(
            f"query parameter {name}={value!r} is not one of {', '.join(allowed)}"
        )
    return value


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise DatabaseUrlError(f"query parameter {name} must be a number of seconds above 0")
    return seconds


def _server_settings_from_options(options: str) -> dict[str, str]:
    """asyncpg ``server_settings`` for libpq's ``options`` (PostgreSQL's command-line
    options for the session).

    ``-c name=value``, ``-cname=value`` and ``--name=value`` each set a
    parameter (a ``-`` in the name reads as ``_``, as PostgreSQL reads it).
    Neon's ``endpoint=<id>`` (and ``project=<id>``) stay in an ``options``
    startup parameter, which Neon's proxy reads. Arguments are separated by
    spaces; a backslash escapes the next character (PostgreSQL's rule).

    Raises:
        DatabaseUrlError: an argument is none of these.
    """
    settings: dict[str, str] = {}
    neon: list[str] = []
    arguments = iter(_split_options(options))
    for argument in arguments:
        if argument == "-c":
            setting = next(arguments, "")
        elif argument.startswith(("-c", "--")):
            setting = argument[2:]
        elif _is_neon_option(argument):
            neon.append(argument)
            continue
        else:
            raise DatabaseUrlError(
                f"query parameter options: {argument!r} is not supported "
                "(use -c name=value, or Neon's endpoint=<id>)"
            )
        name, equals, value = setting.partition("=")
        if not name or not equals:
            raise DatabaseUrlError(
                f"query parameter options: {setting!r} is not a name=value setting"
            )
        settings[name.replace("-", "_")] = value
    if neon:
        settings["options"] = " ".join(neon)
    return settings


def _is_neon_option(argument: str) -> bool:
    name, _, value = argument.partition("=")
    return name in NEON_OPTION_NAMES and bool(value)


def _split_options(options: str) -> list[str]:
    arguments: list[str] = []
    current: list[str] = []
    characters = iter(options)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character.isspace():
            if current:
                arguments.append("".join(current))
                current = []
        else:
            current.append(character)
    if current:
        arguments.append("".join(current))
    return arguments


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
    return DatabaseTarget(
        url=url.set(query=query), connect_args=args, pooler=False, warnings=target.warnings
    )


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4()}__"
