"""Lists (api.md "Lists", "Subtasks and manual order", "Conventions", "Details that
clients rely on"), end to end over HTTP, as a client sees them.

Every user has exactly one inbox, however they came to exist; lists are created
last, read with an ``ETag`` (``If-None-Match``), renamed, moved and deleted with
``If-Match``; deleting a list deletes its tasks and their subtasks; the counts
count the list's tasks, subtasks included, whatever writes them at once; moves
write the moved list alone; another user's list is a 404, another user's path a
403, no token a 401, in that order; hostile ids and bodies are 4xx, never 5xx.
Tables of cases that share one set-up run as subtests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from tests.helpers import ApiUser, assert_error
from todo_api.auth.service import new_user_id
from todo_api.auth.tokens import LOCAL_ACCOUNT_CLAIM, issue_access_token
from todo_api.resources import app_resources

UserFactory = Callable[..., Awaitable[ApiUser]]
TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

SIGNUP = "/api/auth/signup"
ME = "/api/auth/me"
PASSWORD = "correct horse battery staple"
LIST_FIELDS = {
    "id",
    "name",
    "is_inbox",
    "position",
    "task_count",
    "completed_count",
    "created_at",
    "updated_at",
}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')
HOSTILE_PATH_IDS = ["0", "-1", str(2**63), "99999999999999999999999", "abc", "1.5", "+1", " 1"]


# --- helpers ------------------------------------------------------------------------------


def lists_url(user: ApiUser) -> str:
    return f"/api/{user.id}/lists"


def list_url(user: ApiUser, list_id: int | str) -> str:
    return f"{lists_url(user)}/{list_id}"


def task_url(user: ApiUser, task_id: int) -> str:
    return f"{user.tasks_url}/{task_id}"


def instant(value: str) -> datetime:
    """Parse an RFC 3339 time of a response, insisting on UTC with the ``Z`` suffix."""
    assert RFC3339_UTC.fullmatch(value), value
    return datetime.fromisoformat(value)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def provisioning_token(app: FastAPI, user_id: str) -> str:
    """A token as a Better Auth HS256 signer would issue it for ``user_id`` (no
    ``local_account`` claim), so a subject not in the table is provisioned on first use."""
    local, _ = issue_access_token(
        user_id=user_id,
        email=f"{user_id.lower()}@example.com",
        name="New",
        settings=app_resources(app).settings,
    )
    claims = jwt.decode(local, options={"verify_signature": False})
    del claims[LOCAL_ACCOUNT_CLAIM]
    return jwt.encode(claims, app_resources(app).settings.better_auth_secret, algorithm="HS256")


async def all_lists(
    client: httpx.AsyncClient, user_id: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Every list of the user, in the order the API gives them."""
    response = await client.get(f"/api/{user_id}/lists?page_size=100", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "total", "page", "page_size"}
    assert body["total"] == len(body["data"])
    data: list[dict[str, Any]] = body["data"]
    for item in data:
        assert set(item) == LIST_FIELDS, item
    return data


async def lists_of(client: httpx.AsyncClient, user: ApiUser) -> list[dict[str, Any]]:
    return await all_lists(client, user.id, user.headers)


def assert_only_an_inbox(lists: list[dict[str, Any]]) -> dict[str, Any]:
    """``lists`` is exactly one list, an empty inbox named "Inbox"; returns it."""
    assert len(lists) == 1, lists
    inbox = lists[0]
    assert inbox["is_inbox"] is True
    assert inbox["name"] == "Inbox"
    assert (inbox["task_count"], inbox["completed_count"]) == (0, 0)
    assert isinstance(inbox["position"], str) and inbox["position"]
    instant(inbox["created_at"])
    instant(inbox["updated_at"])
    return inbox


