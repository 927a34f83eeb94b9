"""Identity under Better Auth (api.md "Authentication", "`GET /api/auth/me`", "Local
accounts", "Details that clients rely on"): our own accounts turned off, the
profile following the token's claims, account deletion, why a token was refused
(in the log, never in the response), and the start-up line.

Over HTTP on both databases.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from asgi_correlation_id import CorrelationIdFilter
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import SECRET, UserFactory, make_settings
from tests.helpers import ApiUser, assert_error, sessionmaker_of
from todo_api.auth import repository
from todo_api.auth.models import USERS, User
from todo_api.auth.service import new_user_id
from todo_api.auth.tokens import LOCAL_ACCOUNT_CLAIM, issue_access_token
from todo_api.config import load_settings
from todo_api.main import close_resources, create_app, ready_message
from todo_api.resources import app_resources
from todo_api.tasks.models import TAGS, TASK_COUNTS, TASK_TAGS, TASKS

ME = "/api/auth/me"
LOCAL_ACCOUNT_ROUTES = ("/api/auth/signup", "/api/auth/login", "/api/auth/token")


def token_for(app: FastAPI, user_id: str, email: str | None, name: str | None) -> str:
    """An HS256 token as a Better Auth HS256 signer would issue it: our login's
    claims without ``local_account``, so its user is provisioned and follows it."""
    local, _ = issue_access_token(
        user_id=user_id, email=email, name=name, settings=app_resources(app).settings
    )
    claims = jwt.decode(local, options={"verify_signature": False})
    del claims[LOCAL_ACCOUNT_CLAIM]
    return jwt.encode(claims, app_resources(app).settings.better_auth_secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored_user(app: FastAPI, user_id: str) -> User | None:
    async with sessionmaker_of(app)() as session:
        return await session.get(User, user_id)


async def me(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# --- LOCAL_ACCOUNTS=false ----------------------------------------------------------------


class TestLocalAccountsOff:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"local_accounts": False}

    async def test_signup_login_and_token_are_404_in_the_envelope(
        self, app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
    ) -> None:
        credentials = {"email": "carol@example.com", "password": "a-long-password"}
        signup = await client.post("/api/auth/signup", json={**credentials, "name": "Carol"})
        login = await client.post("/api/auth/login", json=credentials)
        form = await client.post(
            "/api/auth/token", data={"username": "carol@example.com", "password": "x" * 12}
        )

        for response in (signup, login, form):
            assert_error(response, 404, "NOT_FOUND")
        async with sessionmaker_of(app)() as session:
            count = await session.scalar(
                select(func.count()).where(USERS.c.email == "carol@example.com")
            )
        assert count == 0  # nobody signed up

    async def test_the_three_routes_are_absent_from_openapi(
        self, client: httpx.AsyncClient
    ) -> None:
        document = (await client.get("/openapi.json")).json()

        for path in LOCAL_ACCOUNT_ROUTES:
            assert path not in document["paths"]
        operations = {
            operation["operationId"]
            for item in document["paths"].values()
            for operation in item.values()
        }
        assert not operations & {"signUp", "logIn", "issueToken"}
        assert set(document["paths"][ME]) == {"get", "patch", "delete"}

    async def test_verified_tokens_still_authenticate(
        self, app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
    ) -> None:
        created = await client.post(alice.tasks_url, json={"title": "Mine"}, headers=alice.headers)
        assert created.status_code == 201, created.text
        assert (await me(client, alice.token))["email"] == "alice@example.com"
        # An unknown subject is provisioned as before.
        sub = new_user_id()
        profile = await me(client, token_for(app, sub, "dora@example.com", "Dora"))
        assert (profile["id"], profile["email"], profile["name"]) == (
            sub,
            "dora@example.com",
            "Dora",
        )


async def test_local_accounts_are_on_by_default(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert all(path in document["paths"] for path in LOCAL_ACCOUNT_ROUTES)
    assert load_settings(environment="test", better_auth_secret=SECRET).local_accounts is True


# --- the profile follows the token's claims -----------------------------------------------


async def test_changed_email_and_name_claims_update_the_profile(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    sub = new_user_id()
    assert (await me(client, token_for(app, sub, "old@example.com", "Old Name")))["name"] == (
        "Old Name"
    )

    profile = await me(client, token_for(app, sub, "New@Example.com", "New Name"))

    assert (profile["id"], profile["email"], profile["name"]) == (
        sub,
        "new@example.com",
        "New Name",
    )
    stored = await stored_user(app, sub)
    assert stored is not None
    assert (stored.email, stored.name) == ("new@example.com", "New Name")
    assert stored.updated_at > stored.created_at


async def test_one_changed_claim_changes_only_its_field(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    renamed = await me(client, token_for(app, alice.id, "alice@example.com", "Alice Liddell"))
    assert (renamed["email"], renamed["name"]) == ("alice@example.com", "Alice Liddell")

    moved = await me(client, token_for(app, alice.id, "alice@wonderland.example", "Alice Liddell"))
    assert (moved["email"], moved["name"]) == ("alice@wonderland.example", "Alice Liddell")


async def test_absent_claims_clear_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bare = await me(client, token_for(app, alice.id, None, None))
    assert (bare["email"], bare["name"]) == ("alice@example.com", "Alice")

    only_name = await me(client, token_for(app, alice.id, None, "Al"))
    assert (only_name["email"], only_name["name"]) == ("alice@example.com", "Al")
    only_email = await me(client, token_for(app, alice.id, "al@example.com", None))
    assert (only_email["email"], only_email["name"]) == ("al@example.com", "Al")


@pytest.mark.parametrize("claimed", ["bob@example.com", "BOB@example.com"])
async def test_an_email_claim_of_another_account_is_never_taken(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, claimed: str
) -> None:
    """Accounts are never merged by email (api.md, "Details"), on an update too: no
    409, no 500; Alice's row holds no email rather than Bob's or a stale one."""
    response = await client.get(ME, headers=bearer(token_for(app, alice.id, claimed, "Alice B")))

    assert response.status_code == 200, response.text
    profile = response.json()["data"]
    assert (profile["id"], profile["email"], profile["name"]) == (alice.id, None, "Alice B")
    bobs = await me(client, bob.token)
    assert (bobs["id"], bobs["email"], bobs["name"]) == (bob.id, "bob@example.com", "Bob")
    # Once the email is free, the next token that claims it takes it.
    await client.delete(ME, headers=bob.headers)
    freed = await me(client, token_for(app, alice.id, "bob@example.com", "Alice B2"))
    assert (freed["email"], freed["name"]) == ("bob@example.com", "Alice B2")


async def test_a_name_set_by_patch_stays_until_a_token_claims_another(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    patched = await client.patch(ME, json={"name": "Patched"}, headers=alice.headers)
    assert patched.json()["data"]["name"] == "Patched"
    assert (await me(client, alice.token))["name"] == "Patched"

    renamed = await me(client, token_for(app, alice.id, "alice@example.com", "From Better Auth"))

    assert renamed["name"] == "From Better Auth"


async def test_only_claims_that_differ_from_the_last_seen_cost_a_statement(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str | None, str | None]] = []
    provision = repository.provision_user

    async def counted(db: Any, user_id: str, email: Any, name: Any, now: Any) -> None:
        calls.append((email, name))
        await provision(db, user_id, email, name, now)

    monkeypatch.setattr(repository, "provision_user", counted)
    user = await make_user(email="erin@example.com", name="Erin")
    token = bearer(token_for(app, user.id, "erin@example.com", "Erin"))
    first = await client.get(ME, headers=token)
    again = await client.get(ME, headers=token)
    same_claims = await client.get(
        ME, headers=bearer(token_for(app, user.id, "erin@example.com", "Erin"))
    )
    no_claims = await client.get(ME, headers=bearer(token_for(app, user.id, None, None)))
    renamed = await client.get(
        ME, headers=bearer(token_for(app, user.id, "erin@example.com", "Erin E"))
    )
    renamed_again = await client.get(ME, headers=bearer(token_for(app, user.id, None, "Erin E")))

    for response in (first, again, same_claims, no_claims, renamed, renamed_again):
        assert response.status_code == 200, response.text
    assert calls == [("erin@example.com", "Erin"), ("erin@example.com", "Erin E")]
    assert renamed_again.json()["data"]["name"] == "Erin E"


async def test_an_email_taken_during_the_statement_provisions_without_it(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user took the email between the statement's check and its write (a
    unique violation, simulated): the user is stored without it, never a 409 or 500."""
    calls: list[str | None] = []
    provision = repository.provision_user

    class UniqueViolation(Exception):
        sqlstate = "23505"

    async def racing(db: Any, user_id: str, email: Any, name: Any, now: Any) -> None:
        calls.append(email)
        if len(calls) == 1:
            raise UniqueViolation()
        await provision(db, user_id, email, name, now)

    monkeypatch.setattr(repository, "provision_user", racing)
    sub = new_user_id()

    profile = await me(client, token_for(app, sub, "gus@example.com", "Gus"))

    assert (profile["id"], profile["email"], profile["name"]) == (sub, None, "Gus")
    assert calls == ["gus@example.com", None]


