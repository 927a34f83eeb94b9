"""Typed settings, read from the environment and a ``.env`` file.

Every variable of the operations contract is a field here, with its default;
``.env.example`` lists them all (docs/operations.md, "Commands"). A bad value
stops start-up with a message that names the variable (``SettingsError``),
not a traceback.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal, Self

from limits import parse as parse_rate_limit
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from todo_api.kit.database_url import normalise_database_url

MIN_SECRET_LENGTH = 32
"""Shortest ``BETTER_AUTH_SECRET`` accepted outside development (operations.md)."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SessionColumnStyle(StrEnum):
    """How Better Auth's ``session`` table names its columns.

    ``camel``: Better Auth's own migrations (``"userId"``, ``"expiresAt"``).
    ``snake``: its Drizzle/Prisma generators with snake_case (``user_id``, ``expires_at``).
    """

    camel = "camel"
    snake = "snake"


class SettingsError(RuntimeError):
    """A setting has a bad value; the message names the variable and the rule."""


class Settings(BaseSettings):
    """The service's configuration (operations.md, "Environment")."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = "sqlite+aiosqlite:///./todo.db"
    better_auth_secret: str = ""
    better_auth_url: str | None = None
    better_auth_jwks_path: str = "/api/auth/jwks"
    better_auth_session_tokens: bool = False
    better_auth_session_table: str = Field(default="session", pattern=r"^(\w+\.)?\w+$")
    better_auth_session_columns: SessionColumnStyle = SessionColumnStyle.camel
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    access_token_expire_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    environment: Environment = Environment.development
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]
    rate_limit_storage_url: str = "memory://"
    rate_limit_auth: str = "10/minute"
    rate_limit_api: str = "600/minute"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The HTTP server (docs/operations.md, "Limits"): request line plus headers in
    # bytes; seconds to deliver them, or between two reads of a body; seconds an
    # idle connection is kept open between requests.
    max_header_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    read_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1, le=3600)
    docs_enabled: bool = True
    metrics_enabled: bool = False
    """``GET /metrics`` in the Prometheus format (kit/metrics.py); off, it is 404."""
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["text", "json"] = "text"
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_pool_pre_ping: bool = False
    jwks_cache_seconds: int = Field(default=300, ge=1)
    jwks_refetch_cooldown_seconds: int = Field(default=30, ge=0)
    token_cache_size: int = Field(default=10_000, ge=0)
    local_accounts: bool = True
    """``false``: no signup, login or token routes of our own; only verified tokens
    (HS256, JWKS, session) authenticate (the API contract, "Local accounts")."""

    secret_was_generated: bool = Field(default=False, exclude=True)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("jwt_issuer", "jwt_audience", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``JWT_ISSUER=`` (as in ``.env.example``) means "not checked", not "must be empty"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        backend = url.get_backend_name()
        if backend not in {"postgresql", "postgres", "sqlite"}:
            raise ValueError(f"unsupported database {backend!r}; use postgresql:// or sqlite://")
        normalise_database_url(value)  # DatabaseUrlError (a ValueError) names a bad parameter
        return value

    @field_validator("rate_limit_auth", "rate_limit_api")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        try:
            parse_rate_limit(value)
        except ValueError:
            raise ValueError(f"not a rate limit like '10/minute': {value!r}") from None
        return value

    @field_validator("better_auth_url")
    @classmethod
    def _strip_origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) origin such as http://localhost:3000")
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> Self:
        if self.environment is Environment.development:
            if not self.better_auth_secret:
                self.better_auth_secret = secrets.token_urlsafe(48)
                self.secret_was_generated = True
            return self
        if len(self.better_auth_secret) >= MIN_SECRET_LENGTH:
            return self
        raise ValueError(
            f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} characters "
            f"(ENVIRONMENT={self.environment.value}); generate one with "
            "`openssl rand -base64 32`"
        )

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"


def load_settings(**overrides: object) -> Settings:
    """Build ``Settings`` from the environment, ``.env`` and ``overrides``.

    Raises:
        SettingsError: a variable has a bad value; the message lists each one.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
            problems.append(f"  {name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n" + "\n".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, loaded once (see ``load_settings``)."""
    return load_settings()