async def create_list(client: httpx.AsyncClient, user: ApiUser, name: str) -> dict[str, Any]:
    response = await client.post(lists_url(user), json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def get_list(client: httpx.AsyncClient, user: ApiUser, list_id: int) -> httpx.Response:
    response = await client.get(list_url(user, list_id), headers=user.headers)
    assert response.status_code == 200, response.text
    return response


async def etag_of(client: httpx.AsyncClient, user: ApiUser, list_id: int) -> str:
    etag: str = (await get_list(client, user, list_id)).headers["etag"]
    return etag


async def inbox_of(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    inboxes = [item for item in await lists_of(client, user) if item["is_inbox"]]
    assert len(inboxes) == 1, inboxes
    return inboxes[0]


async def snapshot(client: httpx.AsyncClient, user: ApiUser) -> list[tuple[dict[str, Any], str]]:
    """Every list of the user, in order, each with its ETag."""
    return [
        (item, await etag_of(client, user, item["id"])) for item in await lists_of(client, user)
    ]


def counts(item: dict[str, Any]) -> tuple[int, int]:
    return item["task_count"], item["completed_count"]


async def counts_of(client: httpx.AsyncClient, user: ApiUser, list_id: int) -> tuple[int, int]:
    return counts((await get_list(client, user, list_id)).json()["data"])


async def task_status(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> int:
    return (await client.get(task_url(user, task_id), headers=user.headers)).status_code


async def complete(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> None:
    url = f"{task_url(user, task_id)}/complete"
    response = await client.patch(url, json={"completed": True}, headers=user.headers)
    assert response.status_code == 200, response.text


def ids(lists: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in lists]


# --- the inbox ----------------------------------------------------------------------------


async def test_a_stored_user_has_exactly_one_list_the_inbox(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """A user stored directly has one list: an empty inbox named "Inbox"."""
    user = await make_user()

    assert_only_an_inbox(await lists_of(client, user))


async def test_a_user_who_signs_up_has_exactly_one_list_the_inbox(
    client: httpx.AsyncClient,
) -> None:
    """Signing up makes the user's inbox, and no other list."""
    response = await client.post(SIGNUP, json={"email": "new@example.com", "password": PASSWORD})
    assert response.status_code == 201, response.text
    data = response.json()["data"]

    lists = await all_lists(client, data["user"]["id"], bearer(data["access_token"]))

    assert_only_an_inbox(lists)


async def test_a_user_provisioned_from_a_token_has_exactly_one_list_the_inbox(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The first request of a token whose subject is not stored provisions the user with
    their inbox; a task created without ``list_id`` lands in it."""
    user_id = new_user_id()
    headers = bearer(provisioning_token(app, user_id))

    inbox = assert_only_an_inbox(await all_lists(client, user_id, headers))

    created = await client.post(f"/api/{user_id}/tasks", json={"title": "T"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["list_id"] == inbox["id"]


async def test_ten_simultaneous_first_requests_of_a_new_user_make_one_inbox(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Ten requests of a not yet stored token subject at once (list reads, task and list
    creates, the profile) all succeed, and the user ends up with exactly one inbox,
    which holds the tasks created without ``list_id``."""
    user_id = new_user_id()
    headers = bearer(provisioning_token(app, user_id))
    base = f"/api/{user_id}"

    def request(n: int) -> Awaitable[httpx.Response]:
        match n % 4:
            case 0:
                return client.get(f"{base}/lists", headers=headers)
            case 1:
                return client.post(f"{base}/tasks", json={"title": f"T{n}"}, headers=headers)
            case 2:
                return client.post(f"{base}/lists", json={"name": f"L{n}"}, headers=headers)
            case _:
                return client.get(ME, headers=headers)

    responses = await asyncio.gather(*(request(n) for n in range(10)))

    assert [r.status_code for r in responses] == [
        {0: 200, 1: 201, 2: 201, 3: 200}[n % 4] for n in range(10)
    ], [r.text for r in responses]
    lists = await all_lists(client, user_id, headers)
    inboxes = [item for item in lists if item["is_inbox"]]
    assert len(inboxes) == 1, lists
    assert inboxes[0]["name"] == "Inbox"
    assert sorted(item["name"] for item in lists if not item["is_inbox"]) == ["L2", "L6"]
    task_lists = {r.json()["data"]["list_id"] for n, r in enumerate(responses) if n % 4 == 1}
    assert task_lists == {inboxes[0]["id"]}
    assert inboxes[0]["task_count"] == 3


# --- create -------------------------------------------------------------------------------


async def test_create_is_201_with_location_etag_and_the_new_list(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """POST answers 201 with the list (name stripped, not the inbox, no tasks), its
    ``Location`` and a strong ``ETag``; GET at ``Location`` gives the same list and ETag."""
    response = await client.post(
        lists_url(alice), json={"name": "  Groceries  "}, headers=alice.headers
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"data"}
    created = response.json()["data"]
    assert set(created) == LIST_FIELDS
    assert isinstance(created["id"], int) and created["id"] >= 1
    assert created["name"] == "Groceries"
    assert created["is_inbox"] is False
    assert counts(created) == (0, 0)
    assert instant(created["created_at"]) == instant(created["updated_at"])
    assert response.headers["location"] == f"/api/{alice.id}/lists/{created['id']}"
    assert STRONG_ETAG.fullmatch(response.headers["etag"]), response.headers["etag"]

    fetched = await client.get(response.headers["location"], headers=alice.headers)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == response.json()
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_names_may_repeat_and_keep_inner_tabs_and_100_characters(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Two lists may share a name; a name of exactly 100 characters after stripping and
    one with an inner tab are accepted."""
    first = await create_list(client, alice, "Same")
    second = await create_list(client, alice, "Same")
    longest = await create_list(client, alice, "  " + "n" * 100 + "  ")
    tabbed = await create_list(client, alice, "Work\tHome")

    assert first["id"] != second["id"]
    assert (first["name"], second["name"]) == ("Same", "Same")
    assert longest["name"] == "n" * 100
    assert tabbed["name"] == "Work\tHome"


async def test_new_lists_are_added_last_in_creation_order(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Each new list's position sorts after every earlier one, and ``GET /lists`` gives
    the inbox and then the lists in the order they were created."""
    inbox = await inbox_of(client, alice)
    created = [await create_list(client, alice, f"List {n}") for n in range(6)]

    positions = [inbox["position"], *(item["position"] for item in created)]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert ids(await lists_of(client, alice)) == [inbox["id"], *ids(created)]


async def test_create_validation_is_422_and_creates_nothing(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """A missing, null, empty, blank, too long or control-character name, or an unknown
    field, is 422 naming the field, and no list appears."""
    cases: list[tuple[Any, str]] = [
        ({}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "a\x1bb"}, "name"),
        ({"name": "Ok", "is_inbox": True}, "is_inbox"),
    ]
    for body, field in cases:
        with subtests.test(body=repr(body)[:40]):
            response = await client.post(lists_url(alice), json=body, headers=alice.headers)
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert field in error["field_errors"], error
            assert len(await lists_of(client, alice)) == 1


# --- read and conditional GET ------------------------------------------------------------


async def test_if_none_match_is_304_while_current_and_200_once_stale(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """With the current ETag, GET is 304 with that ETag and no body; after a rename the
    old ETag gets 200 with the new list and a new ETag."""
    created = await create_list(client, alice, "Read me")
    url = list_url(alice, created["id"])
    etag = await etag_of(client, alice, created["id"])

    for header in [etag, "*", f"W/{etag}", f'"nope", {etag}']:
        with subtests.test(if_none_match=header):
            response = await client.get(url, headers={**alice.headers, "If-None-Match": header})
            assert response.status_code == 304
            assert response.content == b""
            assert response.headers["etag"] == etag

    renamed = await client.patch(url, json={"name": "Renamed"}, headers=alice.headers)
    assert renamed.status_code == 200, renamed.text
    for header in [etag, '"never-issued"']:
        with subtests.test(if_none_match=header, stale=True):
            response = await client.get(url, headers={**alice.headers, "If-None-Match": header})
            assert response.status_code == 200
            assert response.json() == renamed.json()
            assert response.headers["etag"] == renamed.headers["etag"] != etag


# --- rename -------------------------------------------------------------------------------


async def test_rename_changes_the_name_the_etag_and_updated_at(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """PATCH ``{"name"}`` answers 200 with the renamed list (stripped), a new ETag and a
    later ``updated_at``; everything else, and GET, agree."""
    created = await create_list(client, alice, "Old")
    before = await get_list(client, alice, created["id"])

    response = await client.patch(
        list_url(alice, created["id"]), json={"name": " New "}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    renamed = response.json()["data"]
    assert renamed["name"] == "New"
    assert STRONG_ETAG.fullmatch(response.headers["etag"])
    assert response.headers["etag"] != before.headers["etag"]
    assert instant(renamed["updated_at"]) > instant(created["updated_at"])
    unchanged = {"id", "is_inbox", "position", "task_count", "completed_count", "created_at"}
    assert {k: renamed[k] for k in unchanged} == {k: created[k] for k in unchanged}
    after = await get_list(client, alice, created["id"])
    assert after.json() == response.json()
    assert after.headers["etag"] == response.headers["etag"]


async def test_the_inbox_can_be_renamed_and_stays_the_inbox(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Renaming the inbox changes its name only: it is still the one inbox."""
    inbox = await inbox_of(client, alice)

    response = await client.patch(
        list_url(alice, inbox["id"]), json={"name": "Capture"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "Capture"
    assert response.json()["data"]["is_inbox"] is True
    assert [item["is_inbox"] for item in await lists_of(client, alice)] == [True]


async def test_a_rename_that_changes_nothing_keeps_etag_and_updated_at(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """The same name (also with surrounding spaces) and an empty body answer 200 with
    the list as it was: same ETag, same ``updated_at``."""
    created = await create_list(client, alice, "Steady")
    before = await get_list(client, alice, created["id"])

    for body in [{"name": "Steady"}, {"name": "  Steady "}, {}]:
        with subtests.test(body=body):
            response = await client.patch(
                list_url(alice, created["id"]), json=body, headers=alice.headers
            )
            assert response.status_code == 200, response.text
            assert response.json() == before.json()
            assert response.headers["etag"] == before.headers["etag"]
            after = await get_list(client, alice, created["id"])
            assert after.json() == before.json()
            assert after.headers["etag"] == before.headers["etag"]


async def test_rename_validation_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """A null, empty, blank, 101-character or control-character name, or an unknown field,
    is 422 ``VALIDATION_ERROR`` naming that field; the list and its ETag stay."""
    created = await create_list(client, alice, "Keep")
    before = await get_list(client, alice, created["id"])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "    "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"name": "bad\x07name"}, "name"),
        ({"name": "Fine", "position": "a0"}, "position"),
        ({"is_inbox": True}, "is_inbox"),
    ]
    for body, field in cases:
        with subtests.test(body=repr(body)[:40]):
            response = await client.patch(
                list_url(alice, created["id"]), json=body, headers=alice.headers
            )
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert field in error["field_errors"], error
            after = await get_list(client, alice, created["id"])
            assert after.json() == before.json()
            assert after.headers["etag"] == before.headers["etag"]


# --- delete -------------------------------------------------------------------------------


async def test_delete_takes_the_list_its_tasks_and_their_subtasks_and_nothing_else(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """DELETE is 204 with no body; the list, its tasks and their subtasks are then 404,
    a second DELETE is 404; the other lists, their tasks and the task totals are
    exactly what remains."""
    inbox = await inbox_of(client, alice)
    doomed = await create_list(client, alice, "Doomed")
    kept = await create_list(client, alice, "Kept")
    parent = await make_task(alice, list_id=doomed["id"], title="Parent")
    child = await make_task(alice, list_id=doomed["id"], parent_id=parent["id"], completed=True)
    loose = await make_task(alice, list_id=doomed["id"], completed=True)
    kept_parent = await make_task(alice, list_id=kept["id"])
    kept_child = await make_task(alice, list_id=kept["id"], parent_id=kept_parent["id"])
    in_inbox = await make_task(alice, completed=True)
    survivors = [kept_parent, kept_child, in_inbox]
    kept_before = await get_list(client, alice, kept["id"])
    inbox_before = await get_list(client, alice, inbox["id"])

    response = await client.delete(list_url(alice, doomed["id"]), headers=alice.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(
        await client.get(list_url(alice, doomed["id"]), headers=alice.headers), 404, "NOT_FOUND"
    )
    assert_error(
        await client.delete(list_url(alice, doomed["id"]), headers=alice.headers),
        404,
        "NOT_FOUND",
    )
    for task in (parent, child, loose):
        assert await task_status(client, alice, task["id"]) == 404
    for task in survivors:
        fetched = await client.get(task_url(alice, task["id"]), headers=alice.headers)
        assert fetched.status_code == 200
        assert fetched.json()["data"] == task
    assert ids(await lists_of(client, alice)) == [inbox["id"], kept["id"]]
    for before in (kept_before, inbox_before):
        after = await get_list(client, alice, before.json()["data"]["id"])
        assert after.json() == before.json()
        assert after.headers["etag"] == before.headers["etag"]
    everything = await client.get(alice.tasks_url, headers=alice.headers)
    assert everything.json()["total"] == 3
    assert {task["id"] for task in everything.json()["data"]} == set(ids(survivors))
    done = await client.get(alice.tasks_url, params={"status": "completed"}, headers=alice.headers)
    assert done.json()["total"] == 1
    pending = await client.get(alice.tasks_url, params={"status": "pending"}, headers=alice.headers)
    assert pending.json()["total"] == 2


async def test_the_inbox_cannot_be_deleted(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    """DELETE of the inbox is 409 ``CONFLICT`` with or without a current ``If-Match``; the
    inbox and its tasks are still there, unchanged."""
    inbox = await inbox_of(client, alice)
    task = await make_task(alice)
    before = await get_list(client, alice, inbox["id"])

    for headers in [{}, {"If-Match": before.headers["etag"]}, {"If-Match": "*"}]:
        with subtests.test(headers=headers):
            response = await client.delete(
                list_url(alice, inbox["id"]), headers={**alice.headers, **headers}
            )
            assert_error(response, 409, "CONFLICT")
            after = await get_list(client, alice, inbox["id"])
            assert after.json() == before.json()
            assert after.headers["etag"] == before.headers["etag"]
            assert await task_status(client, alice, task["id"]) == 200


# --- If-Match -----------------------------------------------------------------------------

Write = Callable[[httpx.AsyncClient, ApiUser, int, dict[str, str]], Awaitable[httpx.Response]]


async def _rename(
    client: httpx.AsyncClient, user: ApiUser, list_id: int, headers: dict[str, str]
) -> httpx.Response:
    return await client.patch(
        list_url(user, list_id), json={"name": "Renamed"}, headers={**user.headers, **headers}
    )


async def _delete(
    client: httpx.AsyncClient, user: ApiUser, list_id: int, headers: dict[str, str]
) -> httpx.Response:
    return await client.delete(list_url(user, list_id), headers={**user.headers, **headers})


async def _move_first(
    client: httpx.AsyncClient, user: ApiUser, list_id: int, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"{list_url(user, list_id)}/move",
        json={"after_id": None},
        headers={**user.headers, **headers},
    )


WRITES: list[tuple[str, Write, int]] = [
    ("rename", _rename, 200),
    ("move", _move_first, 200),
    ("delete", _delete, 204),
]


async def test_a_stale_if_match_is_412_and_a_current_or_star_one_goes_ahead(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """Rename, move and delete with an ``If-Match`` from before a rename are 412
    ``PRECONDITION_FAILED`` and change no list; with the current ETag, or ``*``, they
    succeed."""
    for name, write, success in WRITES:
        for current in ("etag", "*"):
            with subtests.test(write=name, if_match=current):
                target = await create_list(client, alice, "Target")
                stale = await etag_of(client, alice, target["id"])
                bumped = await client.patch(
                    list_url(alice, target["id"]), json={"name": "Bumped"}, headers=alice.headers
                )
                assert bumped.status_code == 200
                before = await snapshot(client, alice)

                refused = await write(client, alice, target["id"], {"If-Match": stale})

                assert_error(refused, 412, "PRECONDITION_FAILED")
                assert await snapshot(client, alice) == before

                if_match = bumped.headers["etag"] if current == "etag" else "*"
                accepted = await write(client, alice, target["id"], {"If-Match": if_match})
                assert accepted.status_code == success, accepted.text
                if success == 204:
                    assert target["id"] not in ids(await lists_of(client, alice))
                else:
                    fetched = await get_list(client, alice, target["id"])
                    assert fetched.json() == accepted.json()
                    assert fetched.headers["etag"] == accepted.headers["etag"]
                    assert accepted.headers["etag"] != bumped.headers["etag"]


async def test_adding_or_completing_a_task_makes_an_earlier_etag_stale(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    """The list's ETag changes when a task is added to it and again when one is
    completed; writes with an ETag from before either are 412 and change nothing."""
    target = await create_list(client, alice, "Counted")
    empty = await etag_of(client, alice, target["id"])
    task = await make_task(alice, list_id=target["id"])
    with_task = await etag_of(client, alice, target["id"])
    await complete(client, alice, task["id"])
    completed = await etag_of(client, alice, target["id"])

    assert len({empty, with_task, completed}) == 3
    for stale in (empty, with_task):
        for name, write, _ in WRITES:
            with subtests.test(write=name, stale=stale):
                before = await snapshot(client, alice)
                response = await write(client, alice, target["id"], {"If-Match": stale})
                assert_error(response, 412, "PRECONDITION_FAILED")
                assert await snapshot(client, alice) == before

    renamed = await _rename(client, alice, target["id"], {"If-Match": completed})
    assert renamed.status_code == 200, renamed.text


async def test_a_weak_or_foreign_if_match_is_412(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """``If-Match`` uses the strong comparison: the weak form of the current ETag, an
    ETag of another list and a made-up one are 412 for rename, move and delete; a list
    of tags that includes the current one goes ahead."""
    target = await create_list(client, alice, "Target")
    neighbour = await create_list(client, alice, "Neighbour")
    etag = await etag_of(client, alice, target["id"])
    foreign = await etag_of(client, alice, neighbour["id"])

    for header in [f"W/{etag}", foreign, '"nope"', '""']:
        for name, write, _ in WRITES:
            with subtests.test(write=name, if_match=header):
                before = await snapshot(client, alice)
                response = await write(client, alice, target["id"], {"If-Match": header})
                assert_error(response, 412, "PRECONDITION_FAILED")
                assert await snapshot(client, alice) == before

    renamed = await _rename(client, alice, target["id"], {"If-Match": f'"nope", {etag}'})
    assert renamed.status_code == 200, renamed.text


# --- counts -------------------------------------------------------------------------------


async def test_counts_count_the_lists_tasks_subtasks_included(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``task_count`` and ``completed_count`` count every task of the list, subtasks
    included, in GET of the list and in the collection; other lists count their own."""
    inbox = await inbox_of(client, alice)
    target = await create_list(client, alice, "Counted")
    first = await make_task(alice, list_id=target["id"])
    second = await make_task(alice, list_id=target["id"], completed=True)
    await make_task(alice, list_id=target["id"], parent_id=first["id"], completed=True)
    await make_task(alice, list_id=target["id"], parent_id=first["id"])
    await make_task(alice, list_id=target["id"], parent_id=second["id"])
    await make_task(alice)

    assert await counts_of(client, alice, target["id"]) == (5, 2)
    listed = {item["id"]: counts(item) for item in await lists_of(client, alice)}
    assert listed == {inbox["id"]: (1, 0), target["id"]: (5, 2)}


async def test_counts_are_exact_after_concurrent_creates_and_completions(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """Thirty task creates in two lists at once (some completed, some subtasks), then
    completions, reopenings and more creates at once: each list's counts equal its
    tasks, and agree with the task listing filtered by list."""
    first = await create_list(client, alice, "First")
    second = await create_list(client, alice, "Second")
    parents = {
        first["id"]: await make_task(alice, list_id=first["id"], title="P1"),
        second["id"]: await make_task(alice, list_id=second["id"], title="P2"),
    }

    def create(n: int) -> Awaitable[dict[str, Any]]:
        list_id = (first, second)[n % 2]["id"]
        fields: dict[str, Any] = {"list_id": list_id, "title": f"T{n}", "completed": n % 3 == 0}
        if n % 5 == 0:
            fields["parent_id"] = parents[list_id]["id"]
        return make_task(alice, **fields)

    created = await asyncio.gather(*(create(n) for n in range(30)))

    async def set_completed(task: dict[str, Any], value: bool) -> dict[str, Any]:
        url = f"{task_url(alice, task['id'])}/complete"
        response = await client.patch(url, json={"completed": value}, headers=alice.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    second_round = await asyncio.gather(
        *(set_completed(task, n % 4 != 0) for n, task in enumerate(created)),
        *(create(n) for n in range(30, 40)),
        set_completed(parents[first["id"]], True),
    )

    final: dict[int, dict[str, Any]] = {task["id"]: task for task in parents.values()}
    final.update({task["id"]: task for task in second_round})
    for item in (first, second):
        mine = [task for task in final.values() if task["list_id"] == item["id"]]
        expected = (len(mine), sum(task["completed"] for task in mine))
        assert await counts_of(client, alice, item["id"]) == expected
        listed = await client.get(
            alice.tasks_url, params={"list_id": item["id"]}, headers=alice.headers
        )
        assert listed.json()["total"] == expected[0]
    totals = [await counts_of(client, alice, item["id"]) for item in (first, second)]
    assert sum(total for total, _ in totals) == len(final) == 42


async def test_counts_follow_deletes_and_moves_between_lists(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """Deleting a task with subtasks takes them all off the count; moving a task with a
    completed subtask to another list moves both counts with it, and the subtask's
    ``list_id`` follows."""
    source = await create_list(client, alice, "Source")
    target = await create_list(client, alice, "Target")
    moving = await make_task(alice, list_id=source["id"], title="Moving")
    moving_child = await make_task(
        alice, list_id=source["id"], parent_id=moving["id"], completed=True
    )
    doomed = await make_task(alice, list_id=source["id"], title="Doomed", completed=True)
    await make_task(alice, list_id=source["id"], parent_id=doomed["id"])
    await make_task(alice, list_id=source["id"], parent_id=doomed["id"], completed=True)
    await make_task(alice, list_id=target["id"], completed=True)
    assert await counts_of(client, alice, source["id"]) == (5, 3)
    assert await counts_of(client, alice, target["id"]) == (1, 1)

    deleted = await client.delete(task_url(alice, doomed["id"]), headers=alice.headers)
    assert deleted.status_code == 204
    assert await counts_of(client, alice, source["id"]) == (2, 1)
    assert await counts_of(client, alice, target["id"]) == (1, 1)

    source_etag = await etag_of(client, alice, source["id"])
    target_etag = await etag_of(client, alice, target["id"])
    moved = await client.post(
        f"{task_url(alice, moving['id'])}/move",
        json={"list_id": target["id"]},
        headers=alice.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["list_id"] == target["id"]
    assert await counts_of(client, alice, source["id"]) == (0, 0)
    assert await counts_of(client, alice, target["id"]) == (3, 2)
    child = await client.get(task_url(alice, moving_child["id"]), headers=alice.headers)
    assert child.json()["data"]["list_id"] == target["id"]
    assert await etag_of(client, alice, source["id"]) != source_etag
    assert await etag_of(client, alice, target["id"]) != target_etag


# --- moves --------------------------------------------------------------------------------


async def _move(
    client: httpx.AsyncClient, user: ApiUser, list_id: int, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"{list_url(user, list_id)}/move", json=body, headers=user.headers)


async def test_move_after_a_list_puts_it_right_after(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """``{"after_id": A}`` puts the list right after A, between A and A's old
    follower, in GET /lists and in the positions."""
    inbox = await inbox_of(client, alice)
    a, b, c = [await create_list(client, alice, name) for name in "ABC"]

    response = await _move(client, alice, c["id"], {"after_id": a["id"]})

    assert response.status_code == 200, response.text
    moved = response.json()["data"]
    assert moved["id"] == c["id"]
    assert a["position"] < moved["position"] < b["position"]
    lists = await lists_of(client, alice)
    assert ids(lists) == [inbox["id"], a["id"], c["id"], b["id"]]
    assert lists[2] == moved
    assert STRONG_ETAG.fullmatch(response.headers["etag"])
    assert response.headers["etag"] == await etag_of(client, alice, c["id"])


async def test_move_with_null_after_id_puts_it_first_and_without_after_id_last(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """``{"after_id": null}`` puts the list before all others (the inbox included);
    ``{}`` puts it after all others."""
    inbox = await inbox_of(client, alice)
    a, b, c = [await create_list(client, alice, name) for name in "ABC"]

    first = await _move(client, alice, b["id"], {"after_id": None})
    assert first.status_code == 200, first.text
    assert ids(await lists_of(client, alice)) == [b["id"], inbox["id"], a["id"], c["id"]]

    last = await _move(client, alice, a["id"], {})
    assert last.status_code == 200, last.text
    assert ids(await lists_of(client, alice)) == [b["id"], inbox["id"], c["id"], a["id"]]

    inbox_last = await _move(client, alice, inbox["id"], {})
    assert inbox_last.status_code == 200, inbox_last.text
    assert ids(await lists_of(client, alice)) == [b["id"], c["id"], a["id"], inbox["id"]]


async def test_a_move_after_itself_or_a_list_that_is_not_hers_is_422(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, subtests: pytest.Subtests
) -> None:
    """``after_id`` the list itself, one of bob's lists, or an id no list has is 422
    ``field_errors.after_id``; no list of alice's or bob's changes."""
    a, b = await create_list(client, alice, "A"), await create_list(client, alice, "B")
    bobs = await create_list(client, bob, "Bob's")
    nowhere = max(a["id"], b["id"], bobs["id"]) + 1000
    alice_before = await snapshot(client, alice)
    bob_before = await snapshot(client, bob)

    for label, after_id in [("itself", a["id"]), ("bob's", bobs["id"]), ("none", nowhere)]:
        with subtests.test(after=label):
            response = await _move(client, alice, a["id"], {"after_id": after_id})
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert set(error["field_errors"]) == {"after_id"}, error
            assert await snapshot(client, alice) == alice_before
            assert await snapshot(client, bob) == bob_before


async def test_twenty_moves_into_the_same_gap_keep_order_and_short_positions(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Two lists moved in turn, twenty times, right after the same list (always into the
    gap between it and the list moved before): each time the order is right, and no
    position grows to 30 characters."""
    inbox = await inbox_of(client, alice)
    anchor, x, y, tail = [await create_list(client, alice, n) for n in ("A", "X", "Y", "Z")]

    for n in range(20):
        moved, other = (x, y) if n % 2 == 0 else (y, x)
        response = await _move(client, alice, moved["id"], {"after_id": anchor["id"]})
        assert response.status_code == 200, response.text
        lists = await lists_of(client, alice)
        assert ids(lists) == [inbox["id"], anchor["id"], moved["id"], other["id"], tail["id"]]
        assert all(len(item["position"]) < 30 for item in lists), lists
        positions = [item["position"] for item in lists]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)


async def test_moves_back_and_forth_between_two_neighbours_keep_order_and_short_positions(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """One list moved twenty times alternately right after two neighbouring lists
    (first and last place between them and the next): order right each time, positions
    short."""
    inbox = await inbox_of(client, alice)
    a, b, moving, c = [await create_list(client, alice, n) for n in ("A", "B", "M", "C")]

    for n in range(20):
        after = (a, b)[n % 2]
        response = await _move(client, alice, moving["id"], {"after_id": after["id"]})
        assert response.status_code == 200, response.text
        expected = [inbox, a, moving, b, c] if after is a else [inbox, a, b, moving, c]
        lists = await lists_of(client, alice)
        assert ids(lists) == ids(expected)
        assert all(len(item["position"]) < 30 for item in lists), lists


async def test_a_move_changes_only_the_moved_list(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """After a move (after a list, first, last) every other list keeps its position,
    ``updated_at`` and ETag; the moved one gets a new ETag and a later ``updated_at``."""
    created = [await create_list(client, alice, f"L{n}") for n in range(4)]
    for label, body in [
        ("after", {"after_id": created[0]["id"]}),
        ("first", {"after_id": None}),
        ("last", {}),
    ]:
        with subtests.test(move=label):
            moved_id = created[2]["id"]
            before = {item["id"]: (item, etag) for item, etag in await snapshot(client, alice)}

            response = await _move(client, alice, moved_id, body)

            assert response.status_code == 200, response.text
            after = {item["id"]: (item, etag) for item, etag in await snapshot(client, alice)}
            assert set(after) == set(before)
            for list_id, (item, etag) in after.items():
                if list_id == moved_id:
                    assert etag != before[list_id][1]
                    assert instant(item["updated_at"]) > instant(before[list_id][0]["updated_at"])
                else:
                    assert (item, etag) == before[list_id]


async def test_simultaneous_moves_into_one_gap_each_land_right_after_where_asked(
    client: httpx.AsyncClient,
    alice: ApiUser,
) -> None:
    """Eight lists moved at once right after the same list, in three rounds, all answer
    200 and end with distinct positions; afterwards a move right after each of them
    puts the moved list right after that one."""
    anchor = await create_list(client, alice, "Anchor")
    movers = [await create_list(client, alice, f"M{n}") for n in range(8)]
    await create_list(client, alice, "Tail")
    probe = await create_list(client, alice, "Probe")

    for _ in range(3):
        responses = await asyncio.gather(
            *(_move(client, alice, m["id"], {"after_id": anchor["id"]}) for m in movers)
        )
        assert [r.status_code for r in responses] == [200] * len(movers)

    for mover in movers:
        moved = await _move(client, alice, probe["id"], {"after_id": mover["id"]})
        assert moved.status_code == 200, moved.text
        lists = await lists_of(client, alice)
        order = ids(lists)
        assert order[order.index(mover["id"]) + 1] == probe["id"], lists
    positions = [item["position"] for item in await lists_of(client, alice)]
    assert len(set(positions)) == len(positions), positions


async def test_writes_racing_a_lists_delete_leave_no_task_in_it_and_no_5xx(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
) -> None:
    """Five times: task creates into a list, a task move into it and list moves after
    it, all at once with the list's delete. The delete is 204; every other write either
    succeeds or is 422 (never 5xx); afterwards every task that reached the list is gone
    with it, and a task whose move was refused is still where it was."""
    other = await create_list(client, alice, "Other")
    for _ in range(5):
        await _race_a_delete(client, alice, make_task, other)


async def _race_a_delete(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, other: dict[str, Any]
) -> None:
    doomed = await create_list(client, alice, "Doomed")
    outside = await make_task(alice, list_id=other["id"])
    task_move = f"{task_url(alice, outside['id'])}/move"
    counted_before = await counts_of(client, alice, other["id"])

    responses = await asyncio.gather(
        client.delete(list_url(alice, doomed["id"]), headers=alice.headers),
        *(
            client.post(
                alice.tasks_url,
                json={"title": f"Racing {n}", "list_id": doomed["id"]},
                headers=alice.headers,
            )
            for n in range(8)
        ),
        client.post(task_move, json={"list_id": doomed["id"]}, headers=alice.headers),
        *(_move(client, alice, other["id"], {"after_id": doomed["id"]}) for _ in range(3)),
    )

    delete, creates, moved, list_moves = responses[0], responses[1:9], responses[9], responses[10:]
    assert delete.status_code == 204, delete.text
    for response in [*creates, moved, *list_moves]:
        assert response.status_code in (200, 201, 422), response.text
    for response in creates:
        if response.status_code == 201:
            assert await task_status(client, alice, response.json()["data"]["id"]) == 404
        else:
            assert "list_id" in response.json()["field_errors"]
    if moved.status_code == 200:
        assert await task_status(client, alice, outside["id"]) == 404
        assert await counts_of(client, alice, other["id"]) == (counted_before[0] - 1, 0)
    else:
        assert await task_status(client, alice, outside["id"]) == 200
        assert await counts_of(client, alice, other["id"]) == counted_before
    assert doomed["id"] not in ids(await lists_of(client, alice))


# --- ownership ----------------------------------------------------------------------------

Call = tuple[str, str, Any]
"""Method, path under the list's URL (``""`` or ``"/move"``), JSON body."""

LIST_CALLS: list[Call] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "Intruder"}),
    ("DELETE", "", None),
    ("POST", "/move", {"after_id": None}),
]


async def test_another_users_list_in_ones_own_path_is_404_and_untouched(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, subtests: pytest.Subtests
) -> None:
    """Bob's lists (his inbox too) under alice's path are 404 ``NOT_FOUND`` for GET,
    PATCH, DELETE and move, with or without ``If-Match *``; bob's lists stay as they
    were."""
    await create_list(client, alice, "Alice's")
    bobs = await create_list(client, bob, "Bob's")
    bob_inbox = await inbox_of(client, bob)
    bob_before = await snapshot(client, bob)
    alice_before = await snapshot(client, alice)

    for target in (bobs, bob_inbox):
        for method, suffix, body in LIST_CALLS:
            for extra in ({}, {"If-Match": "*"}):
                with subtests.test(method=method, path=suffix, inbox=target["is_inbox"], **extra):
                    response = await client.request(
                        method,
                        list_url(alice, target["id"]) + suffix,
                        json=body,
                        headers={**alice.headers, **extra},
                    )
                    assert_error(response, 404, "NOT_FOUND")
    assert await snapshot(client, bob) == bob_before
    assert await snapshot(client, alice) == alice_before


async def test_anothers_path_is_403_and_changes_nothing(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, subtests: pytest.Subtests
) -> None:
    """Alice's token on bob's path is 403 ``FORBIDDEN`` for every list route, for bob's
    lists and for ids that do not exist alike; bob's lists stay as they were."""
    bobs = await create_list(client, bob, "Bob's")
    bob_before = await snapshot(client, bob)
    calls: list[tuple[str, str, Any]] = [
        ("GET", lists_url(bob), None),
        ("POST", lists_url(bob), {"name": "Intruder"}),
    ]
    for list_id in (bobs["id"], 99_999_999):
        calls += [(m, list_url(bob, list_id) + s, b) for m, s, b in LIST_CALLS]

    for method, url, body in calls:
        with subtests.test(method=method, url=url):
            response = await client.request(method, url, json=body, headers=alice.headers)
            assert_error(response, 403, "FORBIDDEN")
    assert await snapshot(client, bob) == bob_before


async def test_no_or_a_bad_token_is_401_with_www_authenticate(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """Without a token, or with a garbled one, every list route is 401 ``UNAUTHORIZED``
    with ``WWW-Authenticate: Bearer``, and nothing changes."""
    target = await create_list(client, alice, "Mine")
    before = await snapshot(client, alice)
    calls: list[tuple[str, str, Any]] = [
        ("GET", lists_url(alice), None),
        ("POST", lists_url(alice), {"name": "Anon"}),
        *((m, list_url(alice, target["id"]) + s, b) for m, s, b in LIST_CALLS),
    ]
    for auth in ({}, {"Authorization": "Bearer not.a.token"}, {"Authorization": "Basic eDp5"}):
        for method, url, body in calls:
            with subtests.test(method=method, url=url, auth=bool(auth)):
                response = await client.request(method, url, json=body, headers=auth)
                assert_error(response, 401, "UNAUTHORIZED")
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(client, alice) == before


async def test_checks_come_in_order_authentication_owner_then_the_rest(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, subtests: pytest.Subtests
) -> None:
    """A bad token with a bad body or id is 401; alice on bob's path with a bad body, a
    hostile id, a stale ``If-Match`` or a list that does not exist is 403."""
    bobs = await create_list(client, bob, "Bob's")
    stale = {"If-Match": '"0.0.0.0"'}
    bad_body: list[tuple[str, str, Any, dict[str, str]]] = [
        ("POST", lists_url(bob), {"name": ""}, {}),
        ("POST", lists_url(bob), {"nope": 1}, {}),
        ("PATCH", list_url(bob, bobs["id"]), {"name": None}, {}),
        ("PATCH", list_url(bob, "abc"), {"name": "x"}, {}),
        ("DELETE", list_url(bob, "0"), None, {}),
        ("POST", list_url(bob, bobs["id"]) + "/move", {"after_id": "x"}, {}),
        ("POST", list_url(bob, bobs["id"]) + "/move", {"after_id": bobs["id"]}, {}),
        ("PATCH", list_url(bob, bobs["id"]), {"name": "x"}, stale),
        ("GET", list_url(bob, 99_999_999), None, {}),
        ("GET", lists_url(bob) + "?page=0", None, {}),
    ]
    for method, url, body, extra in bad_body:
        with subtests.test(method=method, url=url, body=body, who="no token"):
            response = await client.request(method, url, json=body, headers=extra)
            assert_error(response, 401, "UNAUTHORIZED")
        with subtests.test(method=method, url=url, body=body, who="alice"):
            response = await client.request(
                method, url, json=body, headers={**alice.headers, **extra}
            )
            assert_error(response, 403, "FORBIDDEN")


# --- hostile input ------------------------------------------------------------------------


async def test_hostile_list_ids_in_the_path_are_422(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """Ids that are not a positive 64-bit integer in plain digits are 422 naming
    ``list_id`` on every list route, never a 5xx; no list changes."""
    await create_list(client, alice, "Mine")
    before = await snapshot(client, alice)

    for raw in HOSTILE_PATH_IDS:
        for method, suffix, body in LIST_CALLS:
            with subtests.test(list_id=raw, method=method, path=suffix):
                response = await client.request(
                    method, list_url(alice, raw) + suffix, json=body, headers=alice.headers
                )
                error = assert_error(response, 422, "VALIDATION_ERROR")
                assert "list_id" in error["field_errors"], error
    assert await snapshot(client, alice) == before


async def test_hostile_after_ids_in_the_body_are_422(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """An ``after_id`` that is not a positive 64-bit JSON integer (a fraction, an
    object, an array, a word, 2**64, 2**63, 0, -1) is 422 ``field_errors.after_id``,
    and no list moves."""
    target = await create_list(client, alice, "Target")
    before = await snapshot(client, alice)

    for after_id in [1.5, {}, [], "abc", 2**64, 2**63, 0, -1]:
        with subtests.test(after_id=after_id):
            response = await _move(client, alice, target["id"], {"after_id": after_id})
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert set(error["field_errors"]) == {"after_id"}, error
            assert await snapshot(client, alice) == before


async def test_an_after_id_written_as_a_string_of_digits_is_422(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """``{"after_id": "<id>"}``, the id of another of alice's lists as a JSON string, is
    422 ``field_errors.after_id``, not a move after that list."""
    other = await create_list(client, alice, "Other")
    target = await create_list(client, alice, "Target")
    before = await snapshot(client, alice)

    response = await _move(client, alice, target["id"], {"after_id": str(other["id"])})

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {"after_id"}
    assert await snapshot(client, alice) == before


async def test_an_after_id_of_true_is_refused_as_not_an_integer(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """``{"after_id": true}`` is 422 ``field_errors.after_id`` for not being an integer:
    not a move after list 1, nor the answer a missing list gets."""
    target = await create_list(client, alice, "Target")
    missing = await _move(client, alice, target["id"], {"after_id": target["id"] + 10_000})
    not_found = assert_error(missing, 422, "VALIDATION_ERROR")["field_errors"]["after_id"]
    before = await snapshot(client, alice)

    response = await _move(client, alice, target["id"], {"after_id": True})

    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert set(error["field_errors"]) == {"after_id"}
    assert error["field_errors"]["after_id"] != not_found
    assert await snapshot(client, alice) == before


async def test_a_body_that_is_not_json_is_422_body_and_another_media_type_415(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """On create, rename and move, a JSON-typed body that does not parse is 422
    ``field_errors.body``; a body of another content type is 415
    ``UNSUPPORTED_MEDIA_TYPE``; no list changes."""
    target = await create_list(client, alice, "Target")
    before = await snapshot(client, alice)
    routes = [
        ("POST", lists_url(alice)),
        ("PATCH", list_url(alice, target["id"])),
        ("POST", list_url(alice, target["id"]) + "/move"),
    ]

    for method, url in routes:
        for content in (b'{"name": "x"', b"name=x", b"\xff\xfe"):
            with subtests.test(method=method, url=url, content=content, type="json"):
                response = await client.request(
                    method,
                    url,
                    content=content,
                    headers={**alice.headers, "Content-Type": "application/json"},
                )
                error = assert_error(response, 422, "VALIDATION_ERROR")
                assert "body" in error["field_errors"], error
        for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            with subtests.test(method=method, url=url, type=media_type):
                response = await client.request(
                    method,
                    url,
                    content=b'{"name": "x"}',
                    headers={**alice.headers, "Content-Type": media_type},
                )
                assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await snapshot(client, alice) == before


# --- pages --------------------------------------------------------------------------------


async def test_pages_of_lists(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """``page_size=1&page=2`` is the second list; a page past the end is 200 with no
    data and the true total; ``page=0`` and other bad page values are 422."""
    inbox = await inbox_of(client, alice)
    created = [await create_list(client, alice, f"L{n}") for n in range(3)]
    url = lists_url(alice)

    second = await client.get(url, params={"page_size": 1, "page": 2}, headers=alice.headers)
    assert second.status_code == 200, second.text
    assert second.json() == {"data": [created[0]], "total": 4, "page": 2, "page_size": 1}

    for page, size in [(5, 1), (2, 4), (3, 20), (2**62, 100)]:
        with subtests.test(page=page, page_size=size):
            past = await client.get(
                url, params={"page": page, "page_size": size}, headers=alice.headers
            )
            assert past.status_code == 200, past.text
            assert past.json() == {"data": [], "total": 4, "page": page, "page_size": size}

    whole = await client.get(url, headers=alice.headers)
    assert whole.json()["page"] == 1 and whole.json()["page_size"] == 20
    assert ids(whole.json()["data"]) == [inbox["id"], *ids(created)]

    for params in [
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page_size": "0"},
        {"page_size": "101"},
    ]:
        with subtests.test(params=params):
            response = await client.get(url, params=params, headers=alice.headers)
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert set(error["field_errors"]) == set(params), error
