"""Bearer tokens under the HS256 shared-secret verifier (api.md, "Authentication" 1).

A verified token of an unknown subject provisions its user; every kind of bad
token is the same 401 ``UNAUTHORIZED`` with ``WWW-Authenticate: Bearer`` and
one generic message.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning

from tests.conftest import SECRET
from tests.helpers import ApiUser, assert_error, sessionmaker_of
from todo_api.auth.models import User
from todo_api.auth.service import new_user_id

ME = "/api/auth/me"
OTHER_SECRET = "another-secret-that-is-also-long-enough-for-hs256-987654"


def make_token(
    sub: Any = None,
    *,
    lifetime: float = 300,
    secret: Any = SECRET,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """An HS256 token (by default) for ``sub`` that expires in ``lifetime`` seconds."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + lifetime, **claims}
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, secret, algorithm=algorithm)


def b64url(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned_token(sub: str, alg: str = "none") -> str:
    """An ``alg: none`` JWT built by hand: header.payload. with an empty signature."""
    now = int(time.time())
    header = b64url({"alg": alg, "typ": "JWT"})
    payload = b64url({"sub": sub, "iat": now, "exp": now + 300})
    return f"{header}.{payload}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- provisioning -------------------------------------------------------------------------


async def test_unknown_subject_is_provisioned_on_first_use(client: httpx.AsyncClient) -> None:
    sub = new_user_id()
    token = make_token(sub, email="carol@example.com", name="Carol")

    me = await client.get(ME, headers=bearer(token))

    assert me.status_code == 200, me.text
    user = me.json()["data"]
    assert user["id"] == sub
    assert user["email"] == "carol@example.com"
    assert user["name"] == "Carol"


async def test_provisioned_user_can_use_task_routes(client: httpx.AsyncClient) -> None:
    sub = new_user_id()
    headers = bearer(make_token(sub, email="dan@example.com", name="Dan"))

    created = await client.post(f"/api/{sub}/tasks", json={"title": "First"}, headers=headers)
    listed = await client.get(f"/api/{sub}/tasks", headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["data"]["user_id"] == sub
    assert listed.status_code == 200, listed.text
    assert [task["title"] for task in listed.json()["data"]] == ["First"]


async def test_token_without_email_or_name_provisions_bare_user(
    client: httpx.AsyncClient,
) -> None:
    sub = new_user_id()

    me = await client.get(ME, headers=bearer(make_token(sub)))

    assert me.status_code == 200, me.text
    assert me.json()["data"]["id"] == sub
    assert me.json()["data"]["email"] is None
    assert me.json()["data"]["name"] is None


async def test_provisioned_user_is_the_same_user_on_later_tokens(
    client: httpx.AsyncClient,
) -> None:
    sub = new_user_id()
    first = bearer(make_token(sub, email="erin@example.com", name="Erin"))
    created = await client.post(f"/api/{sub}/tasks", json={"title": "Kept"}, headers=first)
    assert created.status_code == 201, created.text

    later = bearer(make_token(sub, lifetime=600, email="erin@example.com", name="Erin"))
    listed = await client.get(f"/api/{sub}/tasks", headers=later)

    assert listed.status_code == 200, listed.text
    assert [task["title"] for task in listed.json()["data"]] == ["Kept"]


@pytest.mark.parametrize("claimed_email", ["alice@example.com", "Alice@Example.COM"])
async def test_token_claiming_another_accounts_email_is_provisioned_without_email(
    client: httpx.AsyncClient, alice: ApiUser, claimed_email: str
) -> None:
    """Accounts are never merged by email (api.md, "Details")."""
    task = await client.post(alice.tasks_url, json={"title": "Alice's"}, headers=alice.headers)
    assert task.status_code == 201, task.text
    sub = new_user_id()
    headers = bearer(make_token(sub, email=claimed_email, name="Mallory"))

    me = await client.get(ME, headers=headers)
    into_alice = await client.get(alice.tasks_url, headers=headers)
    own = await client.get(f"/api/{sub}/tasks", headers=headers)

    assert me.status_code == 200, me.text
    profile = me.json()["data"]
    assert (profile["id"], profile["email"], profile["name"]) == (sub, None, "Mallory")
    assert_error(into_alice, 403, "FORBIDDEN")
    assert own.status_code == 200, own.text
    assert own.json()["data"] == []
    alice_me = (await client.get(ME, headers=alice.headers)).json()["data"]
    assert alice_me["id"] == alice.id
    assert alice_me["email"] == "alice@example.com"
    assert alice_me["name"] == "Alice"
    alice_tasks = (await client.get(alice.tasks_url, headers=alice.headers)).json()
    assert [t["title"] for t in alice_tasks["data"]] == ["Alice's"]


# --- leeway and accepted forms --------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda sub: make_token(sub, lifetime=-10), id="exp-10s-ago"),
        pytest.param(lambda sub: make_token(sub, nbf=int(time.time()) + 10), id="nbf-in-10s"),
        pytest.param(lambda sub: make_token(sub, iat=int(time.time()) + 10), id="iat-in-10s"),
        pytest.param(lambda sub: make_token(sub, drop=("iat",)), id="no-iat"),
    ],
)
async def test_token_within_clock_leeway_is_accepted(
    client: httpx.AsyncClient, alice: ApiUser, build: Callable[[str], str]
) -> None:
    response = await client.get(alice.tasks_url, headers=bearer(build(alice.id)))

    assert response.status_code == 200, response.text


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get(ME, headers={"Authorization": f"bearer {alice.token}"})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == alice.id


