"""Accounts: signup, login, the OAuth2 token route and the profile (api.md, "Authentication").

Signup and login pay for Argon2, so only the tests about them call them; a
login test starts from a user stored with a password hash computed once per
module (``registered``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlmodel import select

from tests.conftest import UserFactory
from tests.helpers import ApiUser, assert_error, sessionmaker_of
from todo_api.auth.models import User
from todo_api.auth.service import new_user_id
from todo_api.kit.columns import utcnow
from todo_api.resources import app_resources

SIGNUP = "/api/auth/signup"
LOGIN = "/api/auth/login"
TOKEN = "/api/auth/token"
ME = "/api/auth/me"

PASSWORD = "correct horse battery staple"
USER_ID = re.compile(r"[A-Za-z0-9]{32}")
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
SESSION_KEYS = {"user", "access_token", "token_type", "expires_in"}
USER_KEYS = {"id", "email", "name", "created_at"}


def assert_user(user: dict[str, Any], *, email: str | None, name: str | None) -> None:
    """``user`` is the public User of api.md: exactly its four fields, nothing secret."""
    assert set(user) == USER_KEYS, user
    assert USER_ID.fullmatch(user["id"]), user["id"]
    assert user["email"] == email
    assert user["name"] == name
    assert RFC3339_UTC.fullmatch(user["created_at"]), user["created_at"]


def assert_session_body(
    response: httpx.Response, status: int, *, email: str, name: str | None
) -> dict[str, Any]:
    """The signup/login body of api.md; returns its ``data``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"data"}, body
    data: dict[str, Any] = body["data"]
    assert set(data) == SESSION_KEYS, data
    assert_user(data["user"], email=email, name=name)
    assert isinstance(data["access_token"], str)
    assert data["access_token"].count(".") == 2
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 3600
    assert_no_secrets(response)
    return data


def assert_no_secrets(response: httpx.Response) -> None:
    """No key names a password or hash, no value is one, the password never echoes."""

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert "password" not in key.lower(), key
                assert "hash" not in key.lower(), key
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            assert "$argon2" not in value

    walk(response.json())
    assert PASSWORD not in response.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def password_hash() -> str:
    """One Argon2id hash of ``PASSWORD`` for the whole module."""
    return PasswordHash((Argon2Hasher(),)).hash(PASSWORD)


