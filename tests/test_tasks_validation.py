"""Validation of task bodies and list queries (api.md "Tasks", "Conventions", "Listing").

Field limits, whitespace and control-character rules, tag normalisation,
unknown fields, wrong JSON types, bodies that are not objects, and query
values outside their range or set. Every refusal is a 422 in the error
envelope with ``field_errors`` keyed by the name the client sent, and a
refused write stores nothing. Tables of cases run as subtests of one test so
that each table pays the per-test app set-up once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser, assert_error

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

WRITES = ["POST", "PUT", "PATCH"]
C0_CONTROLS = ["\x00", "\x01", "\x0b", "\r", "\x1b", "\x1f"]


async def send(
    client: httpx.AsyncClient, user: ApiUser, method: str, task_id: int, body: Any
) -> httpx.Response:
    """``body`` as JSON to create (POST) or to write task ``task_id`` (PUT, PATCH)."""
    url = user.tasks_url if method == "POST" else f"{user.tasks_url}/{task_id}"
    headers = {**user.headers, "Content-Type": "application/json"}
    return await client.request(method, url, content=json.dumps(body), headers=headers)


def assert_field_errors(response: httpx.Response, *fields: str) -> None:
    """A 422 ``VALIDATION_ERROR`` envelope whose ``field_errors`` name exactly ``fields``."""
    body = assert_error(response, 422, "VALIDATION_ERROR")
    field_errors = body.get("field_errors")
    assert isinstance(field_errors, dict), body
    assert set(field_errors) == set(fields), field_errors
    for messages in field_errors.values():
        assert messages, field_errors
        assert all(isinstance(message, str) and message for message in messages)


async def state(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    """The user's whole list, to prove that a refused write stored nothing."""
    response = await client.get(user.tasks_url, params={"page_size": 100}, headers=user.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def assert_refused(
    client: httpx.AsyncClient,
    user: ApiUser,
    task_id: int,
    body: Any,
    *fields: str,
    methods: list[str] = WRITES,
) -> None:
    """Each of ``methods`` with ``body`` is a 422 naming exactly ``fields``.

    POST and PUT get a valid ``title`` added when ``body`` has none, so that
    only the field under test is wrong.
    """
    for method in methods:
        sent = body
        if method != "PATCH" and isinstance(body, dict) and "title" not in body:
            sent = {"title": "valid", **body}
        response = await send(client, user, method, task_id, sent)
        assert_field_errors(response, *fields)


# --- text fields --------------------------------------------------------------------------


async def test_title_is_1_to_200_and_description_at_most_1000_characters(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    before = await state(client, alice)

    for sent in ["x" * 201, "", "   ", "\t\n ", " " + "z" * 201 + " "]:
        with subtests.test(title=sent[:12], length=len(sent)):
            await assert_refused(client, alice, task["id"], {"title": sent}, "title")
    with subtests.test(description_length=1001):
        await assert_refused(client, alice, task["id"], {"description": "d" * 1001}, "description")
    assert await state(client, alice) == before

    with subtests.test(description_length=1000):
        for method in WRITES:
            body = {"title": "t", "description": " " + "d" * 1000 + "\n"}
            response = await send(client, alice, method, task["id"], body)
            assert response.status_code in {200, 201}, response.text
            assert response.json()["data"]["description"] == "d" * 1000

    for sent, stored in [
        ("x", "x"),
        ("x" * 200, "x" * 200),
        ("  " + "y" * 200 + " \n", "y" * 200),
        ("  Buy  milk\t", "Buy  milk"),
    ]:
        with subtests.test(title=sent[:12], length=len(sent)):
            for method in WRITES:
                response = await send(client, alice, method, task["id"], {"title": sent})
                assert response.status_code in {200, 201}, response.text
                assert response.json()["data"]["title"] == stored


async def test_outer_whitespace_is_stripped_and_inner_tab_and_newline_kept(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice)
    body = {
        "title": " \t Buy\tmilk \n",
        "description": "\n  line one\nline two\n\tindented  \t",
        "tags": ["  Home ", "\twork\n", " two words "],
    }

    for method in WRITES:
        response = await send(client, alice, method, task["id"], body)
        assert response.status_code in {200, 201}, response.text
        data = response.json()["data"]
        assert data["title"] == "Buy\tmilk", method
        assert data["description"] == "line one\nline two\n\tindented", method
        assert data["tags"] == ["home", "work", "two words"], method


async def test_control_characters_are_refused_in_text_fields(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    before = await state(client, alice)

    for char in C0_CONTROLS:
        for field in ["title", "description", "tags"]:
            for text in [f"bad{char}text", f"{char}badtext", f"badtext{char}"]:
                value: Any = [text] if field == "tags" else text
                methods = WRITES if text == f"bad{char}text" else ["POST"]
                with subtests.test(field=field, text=repr(text)):
                    await assert_refused(
                        client, alice, task["id"], {field: value}, field, methods=methods
                    )

    assert await state(client, alice) == before


# --- messages: text limits in characters (api.md "Details that clients rely on") ----------


@pytest.mark.parametrize(
    ("field", "sent", "message"),
    [
        pytest.param("title", "x" * 201, "String should have at most 200 characters", id="title"),
        pytest.param(
            "title", " \t\n ", "String should have at least 1 character", id="title-blank"
        ),
        pytest.param(
            "description",
            " " + "d" * 1001,
            "String should have at most 1000 characters",
            id="description",
        ),
        pytest.param("tags", ["t" * 31], "String should have at most 30 characters", id="tag"),
        pytest.param("tags", ["  "], "String should have at least 1 character", id="tag-blank"),
    ],
)
async def test_task_text_limits_are_said_in_characters(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
    field: str,
    sent: Any,
    message: str,
) -> None:
    """One message, in characters: never "Value should have at most 200 items"."""
    task = await make_task(alice)

    for method in WRITES:
        with subtests.test(method=method):
            body = {field: sent} if method == "PATCH" else {"title": "valid", field: sent}
            response = await send(client, alice, method, task["id"], body)
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert error["field_errors"] == {field: [message]}


@pytest.mark.parametrize(
    ("route", "field", "sent", "message"),
    [
        pytest.param(
            "signup", "name", "n" * 101, "String should have at most 100 characters", id="name"
        ),
        pytest.param(
            "signup", "name", "   ", "String should have at least 1 character", id="name-blank"
        ),
        pytest.param(
            "signup",
            "password",
            "p" * 129,
            "String should have at most 128 characters",
            id="password",
        ),
        pytest.param(
            "signup",
            "email",
            "a" * 400 + "@example.com",
            "String should have at most 320 characters",
            id="email",
        ),
        pytest.param(
            "profile",
            "name",
            "n" * 101,
            "String should have at most 100 characters",
            id="profile-name",
        ),
        pytest.param(
            "profile",
            "name",
            " \n",
            "String should have at least 1 character",
            id="profile-name-blank",
        ),
    ],
)
async def test_account_text_limits_are_said_in_characters(
    client: httpx.AsyncClient, alice: ApiUser, route: str, field: str, sent: str, message: str
) -> None:
    if route == "signup":
        body = {"email": "grace@example.com", "password": "a-long-password", field: sent}
        response = await client.post("/api/auth/signup", json=body)
    else:
        response = await client.patch("/api/auth/me", json={field: sent}, headers=alice.headers)

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert error["field_errors"] == {field: [message]}


# --- tags ---------------------------------------------------------------------------------


TAG_CASES = [
    (["zeta", "Alpha", "ZETA", "mid", "alpha"], ["zeta", "alpha", "mid"]),
    ([" a", "a ", "A", "a"], ["a"]),
    ([f"t{i}" for i in range(10)] + ["T3"], [f"t{i}" for i in range(10)]),
    (["Ä", "ä", "Straße"], ["ä", "straße"]),
    (["x" * 30, " " + "y" * 30 + " "], ["x" * 30, "y" * 30]),
    ([], []),
]


async def test_tags_are_lower_cased_deduplicated_in_order_of_first_appearance(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)

    for sent, stored in TAG_CASES:
        for method in WRITES:
            with subtests.test(tags=sent, method=method):
                body = {"title": "t", "tags": sent}
                response = await send(client, alice, method, task["id"], body)
                assert response.status_code in {200, 201}, response.text
                assert response.json()["data"]["tags"] == stored
    fetched = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
    assert fetched.json()["data"]["tags"] == TAG_CASES[-1][1]


async def test_invalid_tags_are_refused(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice, tags=["keep"])
    before = await state(client, alice)

    for tags in [
        [f"t{i}" for i in range(11)],
        [f"t{i}" for i in range(10)] + ["  T10 "],
        ["x" * 31],
        [""],
        ["   "],
        ["ok", 5],
        ["ok", None],
        [["nested"]],
        "home",
        {"home": True},
    ]:
        with subtests.test(tags=repr(tags)[:40]):
            await assert_refused(client, alice, task["id"], {"tags": tags}, "tags")

    assert await state(client, alice) == before


# --- other fields -------------------------------------------------------------------------


FIELD_ERRORS: list[tuple[str, Any]] = [
    ("priority", "urgent"),
    ("priority", ""),
    ("priority", "HIGH"),
    ("priority", 2),
    ("priority", ["high"]),
    ("priority", None),
    ("due_date", "notadate"),
    ("due_date", ""),
    ("due_date", "2026-13-01T00:00:00Z"),
    ("due_date", "2026-02-30T00:00:00Z"),
    ("due_date", "2026-05-01T25:00:00Z"),
    ("due_date", "2026-05-01T12:00:00+25:00"),
    ("due_date", True),
    ("due_date", {"date": "2026-05-01"}),
    ("title", 5),
    ("title", ["x"]),
    ("title", {"text": "x"}),
    ("title", True),
    ("title", None),
    ("description", 5),
    ("description", ["x"]),
    ("completed", "yes"),
    ("completed", "true"),
    ("completed", 1),
    ("completed", "x"),
    ("completed", None),
    ("tags", "home"),
    ("tags", 5),
]
"""Values outside a field's set, bad date-times, and wrong JSON types."""


async def test_bad_values_and_wrong_json_types_are_refused(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    before = await state(client, alice)

    for field, value in FIELD_ERRORS:
        with subtests.test(field=field, value=value):
            body = {"title": "t", field: value} if field != "title" else {field: value}
            await assert_refused(client, alice, task["id"], body, field)

    assert await state(client, alice) == before


async def test_unknown_and_read_only_fields_are_refused(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = await make_task(alice)
    before = await state(client, alice)
    values = {
        "id": 999,
        "user_id": bob.id,
        "created_at": "2020-01-01T00:00:00Z",
        "completed_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
        "version": 99,
        "foo": "bar",
    }

    for field, value in values.items():
        with subtests.test(field=field):
            await assert_refused(client, alice, task["id"], {"title": "t", field: value}, field)
            complete = await client.patch(
                f"{alice.tasks_url}/{task['id']}/complete",
                json={"completed": True, field: value},
                headers=alice.headers,
            )
            assert_field_errors(complete, field)

    assert await state(client, alice) == before
    assert (await state(client, bob))["total"] == 0


async def test_body_that_is_not_a_json_object_is_refused(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    urls = {
        "POST": alice.tasks_url,
        "PUT": f"{alice.tasks_url}/{task['id']}",
        "PATCH": f"{alice.tasks_url}/{task['id']}",
    }
    json_headers = {**alice.headers, "Content-Type": "application/json"}

    for body in [[], [{"title": "t"}], "x", None, 5, True]:
        with subtests.test(json_body=body):
            await assert_refused(client, alice, task["id"], body, "body")

    for method, url in urls.items():
        for raw in [b'{"title": ', b"{'title': 'x'}", b"title=x", b'{"title": "x"} trailing']:
            with subtests.test(method=method, body=raw):
                response = await client.request(method, url, content=raw, headers=json_headers)
                assert_field_errors(response, "body")
        for content_type in ["text/plain", "application/x-www-form-urlencoded"]:
            with subtests.test(method=method, content_type=content_type):
                response = await client.request(
                    method,
                    url,
                    content=b'{"title": "x"}',
                    headers={**alice.headers, "Content-Type": content_type},
                )
                assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")

    assert (await state(client, alice))["data"] == [task]


# --- list query ---------------------------------------------------------------------------


QUERY_ERRORS: list[tuple[str, str]] = [
    ("status", "foo"),
    ("status", ""),
    ("priority", "urgent"),
    ("sort", "foo"),
    ("sort", "id"),
    ("order", "up"),
    ("page", "0"),
    ("page", "-1"),
    ("page", "abc"),
    ("page", "1.5"),
    ("page", str(2**63)),
    ("page", ""),
    ("page_size", "0"),
    ("page_size", "101"),
    ("page_size", "-5"),
    ("page_size", "abc"),
    ("due_before", "notadate"),
    ("due_before", "2026-13-01T00:00:00Z"),
    ("due_after", "notadate"),
]


async def test_query_value_outside_its_range_or_set_is_422(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    for name, value in QUERY_ERRORS:
        with subtests.test(param=name, value=value):
            response = await client.get(
                alice.tasks_url, params={name: value}, headers=alice.headers
            )
            assert_field_errors(response, name)


async def test_control_character_in_q_or_tag_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    await make_task(alice, title="milk", tags=["milk"])

    for name in ["q", "tag"]:
        for char in C0_CONTROLS:
            for value in [f"mi{char}lk", f"milk{char}"]:
                with subtests.test(param=name, value=repr(value)):
                    response = await client.get(
                        alice.tasks_url, params={name: value}, headers=alice.headers
                    )
                    assert_field_errors(response, name)


async def test_query_boundaries_are_accepted(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    for params in [
        {"page": "1"},
        {"page": str(2**63 - 1)},
        {"page_size": "1"},
        {"page_size": "100"},
        {"status": "all", "priority": "low", "sort": "priority", "order": "asc"},
        {"due_before": "2026-05-01T12:00:00+02:00", "due_after": "2026-05-01T12:00:00"},
        {"q": "tab\tand\nnewline", "tag": "x" * 30},
    ]:
        with subtests.test(params=params):
            response = await client.get(alice.tasks_url, params=params, headers=alice.headers)
            assert response.status_code == 200, response.text
            assert response.json()["data"] == []