# --- rejected tokens ------------------------------------------------------------------------


def _rsa_token(sub: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return make_token(sub, secret=key, algorithm="RS256")


def _eddsa_token(sub: str) -> str:
    return make_token(sub, secret=ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA")


def _hs512_token(sub: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return make_token(sub, algorithm="HS512")


def _es256_token(sub: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return make_token(sub, secret=key, algorithm="ES256")


BAD_AUTHORIZATION: dict[str, Callable[[str], str]] = {
    "expired-beyond-leeway": lambda sub: f"Bearer {make_token(sub, lifetime=-120)}",
    "expired-just-past-leeway": lambda sub: f"Bearer {make_token(sub, lifetime=-45)}",
    "nbf-in-5-minutes": lambda sub: f"Bearer {make_token(sub, nbf=int(time.time()) + 300)}",
    "no-sub": lambda sub: f"Bearer {make_token(sub, drop=('sub',))}",
    "empty-sub": lambda sub: f"Bearer {make_token('')}",
    "no-exp": lambda sub: f"Bearer {make_token(sub, drop=('exp',))}",
    "sub-not-string": lambda sub: f"Bearer {make_token(12345)}",
    "exp-not-number": lambda sub: f"Bearer {make_token(sub, exp='tomorrow')}",
    "wrong-secret": lambda sub: f"Bearer {make_token(sub, secret=OTHER_SECRET)}",
    "alg-none": lambda sub: f"Bearer {unsigned_token(sub)}",
    "alg-None": lambda sub: f"Bearer {unsigned_token(sub, alg='None')}",
    "hs256-without-signature": lambda sub: f"Bearer {unsigned_token(sub, alg='HS256')}",
    "hs512-same-secret": lambda sub: f"Bearer {_hs512_token(sub)}",
    "rs256-without-jwks": lambda sub: f"Bearer {_rsa_token(sub)}",
    "eddsa-without-jwks": lambda sub: f"Bearer {_eddsa_token(sub)}",
    "es256-without-jwks": lambda sub: f"Bearer {_es256_token(sub)}",
    "truncated": lambda sub: f"Bearer {make_token(sub)[:-12]}",
    "payload-tampered": lambda sub: (
        "Bearer "
        + ".".join([make_token(sub).split(".")[0], b64url({"sub": sub, "exp": 4102444800}), "c2ln"])
    ),
    "garbage": lambda sub: "Bearer not-a-token-at-all",
    "two-dots-garbage": lambda sub: "Bearer a.b.c",
    "empty-bearer": lambda sub: "Bearer ",
    "bearer-only": lambda sub: "Bearer",
    "basic-scheme": lambda sub: "Basic dXNlcjpwYXNz",
    "token-without-scheme": lambda sub: make_token(sub),
}


@pytest.fixture
async def no_token_detail(client: httpx.AsyncClient, alice: ApiUser) -> str:
    """The generic 401 message, as a request without any token gets it."""
    response = await client.get(alice.tasks_url)
    detail: str = assert_error(response, 401, "UNAUTHORIZED")["detail"]
    return detail


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
async def test_bad_token_is_generic_401_with_bearer_challenge(
    client: httpx.AsyncClient, alice: ApiUser, no_token_detail: str, case: str
) -> None:
    authorization = BAD_AUTHORIZATION[case](alice.id)

    response = await client.get(alice.tasks_url, headers={"Authorization": authorization})

    error = assert_error(response, 401, "UNAUTHORIZED")
    assert error["detail"] == no_token_detail
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            lambda sub: make_token(sub, lifetime=-120, email="x@example.com"), id="expired"
        ),
        pytest.param(
            lambda sub: make_token(sub, secret=OTHER_SECRET, email="x@example.com"),
            id="wrong-secret",
        ),
        pytest.param(unsigned_token, id="alg-none"),
    ],
)
async def test_rejected_token_of_unknown_subject_provisions_nobody(
    client: httpx.AsyncClient, app: FastAPI, token: Callable[[str], str]
) -> None:
    sub = new_user_id()

    response = await client.get(ME, headers=bearer(token(sub)))

    assert_error(response, 401, "UNAUTHORIZED")
    async with sessionmaker_of(app)() as session:
        assert await session.get(User, sub) is None
    users = await client.get(ME, headers=bearer(make_token(sub)))
    assert users.json()["data"]["email"] is None


async def test_no_authorization_header_is_401_with_bearer_challenge(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.get(alice.tasks_url)

    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("parameter", ["access_token", "token", "authorization"])
async def test_token_in_query_string_is_not_accepted(
    client: httpx.AsyncClient, alice: ApiUser, no_token_detail: str, parameter: str
) -> None:
    response = await client.get(alice.tasks_url, params={parameter: alice.token})

    error = assert_error(response, 401, "UNAUTHORIZED")
    assert error["detail"] == no_token_detail
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_in_cookie_is_not_accepted(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.get(
        alice.tasks_url, headers={"Cookie": f"access_token={alice.token}; token={alice.token}"}
    )

    assert_error(response, 401, "UNAUTHORIZED")


# --- issuer and audience --------------------------------------------------------------------

ISSUER = "https://auth.example.com"
AUDIENCE = "todo-api"


class TestIssuerAndAudience:
    """With ``JWT_ISSUER`` and ``JWT_AUDIENCE`` set, HS256 tokens must carry both."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}

    @pytest.mark.parametrize(
        "claims",
        [
            pytest.param({"iss": ISSUER, "aud": AUDIENCE}, id="both-right"),
            pytest.param({"iss": ISSUER, "aud": ["other-api", AUDIENCE]}, id="aud-list"),
        ],
    )
    async def test_right_issuer_and_audience_is_accepted(
        self, client: httpx.AsyncClient, alice: ApiUser, claims: dict[str, Any]
    ) -> None:
        response = await client.get(alice.tasks_url, headers=bearer(make_token(alice.id, **claims)))

        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "claims",
        [
            pytest.param({"iss": "https://evil.example.com", "aud": AUDIENCE}, id="wrong-iss"),
            pytest.param({"iss": ISSUER, "aud": "another-api"}, id="wrong-aud"),
            pytest.param({"aud": AUDIENCE}, id="no-iss"),
            pytest.param({"iss": ISSUER}, id="no-aud"),
            pytest.param({"iss": ISSUER + "/", "aud": AUDIENCE}, id="iss-trailing-slash"),
        ],
    )
    async def test_wrong_or_missing_issuer_or_audience_is_401(
        self, client: httpx.AsyncClient, alice: ApiUser, claims: dict[str, Any]
    ) -> None:
        response = await client.get(alice.tasks_url, headers=bearer(make_token(alice.id, **claims)))

        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_own_login_tokens_carry_the_configured_issuer_and_audience(
        self, client: httpx.AsyncClient, alice: ApiUser
    ) -> None:
        claims = jwt.decode(alice.token, options={"verify_signature": False})

        response = await client.get(ME, headers=alice.headers)

        assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
        assert response.status_code == 200, response.text