@pytest.fixture
async def registered(app: FastAPI, password_hash: str) -> ApiUser:
    """An account with ``PASSWORD``, stored directly (as signup would store it)."""
    user_id = new_user_id()
    now = utcnow()
    async with sessionmaker_of(app).begin() as session:
        session.add(
            User(
                id=user_id,
                email="grace@example.com",
                name="Grace",
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
        )
    return ApiUser(id=user_id, email="grace@example.com", token="")


@pytest.fixture
def argon2_verifications(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 verification the app runs, recorded (hash verified against) and passed on.

    The spy sits on the Argon2 hasher itself, which both pwdlib's ``verify``
    (unknown email, dummy hash) and ``verify_and_update`` (known email) call.
    """
    hasher = app_resources(app).passwords._hasher.current_hasher
    real_verify: Callable[[str | bytes, str | bytes], bool] = hasher.verify
    calls: list[str] = []

    def spy(password: str | bytes, hash: str | bytes) -> bool:
        calls.append(hash if isinstance(hash, str) else hash.decode())
        return real_verify(password, hash)

    monkeypatch.setattr(hasher, "verify", spy)
    return calls


# --- signup -------------------------------------------------------------------------------


async def test_signup_answers_201_with_user_and_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SIGNUP, json={"email": "  Ada.Lovelace@Example.COM ", "password": PASSWORD, "name": "Ada"}
    )

    data = assert_session_body(response, 201, email="ada.lovelace@example.com", name="Ada")
    me = await client.get(ME, headers=bearer(data["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {"data": data["user"]}


async def test_signup_without_name_stores_null_name(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json={"email": "noname@example.com", "password": PASSWORD})

    assert_session_body(response, 201, email="noname@example.com", name=None)


@pytest.mark.parametrize("length", [8, 128])
async def test_signup_accepts_password_length_bounds(
    client: httpx.AsyncClient, length: int
) -> None:
    response = await client.post(
        SIGNUP, json={"email": f"bound{length}@example.com", "password": "p" * length}
    )

    assert response.status_code == 201, response.text


async def test_signup_with_taken_email_in_other_case_is_409(client: httpx.AsyncClient) -> None:
    first = await client.post(SIGNUP, json={"email": "ada@example.com", "password": PASSWORD})
    assert first.status_code == 201, first.text

    second = await client.post(
        SIGNUP, json={"email": "ADA@Example.com", "password": "another password"}
    )

    assert_error(second, 409, "EMAIL_TAKEN")


async def test_signup_with_email_of_existing_user_is_409(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(SIGNUP, json={"email": "Alice@example.com", "password": PASSWORD})

    assert_error(response, 409, "EMAIL_TAKEN")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param({"email": "a@example.com", "password": "p" * 7}, {"password"}, id="pw-7"),
        pytest.param({"email": "a@example.com", "password": "p" * 129}, {"password"}, id="pw-129"),
        pytest.param({"email": "not-an-email", "password": PASSWORD}, {"email"}, id="bad-email"),
        pytest.param({"email": "a@", "password": PASSWORD}, {"email"}, id="no-domain"),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "name": "n" * 101},
            {"name"},
            id="name-101",
        ),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "name": "Ada\x00"},
            {"name"},
            id="name-nul",
        ),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "name": "Ada\x1b[31m"},
            {"name"},
            id="name-escape",
        ),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "is_admin": True},
            {"is_admin"},
            id="unknown-field",
        ),
        pytest.param(
            {"email": "a@example.com", "password": PASSWORD, "id": "x" * 32},
            {"id"},
            id="read-only-id",
        ),
        pytest.param({"email": "a@example.com", "password": 12345678}, {"password"}, id="pw-int"),
        pytest.param({"password": PASSWORD}, {"email"}, id="no-email"),
        pytest.param({"email": "a@example.com"}, {"password"}, id="no-password"),
        pytest.param({}, {"email", "password"}, id="empty"),
    ],
)
async def test_signup_validation_is_422_with_field_errors(
    client: httpx.AsyncClient, body: dict[str, Any], fields: set[str]
) -> None:
    response = await client.post(SIGNUP, json=body)

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == fields, error
    assert all(messages for messages in error["field_errors"].values())


async def test_signup_with_non_object_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(SIGNUP, json=["a@example.com", PASSWORD])

    assert_error(response, 422, "VALIDATION_ERROR")


async def test_signup_stores_an_argon2id_hash_that_login_accepts(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    signup = await client.post(SIGNUP, json={"email": "Lin@Example.com", "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    user_id = signup.json()["data"]["user"]["id"]
    async with sessionmaker_of(app)() as session:
        stored = (await session.execute(select(User).where(User.id == user_id))).scalar_one()

    login = await client.post(LOGIN, json={"email": "lin@example.com", "password": PASSWORD})

    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    data = assert_session_body(login, 200, email="lin@example.com", name=None)
    assert data["user"] == signup.json()["data"]["user"]


# --- login --------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["GRACE@Example.COM", "  grace@example.com "])
async def test_login_answers_200_with_user_and_token(
    client: httpx.AsyncClient, registered: ApiUser, email: str
) -> None:
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})

    data = assert_session_body(response, 200, email="grace@example.com", name="Grace")
    assert data["user"]["id"] == registered.id
    me = await client.get(ME, headers=bearer(data["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["data"]["id"] == registered.id


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "grace@example.com", "password": PASSWORD.upper()}, id="pw-case"),
        pytest.param({"email": "grace@example.com", "password": PASSWORD + " "}, id="pw-space"),
        pytest.param({"email": "not an email", "password": PASSWORD}, id="malformed-email"),
    ],
)
async def test_login_with_bad_credentials_is_401(
    client: httpx.AsyncClient, registered: ApiUser, body: dict[str, str]
) -> None:
    response = await client.post(LOGIN, json=body)

    error = assert_error(response, 401, "INVALID_CREDENTIALS")
    assert "field_errors" not in error
    assert_no_secrets(response)


async def test_unknown_email_and_wrong_password_look_identical(
    client: httpx.AsyncClient, registered: ApiUser, argon2_verifications: list[str]
) -> None:
    """Same status, body and cost (one Argon2 verification each): emails cannot be probed."""
    unknown = await client.post(LOGIN, json={"email": "nobody@example.com", "password": PASSWORD})
    unknown_cost = len(argon2_verifications)
    wrong = await client.post(
        LOGIN, json={"email": "grace@example.com", "password": "wrong password"}
    )
    wrong_cost = len(argon2_verifications) - unknown_cost

    unknown_error = assert_error(unknown, 401, "INVALID_CREDENTIALS")
    wrong_error = assert_error(wrong, 401, "INVALID_CREDENTIALS")
    unknown_error.pop("request_id")
    wrong_error.pop("request_id")
    assert unknown_error == wrong_error
    assert (unknown_cost, wrong_cost) == (1, 1)
    assert all(verified.startswith("$argon2id$") for verified in argon2_verifications)


async def test_login_of_user_without_password_is_401_after_one_verification(
    client: httpx.AsyncClient, alice: ApiUser, argon2_verifications: list[str]
) -> None:
    """A user provisioned from a token has no password: login fails like an unknown email."""
    response = await client.post(LOGIN, json={"email": alice.email, "password": PASSWORD})

    assert_error(response, 401, "INVALID_CREDENTIALS")
    assert len(argon2_verifications) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "grace@example.com"}, id="no-password"),
        pytest.param({"password": PASSWORD}, id="no-email"),
        pytest.param({"email": "grace@example.com", "password": PASSWORD, "x": 1}, id="unknown"),
    ],
)
async def test_login_validation_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post(LOGIN, json=body)

    assert_error(response, 422, "VALIDATION_ERROR")


# --- OAuth2 password flow -----------------------------------------------------------------


@pytest.mark.parametrize("username", ["grace@example.com", "Grace@EXAMPLE.com"])
async def test_token_route_answers_bare_oauth2_body(
    client: httpx.AsyncClient, registered: ApiUser, username: str
) -> None:
    response = await client.post(TOKEN, data={"username": username, "password": PASSWORD})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["data"]["id"] == registered.id


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"username": "grace@example.com", "password": "wrong password"}, id="wrong"),
        pytest.param({"username": "nobody@example.com", "password": PASSWORD}, id="unknown"),
    ],
)
async def test_token_route_with_bad_credentials_is_401_like_login(
    client: httpx.AsyncClient, registered: ApiUser, form: dict[str, str]
) -> None:
    login = await client.post(LOGIN, json={"email": form["username"], "password": form["password"]})
    login_error = assert_error(login, 401, "INVALID_CREDENTIALS")

    response = await client.post(TOKEN, data=form)

    error = assert_error(response, 401, "INVALID_CREDENTIALS")
    assert error["detail"] == login_error["detail"]


async def test_token_route_without_password_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, data={"username": "grace@example.com"})

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert "password" in error["field_errors"]


# --- profile ------------------------------------------------------------------------------


async def test_me_returns_the_token_user(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get(ME, headers=alice.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    assert_user(body["data"], email="alice@example.com", name="Alice")
    assert body["data"]["id"] == alice.id


async def test_me_is_each_users_own_profile(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    as_alice = await client.get(ME, headers=alice.headers)
    as_bob = await client.get(ME, headers=bob.headers)

    assert as_alice.json()["data"]["id"] == alice.id
    assert as_bob.json()["data"]["id"] == bob.id
    assert as_bob.json()["data"]["email"] == "bob@example.com"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        pytest.param("New", "New", id="plain"),
        pytest.param("  Ada Lovelace \n", "Ada Lovelace", id="stripped"),
        pytest.param("n" * 100, "n" * 100, id="100-chars"),
        pytest.param(None, None, id="null-clears"),
    ],
)
async def test_patch_me_updates_name_and_persists(
    client: httpx.AsyncClient, alice: ApiUser, sent: str | None, stored: str | None
) -> None:
    response = await client.patch(ME, json={"name": sent}, headers=alice.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data"}
    assert_user(body["data"], email="alice@example.com", name=stored)
    again = await client.get(ME, headers=alice.headers)
    assert again.json()["data"]["name"] == stored


async def test_patch_me_with_empty_body_changes_nothing(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.patch(ME, json={}, headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "Alice"
    assert (await client.get(ME, headers=alice.headers)).json()["data"]["name"] == "Alice"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": "n" * 101}, "name", id="name-101"),
        pytest.param({"name": "Ada\x00"}, "name", id="name-nul"),
        pytest.param({"name": 42}, "name", id="name-int"),
        pytest.param({"email": "mallory@example.com"}, "email", id="email-unknown-field"),
        pytest.param({"name": "Ok", "id": "x" * 32}, "id", id="id-unknown-field"),
    ],
)
async def test_patch_me_validation_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: ApiUser, body: dict[str, Any], field: str
) -> None:
    response = await client.patch(ME, json=body, headers=alice.headers)

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert field in error["field_errors"], error
    profile = (await client.get(ME, headers=alice.headers)).json()["data"]
    assert profile["name"] == "Alice"
    assert profile["email"] == "alice@example.com"
    assert profile["id"] == alice.id


@pytest.mark.parametrize(
    ("method", "body"),
    [pytest.param("GET", None, id="get"), pytest.param("PATCH", {"name": "X"}, id="patch")],
)
async def test_me_without_token_is_401_with_bearer_challenge(
    client: httpx.AsyncClient, make_user: UserFactory, method: str, body: dict[str, str] | None
) -> None:
    user = await make_user(name="Unchanged")

    response = await client.request(method, ME, json=body)

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"
    profile = (await client.get(ME, headers=user.headers)).json()["data"]
    assert profile["name"] == "Unchanged"
