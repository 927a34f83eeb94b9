"""Hostile input (api.md "Conventions", "Listing", "Details that clients rely on").

SQL-looking strings, LIKE wildcards, escapes, path tricks, odd Unicode and
very long values in every query parameter, in the path and in body fields:
never a 5xx, every 4xx in the error envelope, text stored and searched
literally, and afterwards the tables still work and the other user's data is
untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import ApiUser, assert_error

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

HOSTILE = [
    "'; DROP TABLE tasks; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "%",
    "_",
    "\\",
    "\U0001d54f",  # MATHEMATICAL DOUBLE-STRUCK CAPITAL X
    "\u202e",
    "\U0001f642 caf\u00e9",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "9" * 40,
    "x" * 10_000,
    "\x00",
]
SHORT_TEXT = [value for value in HOSTILE if len(value) <= 30 and value != "\x00"]
"""Hostile values that are valid text for every field, tags included."""
FEW = [HOSTILE[0], "%", "\U0001d54f", "../../etc/passwd", "9" * 40, "x" * 10_000, "\x00"]
"""A sample of the hostile values for parameters whose every hostile value fails alike."""

QUERY_PARAMS = [
    "status",
    "priority",
    "sort",
    "order",
    "page",
    "page_size",
    "due_before",
    "due_after",
]
"""Parameters with a fixed set or range: no hostile value is one of their values."""


def assert_enveloped_client_error(response: httpx.Response, *allowed: int) -> dict[str, Any]:
    """Not a 5xx: one of the ``allowed`` 4xx statuses, in the error envelope."""
    assert response.status_code < 500, response.text
    assert response.status_code in allowed, response.text
    return assert_error(response, response.status_code, response.json()["error_code"])


async def snapshot(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    listed = await client.get(user.tasks_url, params={"page_size": 100}, headers=user.headers)
    assert listed.status_code == 200
    etags = []
    for task in listed.json()["data"]:
        one = await client.get(f"{user.tasks_url}/{task['id']}", headers=user.headers)
        etags.append(one.headers["etag"])
    return {"list": listed.json(), "etags": etags}


async def assert_tables_still_work(
    client: httpx.AsyncClient, user: ApiUser, other: ApiUser, other_before: dict[str, Any]
) -> None:
    """A plain create, read and list still work; the other user's data is unchanged."""
    created = await client.post(
        user.tasks_url, json={"title": "Still works", "tags": ["ok"]}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    listed = await client.get(user.tasks_url, params={"tag": "ok"}, headers=user.headers)
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["data"]] == [created.json()["data"]["id"]]
    assert await snapshot(client, other) == other_before


@pytest.fixture
async def bobs_before(
    client: httpx.AsyncClient, bob: ApiUser, make_task: TaskFactory
) -> dict[str, Any]:
    """Bob's tasks, made before anything hostile happens, as a snapshot."""
    await make_task(bob, title="Bob's milk", description="semi-skimmed", tags=["home"])
    await make_task(bob, title="Bob's rent", completed=True, due_date="2026-05-01T10:00:00Z")
    return await snapshot(client, bob)


async def test_hostile_query_values_are_200_or_422(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    bobs_before: dict[str, Any],
    subtests: pytest.Subtests,
) -> None:
    await make_task(alice, title="Buy milk", tags=["home"])
    await make_task(alice, title="Pay rent", description="before the 5th")

    for value in HOSTILE:
        for name in QUERY_PARAMS if value in FEW else []:
            with subtests.test(param=name, value=value[:30]):
                response = await client.get(
                    alice.tasks_url, params={name: value}, headers=alice.headers
                )
                body = assert_enveloped_client_error(response, 422)
                assert set(body["field_errors"]) == {name}
        for name in ["q", "tag"]:
            with subtests.test(param=name, value=value[:30]):
                response = await client.get(
                    alice.tasks_url, params={name: value}, headers=alice.headers
                )
                if response.status_code == 200:
                    assert response.json()["data"] == []
                    assert response.json()["total"] == 0
                else:
                    body = assert_enveloped_client_error(response, 422)
                    assert set(body["field_errors"]) == {name}
                    assert len(value) > 30 or value == "\x00"

    await assert_tables_still_work(client, alice, bob, bobs_before)


async def test_hostile_path_segments_are_refused_cleanly(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    bobs_before: dict[str, Any],
    subtests: pytest.Subtests,
) -> None:
    task = await make_task(alice)

    for value in HOSTILE:
        segment = quote(value, safe="")
        for method, suffix in [
            ("GET", ""),
            ("POST", ""),
            ("DELETE", "/1"),
            ("PATCH", "/1/complete"),
        ]:
            with subtests.test(user_id=value[:30], method=method):
                response = await client.request(
                    method,
                    f"/api/{segment}/tasks{suffix}",
                    json={"title": "x"} if method == "POST" else None,
                    headers=alice.headers,
                )
                error = assert_enveloped_client_error(response, 403, 404)
                assert (
                    error["error_code"]
                    == {403: "FORBIDDEN", 404: "NOT_FOUND"}[response.status_code]
                )
        for method in ["GET", "PATCH"]:
            with subtests.test(task_id=value[:30], method=method):
                response = await client.request(
                    method,
                    f"{alice.tasks_url}/{segment}",
                    json={"title": "x"} if method == "PATCH" else None,
                    headers=alice.headers,
                )
                error = assert_enveloped_client_error(response, 404, 405, 422)
                if response.status_code == 422:
                    assert set(error["field_errors"]) == {"task_id"}

    assert (await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)).json()[
        "data"
    ] == task
    await assert_tables_still_work(client, alice, bob, bobs_before)


