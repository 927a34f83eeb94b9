"""``todo_api.auth.repository`` on the database itself, on both backends.

Users are stored with ``insert_user`` and read back with ``find_user`` and
``find_user_by_email``; a write to one user's row leaves every other row as it was.
Better Auth's ``session`` table is made by the test, in either column style
(as in ``tests/test_session_tokens.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table

from tests.helpers import SESSION_COLUMN_STYLES, created_table
from todo_api.auth import repository
from todo_api.auth.models import better_auth_sessions
from todo_api.auth.repository import UserRow
from todo_api.auth.service import new_user_id
from todo_api.kit.columns import as_utc
from todo_api.resources import app_resources

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SESSION_TABLE = "test_repository_session"


def user_row(email: str | None, **overrides: Any) -> UserRow:
    row: dict[str, Any] = {
        "id": new_user_id(),
        "email": email,
        "name": "Someone",
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "created_at": T0,
        "updated_at": T0,
    }
    return UserRow(**{**row, **overrides})  # type: ignore[typeddict-item]


async def insert(app: Any, user: UserRow) -> bool:
    async with app_resources(app).database.unit_of_work() as db:
        return await repository.insert_user(db, user)


async def by_id(app: Any, user_id: str) -> UserRow | None:
    async with app_resources(app).database.reading() as db:
        return await repository.find_user(db, user_id)


async def by_email(app: Any, email: str) -> UserRow | None:
    async with app_resources(app).database.reading() as db:
        return await repository.find_user_by_email(db, email)


@pytest.fixture
async def carol_and_dave(app: Any) -> tuple[UserRow, UserRow]:
    """Two stored users, every column set."""
    carol = user_row("carol@example.com", name="Carol")
    dave = user_row("dave@example.com", name="Dave", password_hash="$argon2id$dave")
    assert await insert(app, carol)
    assert await insert(app, dave)
    return carol, dave


# --- users -----------------------------------------------------------------------


async def test_inserted_user_reads_back_by_id_and_by_email(app: Any) -> None:
    user = user_row("erin@example.com", name="Erin", updated_at=T0 + timedelta(hours=1))

    assert await insert(app, user) is True

    assert await by_id(app, user["id"]) == user
    assert await by_email(app, "erin@example.com") == user


async def test_user_without_email_name_or_hash_reads_back(app: Any) -> None:
    first = user_row(None, name=None, password_hash=None)
    second = user_row(None, name=None, password_hash=None)

    # Any number of users may have no email (provisioned without it).
    assert await insert(app, first) is True
    assert await insert(app, second) is True

    assert await by_id(app, first["id"]) == first
    assert await by_id(app, second["id"]) == second


@pytest.mark.parametrize("taken", ["id", "email", "both"])
async def test_insert_user_with_taken_id_or_email_stores_nothing(
    app: Any, carol_and_dave: tuple[UserRow, UserRow], taken: str
) -> None:
    carol, _ = carol_and_dave
    newcomer = user_row("frank@example.com", name="Frank", password_hash=None)
    if taken in {"id", "both"}:
        newcomer["id"] = carol["id"]
    if taken in {"email", "both"}:
        newcomer["email"] = carol["email"]

    assert await insert(app, newcomer) is False

    assert await by_id(app, carol["id"]) == carol
    assert await by_email(app, "carol@example.com") == carol
    if taken == "id":
        assert await by_email(app, "frank@example.com") is None
    if taken == "email":
        assert await by_id(app, newcomer["id"]) is None


@pytest.mark.parametrize(
    ("lookup", "key"),
    [
        ("by_id", "unknown-user-id"),
        ("by_id", ""),
        ("by_email", "nobody@example.com"),
        ("by_email", "carol@example.co"),
    ],
)
async def test_unknown_user_is_none(
    app: Any, carol_and_dave: tuple[UserRow, UserRow], lookup: str, key: str
) -> None:
    found = await (by_id if lookup == "by_id" else by_email)(app, key)

    assert found is None


async def test_set_password_hash_changes_only_that_users_hash(
    app: Any, carol_and_dave: tuple[UserRow, UserRow]
) -> None:
    carol, dave = carol_and_dave
    async with app_resources(app).database.unit_of_work() as db:
        await repository.set_password_hash(db, carol["id"], "$argon2id$rehashed")

    assert await by_id(app, carol["id"]) == {**carol, "password_hash": "$argon2id$rehashed"}
    assert await by_id(app, dave["id"]) == dave


async def test_set_password_hash_of_unknown_user_changes_nothing(
    app: Any, carol_and_dave: tuple[UserRow, UserRow]
) -> None:
    carol, dave = carol_and_dave
    async with app_resources(app).database.unit_of_work() as db:
        await repository.set_password_hash(db, "unknown-user-id", "$argon2id$rehashed")

    assert await by_id(app, "unknown-user-id") is None
    assert await by_id(app, carol["id"]) == carol
    assert await by_id(app, dave["id"]) == dave


@pytest.mark.parametrize("name", ["Caroline", None])
async def test_set_name_returns_and_stores_the_updated_row(
    app: Any, carol_and_dave: tuple[UserRow, UserRow], name: str | None
) -> None:
    carol, dave = carol_and_dave
    now = T0 + timedelta(days=2)
    async with app_resources(app).database.unit_of_work() as db:
        updated = await repository.set_name(db, carol["id"], name, now)

    assert updated == {**carol, "name": name, "updated_at": now}
    assert await by_id(app, carol["id"]) == updated
    assert await by_id(app, dave["id"]) == dave


async def test_set_name_of_unknown_user_is_none_and_changes_nothing(
    app: Any, carol_and_dave: tuple[UserRow, UserRow]
) -> None:
    carol, dave = carol_and_dave
    async with app_resources(app).database.unit_of_work() as db:
        updated = await repository.set_name(db, "unknown-user-id", "Ghost", T0 + timedelta(days=2))

    assert updated is None
    assert await by_id(app, "unknown-user-id") is None
    assert [await by_id(app, carol["id"]), await by_id(app, dave["id"])] == [carol, dave]


# --- Better Auth sessions ----------------------------------------------------------


@pytest.fixture(params=sorted(SESSION_COLUMN_STYLES))
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_overrides(style: str) -> dict[str, Any]:
    return {"better_auth_session_table": SESSION_TABLE, "better_auth_session_columns": style}


@pytest.fixture
async def session_table(app: Any, style: str) -> AsyncIterator[Table]:
    """Better Auth's ``session`` table as the test makes it (a real one has more columns)."""
    user_column, expires_column = SESSION_COLUMN_STYLES[style]
    table = Table(
        SESSION_TABLE,
        MetaData(),
        Column("id", String, primary_key=True),
        Column("token", String, nullable=False, unique=True),
        Column(user_column, String, nullable=False),
        Column(expires_column, DateTime(timezone=True), nullable=False),
    )
    rows = [
        {"id": "s1", "token": "token-one", user_column: "user-one", expires_column: T0},
        {
            "id": "s2",
            "token": "token-two",
            user_column: "user-two",
            expires_column: T0 + timedelta(days=7, microseconds=250),
        },
    ]
    async with created_table(app, table):
        async with app_resources(app).database.engine.begin() as connection:
            await connection.execute(table.insert(), rows)
        yield table


@pytest.mark.usefixtures("session_table")
@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("token-one", ("user-one", T0)),
        ("token-two", ("user-two", T0 + timedelta(days=7, microseconds=250))),
        ("token-three", None),
        ("token-", None),
        ("s1", None),  # a session's id is not its token
        ("", None),
    ],
)
async def test_session_by_token(
    app: Any, token: str, expected: tuple[str, datetime] | None
) -> None:
    sessions = better_auth_sessions(app_resources(app).settings)
    async with app_resources(app).database.reading() as db:
        found = await repository.find_session(db, sessions, token)

    if expected is None:
        assert found is None
    else:
        assert found is not None and set(found) == {"user_id", "expires_at"}
        assert (found["user_id"], as_utc(found["expires_at"])) == expected
