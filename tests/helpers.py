"""Helpers shared by the tests: the test user handle, the error-envelope assertion,
a page of the user's tasks, and an ORM session on the app's database for set-up and
inspection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from todo_api.resources import app_resources

SESSION_COLUMN_STYLES = {"camel": ("userId", "expiresAt"), "snake": ("user_id", "expires_at")}
"""Better Auth's ``session`` columns for the user and the expiry, per
``BETTER_AUTH_SESSION_COLUMNS`` style."""


@asynccontextmanager
async def created_table(app: FastAPI, table: Table) -> AsyncIterator[Table]:
    """``table`` created on ``app``'s database for the block, dropped after it (a table
    another system owns, such as Better Auth's ``session``)."""
    engine = app_resources(app).database.engine
    async with engine.begin() as connection:
        await connection.run_sync(table.create)
    try:
        yield table
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(table.drop)


def sessionmaker_of(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    """ORM sessions on ``app``'s engine, for tests that set rows up or read them directly."""
    return async_sessionmaker(app_resources(app).database.engine, expire_on_commit=False)


@dataclass(frozen=True)
class ApiUser:
    """A stored user and a valid bearer token for them."""

    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def tasks_url(self) -> str:
        return f"/api/{self.id}/tasks"


async def list_tasks(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> dict[str, Any]:
    """A page of ``user``'s tasks (``GET /api/{user_id}/tasks``), insisting on 200."""
    response = await client.get(user.tasks_url, params=params, headers=user.headers)
    assert response.status_code == 200, f"{params}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def listed_ids(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> list[int]:
    """The ids of one page of ``user``'s tasks, checking that ``total`` counts exactly them."""
    body = await list_tasks(client, user, **params)
    ids = [task["id"] for task in body["data"]]
    assert body["total"] == len(ids), f"{params}: total {body['total']} for {len(ids)} tasks"
    return ids


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the error envelope of api.md with ``status`` and ``error_code``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert set(body) <= {"detail", "error_code", "field_errors", "request_id"}
    return body
