"""Fixtures: the database each test runs on, the app, clients and users.

Every test that uses ``client`` runs once on SQLite and, when
``TEST_DATABASE_URL`` is set (always in CI), once more on that PostgreSQL
database. Each backend is migrated once per session with the real Alembic
migrations; after each test every table is emptied, so tests are isolated
and see real commits (concurrency tests need them).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from tests.helpers import ApiUser, sessionmaker_of
from todo_api.auth.models import User
from todo_api.auth.service import new_user_id
from todo_api.auth.tokens import issue_access_token
from todo_api.config import Settings, load_settings
from todo_api.kit.columns import utcnow
from todo_api.main import close_resources, create_app
from todo_api.migrate import upgrade_to_head
from todo_api.resources import app_resources

SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()

if os.environ.get("CI") and not TEST_DATABASE_URL:
    raise RuntimeError("CI must run the suite on PostgreSQL: set TEST_DATABASE_URL")

BACKENDS = ["sqlite", *(["postgresql"] if TEST_DATABASE_URL else [])]


def pytest_report_header(config: pytest.Config) -> str:
    where = make_url(TEST_DATABASE_URL).render_as_string() if TEST_DATABASE_URL else "not set"
    return f"todo-api backends: {', '.join(BACKENDS)} (TEST_DATABASE_URL: {where})"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of one backend, shared by the session's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'todo.db'}"
    else:
        url = TEST_DATABASE_URL
    upgrade_to_head(url)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return make_url(database_url).get_backend_name()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings: our secret, generous rate limits unless a test lowers them."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "environment": "test",
        "better_auth_secret": SECRET,
        "rate_limit_auth": "100000/minute",
        "rate_limit_api": "100000/minute",
        "log_level": "warning",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
async def app(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Any]:
    """The app on the session's database; every table is emptied afterwards."""
    application = create_app(make_settings(database_url, **settings_overrides))
    try:
        yield application
    finally:
        async with app_resources(application).database.engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await connection.execute(delete(table))
        await close_resources(application)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client speaking ASGI to ``app`` (no network)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


UserFactory = Callable[..., Awaitable[ApiUser]]


@pytest.fixture
def make_user(app: Any) -> UserFactory:
    """Store a user directly (no Argon2 cost) and mint a token as our login would."""
    counter = 0

    async def factory(email: str | None = None, name: str | None = "Test User") -> ApiUser:
        nonlocal counter
        counter += 1
        user_id = new_user_id()
        email = email or f"user{counter}-{user_id[:6].lower()}@example.com"
        async with sessionmaker_of(app).begin() as session:
            now = utcnow()
            session.add(User(id=user_id, email=email, name=name, created_at=now, updated_at=now))
        token, _ = issue_access_token(
            user_id=user_id, email=email, name=name, settings=app_resources(app).settings
        )
        return ApiUser(id=user_id, email=email, token=token)

    return factory


@pytest.fixture
async def alice(make_user: UserFactory) -> ApiUser:
    return await make_user(email="alice@example.com", name="Alice")


@pytest.fixture
async def bob(make_user: UserFactory) -> ApiUser:
    return await make_user(email="bob@example.com", name="Bob")


TaskFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_task(client: httpx.AsyncClient) -> TaskFactory:
    """Create a task through the API and return its ``data``."""

    async def factory(user: ApiUser, **fields: Any) -> dict[str, Any]:
        body = {"title": "A task", **fields}
        response = await client.post(user.tasks_url, json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    return factory
