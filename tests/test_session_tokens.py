"""Better Auth session tokens against both column styles of its ``session`` table.

``tests/test_better_auth.py`` covers the camelCase table a real Better Auth
server makes (PostgreSQL and Node only). Here the test makes the table itself,
in either style, so the mapping runs on both databases without Node.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table

from tests.conftest import SECRET
from tests.helpers import SESSION_COLUMN_STYLES, ApiUser, assert_error, created_table
from todo_api.kit.columns import utcnow
from todo_api.resources import app_resources

TABLE = "test_ba_session"


@pytest.fixture(params=sorted(SESSION_COLUMN_STYLES))
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(style: str) -> dict[str, Any]:
    return {
        "better_auth_session_tokens": True,
        "better_auth_session_table": TABLE,
        "better_auth_session_columns": style,
    }


@pytest.fixture
async def session_table(app: Any, style: str) -> AsyncIterator[Table]:
    user_column, expires_column = SESSION_COLUMN_STYLES[style]
    table = Table(
        TABLE,
        MetaData(),
        Column("token", String, primary_key=True),
        Column(user_column, String, nullable=False),
        Column(expires_column, DateTime(timezone=True), nullable=False),
    )
    async with created_table(app, table):
        yield table


def _signed(value: str, secret: str = SECRET) -> str:
    """``value.signature`` as Better Auth's bearer plugin gives it."""
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return f"{value}.{base64.b64encode(digest).decode()}"


async def _store(app: Any, table: Table, user_id: str, expires_in: timedelta) -> str:
    value = secrets.token_urlsafe(24)
    user_column, expires_column = (column.name for column in list(table.columns)[1:])
    async with app_resources(app).database.engine.begin() as connection:
        await connection.execute(
            table.insert().values(
                {"token": value, user_column: user_id, expires_column: utcnow() + expires_in}
            )
        )
    return value


async def test_live_session_authenticates_its_user(
    app: Any, client: httpx.AsyncClient, session_table: Table, alice: ApiUser
) -> None:
    value = await _store(app, session_table, alice.id, timedelta(days=7))
    headers = {"Authorization": f"Bearer {_signed(value)}"}

    response = await client.get(alice.tasks_url, headers=headers)

    assert response.status_code == 200, response.text


async def test_expired_unknown_or_forged_sessions_are_401(
    app: Any, client: httpx.AsyncClient, session_table: Table, alice: ApiUser
) -> None:
    expired = await _store(app, session_table, alice.id, timedelta(minutes=-1))
    live = await _store(app, session_table, alice.id, timedelta(days=7))
    for token in (
        _signed(expired),
        _signed("never-stored-session-value"),
        _signed(live, secret="another-secret-that-is-long-enough-0123"),
    ):
        response = await client.get(alice.tasks_url, headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "UNAUTHORIZED")