async def test_hostile_text_is_stored_verbatim_and_found_literally(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    bobs_before: dict[str, Any],
    subtests: pytest.Subtests,
) -> None:
    plain = await client.post(alice.tasks_url, json={"title": "plain"}, headers=alice.headers)
    assert plain.status_code == 201
    titles = {plain.json()["data"]["id"]: "plain"}
    for value in SHORT_TEXT:
        with subtests.test(value=value):
            body = {"title": value, "description": value, "tags": [value]}
            response = await client.post(alice.tasks_url, json=body, headers=alice.headers)
            assert response.status_code == 201, response.text
            task = response.json()["data"]
            assert task["title"] == value
            assert task["description"] == value
            assert task["tags"] == [value.lower()]
            fetched = await client.get(f"{alice.tasks_url}/{task['id']}", headers=alice.headers)
            assert fetched.json()["data"] == task
            titles[task["id"]] = value

    for value in SHORT_TEXT:
        with subtests.test(q=value):
            expected = sorted(
                (i for i, title in titles.items() if value.lower() in title.lower()), reverse=True
            )
            response = await client.get(
                alice.tasks_url, params={"q": value, "page_size": 100}, headers=alice.headers
            )
            assert response.status_code == 200, response.text
            assert [t["id"] for t in response.json()["data"]] == expected
            tagged = await client.get(
                alice.tasks_url, params={"tag": value, "page_size": 100}, headers=alice.headers
            )
            assert tagged.status_code == 200, tagged.text
            assert [t["id"] for t in tagged.json()["data"]] == [
                i for i in expected if titles[i].lower() == value.lower()
            ]

    await assert_tables_still_work(client, alice, bob, bobs_before)


async def test_hostile_body_values_are_refused_with_the_envelope(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    bobs_before: dict[str, Any],
    subtests: pytest.Subtests,
) -> None:
    task = await make_task(alice)
    url = f"{alice.tasks_url}/{task['id']}"

    for value in HOSTILE:
        refused = ["priority", "due_date", "completed"]
        if value not in SHORT_TEXT:
            refused.append("tags")
        if "\x00" in value or len(value) > 200:
            refused.append("title")
        if "\x00" in value or len(value) > 1000:
            refused.append("description")
        for field in refused:
            sent = [value] if field == "tags" else value
            methods = [("POST", alice.tasks_url), ("PATCH", url)]
            for method, target in methods if value in FEW else methods[:1]:
                with subtests.test(field=field, value=value[:30], method=method):
                    response = await client.request(
                        method, target, json={"title": "t", field: sent}, headers=alice.headers
                    )
                    body = assert_enveloped_client_error(response, 422)
                    assert set(body["field_errors"]) == {field}

    listed = await client.get(alice.tasks_url, headers=alice.headers)
    assert listed.json()["data"] == [task]
    await assert_tables_still_work(client, alice, bob, bobs_before)


async def test_hostile_conditional_headers_are_412_or_ignored(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    url = f"{alice.tasks_url}/{task['id']}"

    for value in [v for v in HOSTILE if v.isascii() and v not in {"\x00", "*"}]:
        with subtests.test(value=value[:30]):
            read = await client.get(url, headers={**alice.headers, "If-None-Match": value})
            assert read.status_code == 200
            write = await client.patch(
                url, json={"title": "x"}, headers={**alice.headers, "If-Match": value}
            )
            assert_error(write, 412, "PRECONDITION_FAILED")

    assert (await client.get(url, headers=alice.headers)).json()["data"] == task


async def test_q_with_wildcards_does_not_match_everything(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    for title in ["Buy milk", "Pay rent", "Call mom"]:
        await make_task(alice, title=title, description="nothing special")

    for q in ["%", "_", "%%", "%_%", "_%_", "%milk%", "B_y", "\\%", "[a-z]", "*", ".*"]:
        with subtests.test(q=q):
            response = await client.get(alice.tasks_url, params={"q": q}, headers=alice.headers)
            assert response.status_code == 200
            assert response.json()["data"] == []
            assert response.json()["total"] == 0


async def test_huge_page_number_is_empty_with_true_total(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    for priority in ["high", "high", "low"]:
        await make_task(alice, priority=priority)

    for page in [10**15, 2**62, 2**63 - 1]:
        for page_size, params, total in [(20, {}, 3), (100, {"priority": "high"}, 2)]:
            with subtests.test(page=page, page_size=page_size):
                response = await client.get(
                    alice.tasks_url,
                    params={"page": page, "page_size": page_size, **params},
                    headers=alice.headers,
                )
                assert response.status_code == 200, response.text
                assert response.json() == {
                    "data": [],
                    "total": total,
                    "page": page,
                    "page_size": page_size,
                    "next_cursor": None,
                }