async def test_signing_up_or_in_leaves_nothing_to_provision(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def counted(db: Any, user_id: str, *args: Any) -> None:
        calls.append(user_id)

    monkeypatch.setattr(repository, "provision_user", counted)
    body = {"email": "fay@example.com", "password": "a-long-password", "name": "Fay"}
    signed_up = await client.post("/api/auth/signup", json=body)
    assert signed_up.status_code == 201, signed_up.text

    profile = await me(client, signed_up.json()["data"]["access_token"])

    assert (profile["email"], profile["name"]) == ("fay@example.com", "Fay")
    assert calls == []


# --- DELETE /api/auth/me -------------------------------------------------------------------


async def _owned_rows(app: FastAPI, user_id: str) -> dict[str, int]:
    """How many rows of each table belong to ``user_id``."""
    task_ids = select(TASKS.c.id).where(TASKS.c.user_id == user_id)
    queries = {
        "users": select(func.count()).where(USERS.c.id == user_id),
        "tasks": select(func.count()).where(TASKS.c.user_id == user_id),
        "tags": select(func.count()).where(TAGS.c.user_id == user_id),
        "task_tags": select(func.count()).where(TASK_TAGS.c.task_id.in_(task_ids)),
        "task_counts": select(func.count()).where(TASK_COUNTS.c.user_id == user_id),
    }
    async with sessionmaker_of(app)() as session:
        return {name: int(await session.scalar(query) or 0) for name, query in queries.items()}


async def test_delete_me_deletes_the_user_and_all_their_data(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    for user in (alice, bob):
        for n in range(3):
            body = {"title": f"Task {n}", "tags": ["home", f"t{n}"], "completed": n == 0}
            created = await client.post(user.tasks_url, json=body, headers=user.headers)
            assert created.status_code == 201, created.text
    before = await _owned_rows(app, alice.id)
    assert all(count > 0 for count in before.values()), before
    bobs_before = await _owned_rows(app, bob.id)

    response = await client.delete(ME, headers=alice.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await _owned_rows(app, alice.id) == dict.fromkeys(before, 0)
    assert await _owned_rows(app, bob.id) == bobs_before
    bobs = (await client.get(bob.tasks_url, headers=bob.headers)).json()
    assert bobs["total"] == 3
    assert (await me(client, bob.token))["email"] == "bob@example.com"


async def test_the_old_token_then_provisions_a_new_empty_user(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """A Better Auth user (a token without ``local_account``)."""
    stored = await make_user(email="alice@example.com", name="Alice")
    alice = ApiUser(stored.id, stored.email, token_for(app, stored.id, stored.email, "Alice"))
    created = await client.post(alice.tasks_url, json={"title": "Old"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    old = await me(client, alice.token)
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204

    listed = await client.get(alice.tasks_url, headers=alice.headers)
    profile = await me(client, alice.token)

    assert listed.status_code == 200, listed.text
    assert (listed.json()["data"], listed.json()["total"]) == ([], 0)
    assert (profile["id"], profile["email"], profile["name"]) == (
        alice.id,
        "alice@example.com",
        "Alice",
    )
    assert profile["created_at"] > old["created_at"]
    again = await client.post(alice.tasks_url, json={"title": "New"}, headers=alice.headers)
    assert again.status_code == 201, again.text
    titles = [
        t["title"]
        for t in (await client.get(alice.tasks_url, headers=alice.headers)).json()["data"]
    ]
    assert titles == ["New"]


async def test_delete_me_twice_is_204_twice_with_a_better_auth_token(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """The second provisions a new, empty user and deletes it (the API contract)."""
    token = bearer(token_for(app, alice.id, alice.email, "Alice"))
    assert (await client.delete(ME, headers=token)).status_code == 204
    assert (await client.delete(ME, headers=token)).status_code == 204


async def test_a_deleted_local_account_takes_its_tokens_and_frees_its_email(
    client: httpx.AsyncClient,
) -> None:
    """Tokens of our own login are never provisioned from: once the account is
    deleted they are 401, and the email can sign up again (not held for ever by a
    password-less row)."""
    account = {"email": "gone@example.com", "password": "long-password"}
    signup = await client.post("/api/auth/signup", json=account)
    assert signup.status_code == 201, signup.text
    token = bearer(signup.json()["data"]["access_token"])
    user_id = signup.json()["data"]["user"]["id"]
    assert (await client.delete(ME, headers=token)).status_code == 204

    for response in (
        await client.get(f"/api/{user_id}/tasks", headers=token),
        await client.get(ME, headers=token),
        await client.delete(ME, headers=token),
    ):
        assert_error(response, 401, "UNAUTHORIZED")
    again = await client.post("/api/auth/signup", json=account)
    assert again.status_code == 201, again.text
    assert again.json()["data"]["user"]["id"] != user_id


async def test_delete_me_without_a_valid_token_is_401_and_deletes_nothing(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    forged = jwt.encode({"sub": alice.id, "exp": 4_000_000_000}, "x" * 40, algorithm="HS256")
    for headers in ({}, bearer(forged), bearer("not-a-token")):
        response = await client.delete(ME, headers=headers)
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await _owned_rows(app, alice.id))["users"] == 1


async def test_delete_me_is_documented(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"][ME]["delete"]

    assert operation["operationId"] == "deleteProfile"
    assert {"204", "401", "429", "503"} <= set(operation["responses"])
    assert "content" not in operation["responses"]["204"]
    assert operation["security"]


@pytest.fixture
async def other_process(
    database_url: str, settings_overrides: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database: another API process, with its own memory."""
    other = create_app(make_settings(database_url, **settings_overrides))
    try:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://other") as client:
            yield client
    finally:
        await close_resources(other)


async def test_a_user_deleted_through_another_process_is_provisioned_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    other_process: httpx.AsyncClient,
    make_user: UserFactory,
) -> None:
    """This process still remembers Alice (a Better Auth user) after another one
    deleted her: reads see an empty account, a write is 503 (nothing written) and
    provisions her again, so the retry works; ``/me`` provisions her at once."""
    stored = await make_user(email="alice@example.com", name="Alice")
    alice = ApiUser(stored.id, stored.email, token_for(app, stored.id, stored.email, "Alice"))
    assert (await client.get(ME, headers=alice.headers)).status_code == 200
    created = await client.post(alice.tasks_url, json={"title": "Old"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    assert (await other_process.delete(ME, headers=alice.headers)).status_code == 204

    listed = await client.get(alice.tasks_url, headers=alice.headers)
    write = await client.post(alice.tasks_url, json={"title": "New"}, headers=alice.headers)
    retried = await client.post(alice.tasks_url, json={"title": "New"}, headers=alice.headers)

    assert listed.status_code == 200 and listed.json()["data"] == []
    assert_error(write, 503, "SERVICE_UNAVAILABLE")
    assert int(write.headers["retry-after"]) >= 1
    assert retried.status_code == 201, retried.text
    titles = [
        t["title"]
        for t in (await client.get(alice.tasks_url, headers=alice.headers)).json()["data"]
    ]
    assert titles == ["New"]

    assert (await other_process.delete(ME, headers=alice.headers)).status_code == 204
    profile = await me(client, alice.token)
    assert (profile["id"], profile["email"]) == (alice.id, "alice@example.com")
    assert (await other_process.delete(ME, headers=alice.headers)).status_code == 204
    patched = await client.patch(ME, json={"name": "Back"}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["name"] == "Back"


# --- why a token was refused, in the log --------------------------------------------------


@pytest.fixture
def token_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of ``todo_api.auth.tokens`` at info, with the request id as the app's
    logging configuration adds it (``correlation_id``)."""
    loggers = [logging.getLogger(name) for name in ("todo_api", "todo_api.auth.tokens")]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:  # whatever configure_logging in another test made of them
        logger.propagate = True
    request_ids = CorrelationIdFilter(default_value="-")
    caplog.handler.addFilter(request_ids)
    try:
        with caplog.at_level(logging.INFO, logger="todo_api.auth.tokens"):
            yield caplog
    finally:
        caplog.handler.removeFilter(request_ids)
        for logger, value in zip(loggers, propagate, strict=True):
            logger.propagate = value


class TestRefusalLog:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"jwt_issuer": "http://localhost:3000"}

    @staticmethod
    def refusals(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
        return [
            record
            for record in log.records
            if record.name == "todo_api.auth.tokens" and "token refused" in record.getMessage()
        ]

    async def test_a_wrong_issuer_is_logged_with_both_issuers_and_the_request_id(
        self, client: httpx.AsyncClient, token_log: pytest.LogCaptureFixture
    ) -> None:
        sub = new_user_id()
        token = jwt.encode(
            {"sub": sub, "exp": 4_000_000_000, "iss": "http://127.0.0.1:3000"},
            SECRET,
            algorithm="HS256",
        )

        response = await client.get(ME, headers=bearer(token))

        body = assert_error(response, 401, "UNAUTHORIZED")
        assert body["detail"] == "Not authenticated"
        (record,) = self.refusals(token_log)
        assert record.levelno == logging.INFO
        assert record.getMessage() == (
            "token refused: invalid issuer: expected http://localhost:3000, "
            "got http://127.0.0.1:3000 (HS256)"
        )
        assert record.correlation_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
        assert token not in token_log.text
        assert "127.0.0.1" not in response.text

    @pytest.mark.parametrize(
        ("claims", "secret", "reason"),
        [
            pytest.param(
                {"exp": 1_700_000_000}, SECRET, "expired at 2023-11-14T22:13:20+00:00", id="expired"
            ),
            pytest.param(
                {},
                "another-secret-of-forty-characters-0123456",
                "Signature verification failed",
                id="secret",
            ),
            pytest.param(
                {"iss": "http://evil\n2024 INFO forged"},
                SECRET,
                "got 'http://evil\\n2024 INFO forged'",
                id="newline",
            ),
        ],
    )
    async def test_other_refusals_say_why_without_the_token(
        self,
        client: httpx.AsyncClient,
        token_log: pytest.LogCaptureFixture,
        claims: dict[str, Any],
        secret: str,
        reason: str,
    ) -> None:
        payload = {"sub": new_user_id(), "exp": 4_000_000_000, "iss": "http://localhost:3000"}
        token = jwt.encode({**payload, **claims}, secret, algorithm="HS256")

        response = await client.get(ME, headers=bearer(token))

        assert_error(response, 401, "UNAUTHORIZED")
        (record,) = self.refusals(token_log)
        assert reason in record.getMessage()
        assert "\n" not in record.getMessage()
        assert token not in token_log.text
        for part in token.split("."):
            assert part not in token_log.text

    async def test_a_verified_token_logs_no_refusal(
        self, client: httpx.AsyncClient, token_log: pytest.LogCaptureFixture, alice: ApiUser
    ) -> None:
        assert (await client.get(ME, headers=alice.headers)).status_code == 200
        assert self.refusals(token_log) == []


# --- the start-up line ------------------------------------------------------------------------


def test_ready_message_names_the_database_without_secrets_and_the_verifiers() -> None:
    settings = load_settings(
        environment="production",
        better_auth_secret=SECRET,
        database_url=("postgresql://app:s3cret-pw@db.example.com:5432/todo?sslmode=require"),
        better_auth_url="http://localhost:3000",
        better_auth_session_tokens=True,
        local_accounts=False,
    )

    line = ready_message(settings)

    assert "s3cret" not in line and "***" not in line and "sslmode" not in line
    assert "database: postgresql://app@db.example.com:5432/todo;" in line
    assert "environment: production" in line
    assert (
        "tokens: HS256, JWKS from http://localhost:3000/api/auth/jwks "
        "(iss http://localhost:3000, aud http://localhost:3000), session tokens (table session)"
    ) in line
    assert line.endswith("local accounts: off)")
    assert line.startswith("Todo API ") and " ready (" in line


def test_ready_message_of_the_defaults() -> None:
    settings = load_settings(
        environment="test",
        better_auth_secret=SECRET,
        database_url="sqlite+aiosqlite:///./todo.db",
        better_auth_url="",
    )

    line = ready_message(settings)

    assert "database: sqlite+aiosqlite:///./todo.db;" in line
    assert "tokens: HS256;" in line
    assert line.endswith("local accounts: on)")


async def test_parallel_first_requests_with_new_claims_all_succeed(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Fifty requests of a user whose token carries a new email and name, at once, with
    task writes among them: one updates the profile, none deadlocks or fails."""
    token = token_for(app, alice.id, "alice@new.example", "Alice New")

    async def create(n: int) -> httpx.Response:
        body = {"title": f"parallel {n}", "tags": ["shared", f"own-{n}"]}
        return await client.post(alice.tasks_url, json=body, headers=bearer(token))

    responses = await asyncio.gather(*(create(n) for n in range(50)))

    assert [r.status_code for r in responses] == [201] * 50
    profile = await me(client, token)
    assert (profile["email"], profile["name"]) == ("alice@new.example", "Alice New")


async def test_without_local_accounts_the_document_takes_a_plain_bearer_token(
    database_url: str,
) -> None:
    """The docs page's Authorize must not point at a token route that is gone."""
    document = create_app(make_settings(database_url, local_accounts=False)).openapi()

    (scheme,) = document["components"]["securitySchemes"].values()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "/api/auth/token" not in json.dumps(document)
    assert "signup" not in document["info"]["description"]


async def test_a_local_account_deleted_through_another_process_is_401_here(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, alice: ApiUser
) -> None:
    """This process remembers Alice (our own login's token); once another process
    deleted her, a write fails on the missing row and her token is refused."""
    assert (await client.get(ME, headers=alice.headers)).status_code == 200
    assert (await other_process.delete(ME, headers=alice.headers)).status_code == 204

    write = await client.post(alice.tasks_url, json={"title": "New"}, headers=alice.headers)

    assert_error(write, 401, "UNAUTHORIZED")
    assert_error(await client.get(ME, headers=alice.headers), 401, "UNAUTHORIZED")


async def test_an_older_token_does_not_undo_the_claims_of_a_newer_one(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """Better Auth renamed the user: the old token, still valid and still in use in
    another tab, does not rename them back."""
    user = await make_user(email="finn@example.com", name="Finn")
    secret = app_resources(app).settings.better_auth_secret
    now = int(time.time())

    def token(name: str, issued_at: int) -> str:
        claims = {"sub": user.id, "iat": issued_at, "exp": now + 600, "name": name}
        return jwt.encode(claims, secret, algorithm="HS256")

    old, new = token("Finn", now - 120), token("Finn Renamed", now)
    names = [(await me(client, each))["name"] for each in (old, new, old, new, old)]

    assert names == ["Finn", "Finn Renamed", "Finn Renamed", "Finn Renamed", "Finn Renamed"]
