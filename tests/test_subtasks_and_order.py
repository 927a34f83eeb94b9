"""Lists, subtasks and manual order, end to end through the HTTP API (api.md "Tasks",
"Listing", "Lists", "Subtasks and manual order", "Details that clients rely on").

Where a task goes when it is created; ``POST .../move`` to a place among its
siblings, under a parent, to the top level or to another list, with every
refusal the contract names (422 on the field, 412, 404, 401 before 403); that
a move writes the moved task alone and that positions never run out; what
deleting and completing a parent does to its subtasks; PATCH and PUT that
name a place; the list, parent and repeated-tag filters and the title and
position sorts; hostile id values in bodies; and, on PostgreSQL, concurrent
moves that must not nest tasks two levels deep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests import helpers
from tests.helpers import ApiUser, assert_error, list_tasks

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

MAX_INT64 = 2**63 - 1
MISSING_ID = MAX_INT64
"""A task or list id that no test creates."""


# --- helpers ------------------------------------------------------------------------------


def lists_url(user: ApiUser) -> str:
    return f"/api/{user.id}/lists"


def task_url(user: ApiUser, task_id: int | str) -> str:
    return f"{user.tasks_url}/{task_id}"


async def create_list(client: httpx.AsyncClient, user: ApiUser, name: str) -> int:
    response = await client.post(lists_url(user), json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    list_id: int = response.json()["data"]["id"]
    return list_id


async def get_list(client: httpx.AsyncClient, user: ApiUser, list_id: int) -> dict[str, Any]:
    response = await client.get(f"{lists_url(user)}/{list_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def inbox_id(client: httpx.AsyncClient, user: ApiUser) -> int:
    response = await client.get(lists_url(user), headers=user.headers)
    assert response.status_code == 200, response.text
    inboxes = [item["id"] for item in response.json()["data"] if item["is_inbox"]]
    assert len(inboxes) == 1, response.text
    return int(inboxes[0])


async def fetch(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> httpx.Response:
    response = await client.get(task_url(user, task_id), headers=user.headers)
    assert response.status_code == 200, response.text
    return response


async def task(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> dict[str, Any]:
    data: dict[str, Any] = (await fetch(client, user, task_id)).json()["data"]
    return data


async def etag(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> str:
    return (await fetch(client, user, task_id)).headers["etag"]


async def move(
    client: httpx.AsyncClient,
    user: ApiUser,
    task_id: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"{task_url(user, task_id)}/move", json=body, headers={**user.headers, **(headers or {})}
    )


async def moved(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    """Move the task and return its ``data``, insisting on 200."""
    response = await move(client, user, task_id, body)
    assert response.status_code == 200, f"{body}: {response.text}"
    data: dict[str, Any] = response.json()["data"]
    return data


async def listed_ids(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> list[int]:
    """The ids of one page (of up to 100), checking that ``total`` counts exactly them."""
    return await helpers.listed_ids(client, user, **{"page_size": 100, **params})


async def in_order(
    client: httpx.AsyncClient, user: ApiUser, list_id: int, parent: int | str = "none"
) -> list[int]:
    """The manual order of the tasks of ``list_id`` under ``parent`` (``none``: top level)."""
    return await listed_ids(
        client, user, list_id=list_id, parent_id=parent, sort="position", order="asc"
    )


async def total(client: httpx.AsyncClient, user: ApiUser) -> int:
    count: int = (await list_tasks(client, user))["total"]
    return count


def assert_field_error(response: httpx.Response, field: str) -> None:
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert field in body.get("field_errors", {}), body


# --- create -------------------------------------------------------------------------------


async def test_create_without_list_goes_to_the_inbox_and_with_list_id_to_that_list(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A task created without ``list_id`` is top level in the inbox; with ``list_id`` it is
    in that list; each listing by list shows exactly its own tasks."""
    inbox = await inbox_id(client, alice)
    groceries = await create_list(client, alice, "Groceries")

    loose = await make_task(alice, title="Loose")
    milk = await make_task(alice, title="Milk", list_id=groceries)

    assert (loose["list_id"], loose["parent_id"]) == (inbox, None)
    assert (milk["list_id"], milk["parent_id"]) == (groceries, None)
    assert (await task(client, alice, milk["id"]))["list_id"] == groceries
    assert await listed_ids(client, alice, list_id=inbox) == [loose["id"]]
    assert await listed_ids(client, alice, list_id=groceries) == [milk["id"]]


async def test_create_with_parent_makes_a_subtask_in_the_parents_list(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``parent_id`` alone makes a subtask in the parent's list (not the inbox); with the
    parent's own ``list_id`` too it is the same."""
    groceries = await create_list(client, alice, "Groceries")
    parent = await make_task(alice, title="Shop", list_id=groceries)

    child = await make_task(alice, title="Milk", parent_id=parent["id"])
    explicit = await make_task(alice, title="Eggs", parent_id=parent["id"], list_id=groceries)

    for sub in (child, explicit):
        assert (sub["list_id"], sub["parent_id"]) == (groceries, parent["id"])
        assert (await task(client, alice, sub["id"]))["parent_id"] == parent["id"]
    assert await in_order(client, alice, groceries, parent["id"]) == [child["id"], explicit["id"]]
    assert await in_order(client, alice, groceries) == [parent["id"]]


async def test_create_with_parent_in_another_list_than_list_id_is_422_parent_id(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``parent_id`` with a ``list_id`` that is not the parent's list is 422 on ``parent_id``;
    nothing is created."""
    groceries = await create_list(client, alice, "Groceries")
    work = await create_list(client, alice, "Work")
    parent = await make_task(alice, title="Shop", list_id=groceries)

    response = await client.post(
        alice.tasks_url,
        json={"title": "Milk", "parent_id": parent["id"], "list_id": work},
        headers=alice.headers,
    )

    assert_field_error(response, "parent_id")
    assert await total(client, alice) == 1


async def test_create_under_a_subtask_is_422_parent_id(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A subtask cannot be a parent: creating under it is 422 on ``parent_id``, with or
    without its ``list_id``; nothing is created."""
    parent = await make_task(alice, title="Parent")
    child = await make_task(alice, title="Child", parent_id=parent["id"])

    for body in (
        {"title": "Grandchild", "parent_id": child["id"]},
        {"title": "Grandchild", "parent_id": child["id"], "list_id": child["list_id"]},
    ):
        response = await client.post(alice.tasks_url, json=body, headers=alice.headers)
        assert_field_error(response, "parent_id")
    assert await total(client, alice) == 2


async def test_create_in_another_users_list_or_under_their_task_is_422_and_creates_nothing(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    """Bob's list id is 422 on ``list_id`` and bob's task id 422 on ``parent_id`` in alice's
    create, as are a list and a parent that do not exist; neither alice's nor bob's task
    count changes, and the refused tasks' tag is not in alice's tag picker."""
    await make_task(alice, title="Alice's")
    bobs_list = await create_list(client, bob, "Bob's")
    bobs_task = await make_task(bob, title="Bob's", list_id=bobs_list)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"list_id": bobs_list}, "list_id"),
        ({"list_id": await inbox_id(client, bob)}, "list_id"),
        ({"parent_id": bobs_task["id"]}, "parent_id"),
        ({"parent_id": bobs_task["id"], "list_id": bobs_list}, "list_id"),
        ({"list_id": MISSING_ID}, "list_id"),
        ({"parent_id": MISSING_ID}, "parent_id"),
    ]
    for fields, field in cases:
        with subtests.test(fields=fields):
            response = await client.post(
                alice.tasks_url,
                json={"title": "Sneaky", "tags": ["sneaky"], **fields},
                headers=alice.headers,
            )
            assert_field_error(response, field)
    assert await total(client, alice) == 1
    assert await total(client, bob) == 1
    tags = await client.get(f"/api/{alice.id}/tags", headers=alice.headers)
    assert tags.status_code == 200, tags.text
    assert tags.json()["data"] == []
    assert (await task(client, bob, bobs_task["id"]))["title"] == "Bob's"


async def test_new_tasks_go_last_among_their_siblings_also_after_moves(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``sort=position&order=asc`` lists a group's tasks in creation order, and a new task
    is listed last after others were moved to the front and to the end; the same for
    subtasks, whose order is their own."""
    work = await create_list(client, alice, "Work")
    a, b, c = [(await make_task(alice, title=name, list_id=work))["id"] for name in "ABC"]
    assert await in_order(client, alice, work) == [a, b, c]

    await moved(client, alice, c, {"after_id": None})
    await moved(client, alice, a, {})
    assert await in_order(client, alice, work) == [c, b, a]
    d = (await make_task(alice, title="D", list_id=work))["id"]
    assert await in_order(client, alice, work) == [c, b, a, d]
    await moved(client, alice, d, {"after_id": None})
    await moved(client, alice, c, {})
    e = (await make_task(alice, title="E", list_id=work))["id"]
    assert await in_order(client, alice, work) == [d, b, a, c, e]

    s1, s2 = [(await make_task(alice, title=name, parent_id=b))["id"] for name in ("s1", "s2")]
    await moved(client, alice, s1, {})
    s3 = (await make_task(alice, title="s3", parent_id=b))["id"]
    assert await in_order(client, alice, work, b) == [s2, s1, s3]
    f = (await make_task(alice, title="F", list_id=work))["id"]
    assert await in_order(client, alice, work) == [d, b, a, c, e, f]


# --- move: where it goes ------------------------------------------------------------------


async def test_move_after_a_sibling_puts_it_right_after_that_sibling(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``after_id`` a sibling's id puts the task right after it, whether it moves up or
    down; the response and a later GET show the same task."""
    work = await create_list(client, alice, "Work")
    a, b, c, d = [(await make_task(alice, title=name, list_id=work))["id"] for name in "ABCD"]

    response = await move(client, alice, d, {"after_id": a})
    assert response.status_code == 200, response.text
    assert response.json() == (await fetch(client, alice, d)).json()
    assert response.headers["etag"] == await etag(client, alice, d)
    assert await in_order(client, alice, work) == [a, d, b, c]

    await moved(client, alice, a, {"after_id": c})
    assert await in_order(client, alice, work) == [d, b, c, a]
    await moved(client, alice, b, {"after_id": d})  # already there
    assert await in_order(client, alice, work) == [d, b, c, a]
    await moved(client, alice, c, {"after_id": d})
    assert await in_order(client, alice, work) == [d, c, b, a]


async def test_move_with_after_id_null_puts_it_first_and_an_empty_body_last(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``{"after_id": null}`` puts the task first among its siblings, ``{}`` last; the
    moved task's ``updated_at`` and ETag change, its list and parent do not."""
    work = await create_list(client, alice, "Work")
    a, b, c = [(await make_task(alice, title=name, list_id=work))["id"] for name in "ABC"]
    before = await fetch(client, alice, c)

    first = await moved(client, alice, c, {"after_id": None})
    assert await in_order(client, alice, work) == [c, a, b]
    assert (first["list_id"], first["parent_id"]) == (work, None)
    assert first["updated_at"] >= before.json()["data"]["updated_at"]
    assert await etag(client, alice, c) != before.headers["etag"]

    await moved(client, alice, a, {})
    assert await in_order(client, alice, work) == [c, b, a]
    await moved(client, alice, a, {"after_id": None})
    assert await in_order(client, alice, work) == [a, c, b]


async def test_move_to_where_the_task_already_is_changes_nothing(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A move that leaves the task where it is (last with ``{}``, after its own
    predecessor, first when first, naming its own list and level) answers 200 with the
    same ETag and ``updated_at``."""
    work = await create_list(client, alice, "Work")
    a, b = [(await make_task(alice, title=name, list_id=work))["id"] for name in "AB"]
    bodies: list[tuple[int, dict[str, Any]]] = [
        (b, {}),
        (b, {"after_id": a}),
        (a, {"after_id": None}),
        (a, {"list_id": work, "after_id": None}),
        (b, {"list_id": work, "parent_id": None}),
        (b, {"list_id": work}),
    ]
    for task_id, body in bodies:
        before = await fetch(client, alice, task_id)
        response = await move(client, alice, task_id, body)
        assert response.status_code == 200, f"{body}: {response.text}"
        assert response.headers["etag"] == before.headers["etag"], body
        assert response.json() == before.json(), body
    assert await in_order(client, alice, work) == [a, b]


async def test_move_to_another_list_puts_it_last_there_and_its_subtasks_follow(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id`` moves the task last among the top-level tasks of that list; its
    subtasks follow (their ``list_id`` and ETags change, their parent and their own order
    do not), and the lists' ``task_count`` follows."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="Parent", list_id=home))["id"]
    stays = (await make_task(alice, title="Stays", list_id=home))["id"]
    s1, s2, s3 = [(await make_task(alice, title=n, parent_id=parent))["id"] for n in "123"]
    await moved(client, alice, s3, {"after_id": None})
    there = [(await make_task(alice, title=n, list_id=work))["id"] for n in ("W1", "W2")]
    old_tags = {sub: await etag(client, alice, sub) for sub in (s1, s2, s3)}

    data = await moved(client, alice, parent, {"list_id": work})

    assert (data["list_id"], data["parent_id"]) == (work, None)
    assert await in_order(client, alice, work) == [*there, parent]
    assert await in_order(client, alice, home) == [stays]
    assert await in_order(client, alice, work, parent) == [s3, s1, s2]
    assert await listed_ids(client, alice, list_id=home, parent_id=parent) == []
    for sub in (s1, s2, s3):
        fetched = await fetch(client, alice, sub)
        assert (fetched.json()["data"]["list_id"], fetched.json()["data"]["parent_id"]) == (
            work,
            parent,
        )
        assert fetched.headers["etag"] != old_tags[sub]
    assert (await get_list(client, alice, home))["task_count"] == 1
    assert (await get_list(client, alice, work))["task_count"] == 6


async def test_move_with_parent_id_makes_a_subtask_and_null_makes_it_top_level(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``parent_id`` makes the task a subtask (last, or after ``after_id`` among the
    parent's subtasks), in the parent's list even from another list; ``parent_id: null``
    makes it top level again, last or where ``after_id`` says."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    parent, a, b = [(await make_task(alice, title=n, list_id=home))["id"] for n in "PAB"]
    elsewhere = (await make_task(alice, title="Elsewhere", list_id=work))["id"]

    data = await moved(client, alice, a, {"parent_id": parent})
    assert (data["list_id"], data["parent_id"]) == (home, parent)
    await moved(client, alice, b, {"parent_id": parent, "after_id": None})
    assert await in_order(client, alice, home, parent) == [b, a]
    data = await moved(client, alice, elsewhere, {"parent_id": parent, "after_id": b})
    assert (data["list_id"], data["parent_id"]) == (home, parent)
    assert await in_order(client, alice, home, parent) == [b, elsewhere, a]
    assert await in_order(client, alice, home) == [parent]
    assert await in_order(client, alice, work) == []

    data = await moved(client, alice, elsewhere, {"parent_id": None})
    assert (data["list_id"], data["parent_id"]) == (home, None)
    assert await in_order(client, alice, home) == [parent, elsewhere]
    await moved(client, alice, b, {"parent_id": None, "after_id": parent})
    assert await in_order(client, alice, home) == [parent, b, elsewhere]
    await moved(client, alice, a, {"parent_id": None, "list_id": work})
    assert await in_order(client, alice, work) == [a]
    assert await listed_ids(client, alice, parent_id=parent) == []


# --- move: refusals -----------------------------------------------------------------------


async def test_move_after_a_task_that_is_not_a_sibling_there_is_422_after_id(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    """``after_id`` naming a task in another list, a subtask while moving at the top level,
    a top-level task while moving among subtasks, bob's task, no task, or the moved task
    itself is 422 on ``after_id``; the task stays where it was, ETag unchanged."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    a, b = [(await make_task(alice, title=n, list_id=home))["id"] for n in "AB"]
    sub = (await make_task(alice, title="Sub", parent_id=b))["id"]
    other = (await make_task(alice, title="Other", list_id=work))["id"]
    bobs = (await make_task(bob, title="Bob's"))["id"]
    cases: list[tuple[int, dict[str, Any]]] = [
        (a, {"after_id": other}),
        (a, {"after_id": sub}),
        (a, {"after_id": bobs}),
        (a, {"after_id": MISSING_ID}),
        (a, {"after_id": a}),
        (a, {"list_id": work, "after_id": b}),
        (a, {"parent_id": b, "after_id": b}),
        (sub, {"after_id": a}),
        (sub, {"after_id": sub}),
        (sub, {"parent_id": None, "after_id": sub}),
    ]
    for task_id, body in cases:
        with subtests.test(task=task_id, body=body):
            before = await fetch(client, alice, task_id)
            response = await move(client, alice, task_id, body)
            assert_field_error(response, "after_id")
            after = await fetch(client, alice, task_id)
            assert after.headers["etag"] == before.headers["etag"]
    assert await in_order(client, alice, home) == [a, b]
    assert await in_order(client, alice, home, b) == [sub]


async def test_move_that_breaks_the_one_level_rule_is_422_parent_id(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    """A task that has subtasks under a parent, any task under a subtask, under itself,
    under bob's task or no task, and a parent in another list than ``list_id`` are 422
    on ``parent_id``; nothing moves."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    parent, other = [(await make_task(alice, title=n, list_id=home))["id"] for n in ("P", "O")]
    sub = (await make_task(alice, title="Sub", parent_id=parent))["id"]
    loose = (await make_task(alice, title="Loose", list_id=home))["id"]
    bobs = (await make_task(bob, title="Bob's"))["id"]
    cases: list[tuple[int, dict[str, Any]]] = [
        (parent, {"parent_id": other}),
        (loose, {"parent_id": sub}),
        (other, {"parent_id": sub, "after_id": None}),
        (loose, {"parent_id": loose}),
        (sub, {"parent_id": sub}),
        (loose, {"parent_id": bobs}),
        (loose, {"parent_id": MISSING_ID}),
        (loose, {"parent_id": parent, "list_id": work}),
    ]
    etags = {task_id: await etag(client, alice, task_id) for task_id in (parent, other, sub, loose)}
    for task_id, body in cases:
        with subtests.test(task=task_id, body=body):
            response = await move(client, alice, task_id, body)
            assert_field_error(response, "parent_id")
    for task_id, tag in etags.items():
        assert await etag(client, alice, task_id) == tag, task_id
    assert await in_order(client, alice, home) == [parent, other, loose]
    assert await in_order(client, alice, home, parent) == [sub]
    assert await in_order(client, alice, work) == []


async def test_a_subtask_moved_to_another_list_without_parent_id_joins_its_top_level(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A subtask sent to another list by a move or a PATCH that names no ``parent_id``
    becomes a top-level task there, last; its old parent stays where it was."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="P", list_id=home))["id"]
    first, second = [
        (await make_task(alice, title=n, parent_id=parent))["id"] for n in ("S1", "S2")
    ]
    existing = (await make_task(alice, title="W", list_id=work))["id"]

    moved = await move(client, alice, first, {"list_id": work})
    patched = await client.patch(
        task_url(alice, second), json={"list_id": work}, headers=alice.headers
    )

    assert moved.status_code == 200, moved.text
    assert patched.status_code == 200, patched.text
    for response in (moved, patched):
        assert (response.json()["data"]["list_id"], response.json()["data"]["parent_id"]) == (
            work,
            None,
        )
    assert await in_order(client, alice, work) == [existing, first, second]
    assert await in_order(client, alice, home) == [parent]
    assert await in_order(client, alice, home, parent) == []


async def test_a_move_without_a_body_puts_the_task_last_where_it_is(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``POST .../move`` with no body at all is a move to the end of its own siblings."""
    a, b, c = [(await make_task(alice, title=n))["id"] for n in ("A", "B", "C")]
    inbox = (await client.get(task_url(alice, a), headers=alice.headers)).json()["data"]["list_id"]

    response = await client.post(f"{task_url(alice, a)}/move", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert await in_order(client, alice, inbox) == [b, c, a]


async def test_move_into_another_users_or_a_missing_list_is_422_list_id(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id`` that is bob's list or no list is 422 on ``list_id``; the task stays."""
    a = await make_task(alice, title="A")
    bobs_list = await create_list(client, bob, "Bob's")
    before = await etag(client, alice, a["id"])

    for list_id in (bobs_list, await inbox_id(client, bob), MISSING_ID):
        response = await move(client, alice, a["id"], {"list_id": list_id})
        assert_field_error(response, "list_id")
    assert await etag(client, alice, a["id"]) == before
    assert (await task(client, alice, a["id"]))["list_id"] == a["list_id"]
    assert await listed_ids(client, bob) == []


async def test_move_with_a_stale_if_match_is_412_and_moves_nothing(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``If-Match`` with an ETag the task no longer has is 412 and the order stays; with
    the current ETag the move goes ahead and answers the new ETag."""
    work = await create_list(client, alice, "Work")
    a, b = [(await make_task(alice, title=n, list_id=work))["id"] for n in "AB"]
    stale = await etag(client, alice, b)
    patched = await client.patch(task_url(alice, b), json={"title": "B2"}, headers=alice.headers)
    assert patched.status_code == 200, patched.text
    current = patched.headers["etag"]

    response = await move(client, alice, b, {"after_id": None}, headers={"If-Match": stale})
    assert_error(response, 412, "PRECONDITION_FAILED")
    assert await in_order(client, alice, work) == [a, b]
    assert await etag(client, alice, b) == current

    response = await move(client, alice, b, {"after_id": None}, headers={"If-Match": current})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] not in (current, stale)
    assert await in_order(client, alice, work) == [b, a]


async def test_move_of_another_users_or_a_missing_task_is_404(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """Alice moving bob's task by id, or a task that does not exist, is 404, never 403;
    bob's task stays where it was."""
    bobs = await make_task(bob, title="Bob's")
    bobs_etag = await etag(client, bob, bobs["id"])

    for task_id in (bobs["id"], MISSING_ID):
        response = await move(client, alice, task_id, {"after_id": None})
        assert_error(response, 404, "NOT_FOUND")
    assert await etag(client, bob, bobs["id"]) == bobs_etag


async def test_move_checks_authentication_then_the_path_owner_before_anything_else(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """Without a token the move is 401 with ``WWW-Authenticate: Bearer`` whatever the body
    or task id; with bob's token on alice's path it is 403, also with a bad body, a stale
    ``If-Match`` or a missing task; nothing moves."""
    a = await make_task(alice, title="A")
    url = f"{task_url(alice, a['id'])}/move"
    missing = f"{task_url(alice, MISSING_ID)}/move"
    bad_body: dict[str, Any] = {"after_id": "x", "bogus": 1}

    for target, body in ((url, {}), (url, bad_body), (missing, {})):
        response = await client.post(target, json=body)
        assert_error(response, 401, "UNAUTHORIZED")
        assert response.headers["www-authenticate"].startswith("Bearer")
        garbled = await client.post(
            target, json=body, headers={"Authorization": "Bearer not.a.token"}
        )
        assert_error(garbled, 401, "UNAUTHORIZED")
    for target, body in ((url, {}), (url, bad_body), (missing, {})):
        response = await client.post(
            target, json=body, headers={**bob.headers, "If-Match": '"0.0"'}
        )
        assert_error(response, 403, "FORBIDDEN")
    assert (await task(client, alice, a["id"])) == a


async def test_unknown_field_in_the_move_body_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A move body with a field the contract does not name (``position``, ``title``,
    ``bogus``) is 422 on that field, even beside valid ones; nothing moves."""
    work = await create_list(client, alice, "Work")
    a, b = [(await make_task(alice, title=n, list_id=work))["id"] for n in "AB"]

    for body in ({"position": "a0"}, {"after_id": None, "title": "X"}, {"bogus": None}):
        response = await move(client, alice, b, body)
        (field,) = set(body) - {"after_id"}
        assert_field_error(response, field)
    assert await in_order(client, alice, work) == [a, b]
    assert (await task(client, alice, b))["title"] == "B"


async def test_move_list_id_null_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id`` is never null in a move (a task is always in a list): 422 on ``list_id``."""
    a = await make_task(alice, title="A")

    response = await move(client, alice, a["id"], {"list_id": None})

    assert_field_error(response, "list_id")


# --- move: cost and room ------------------------------------------------------------------


async def test_a_move_writes_the_moved_task_alone_in_a_list_of_50(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """Moving one task between two others, then first, then last, in a list of 50 leaves
    every other task's ETag and ``updated_at`` as they were; only the moved task's
    change."""
    work = await create_list(client, alice, "Work")
    ids = [(await make_task(alice, title=f"T{n:02}", list_id=work))["id"] for n in range(50)]
    moving = ids[40]

    async def snapshot() -> dict[int, tuple[str, str]]:
        result: dict[int, tuple[str, str]] = {}
        for task_id in ids:
            response = await fetch(client, alice, task_id)
            result[task_id] = (response.headers["etag"], response.json()["data"]["updated_at"])
        return result

    before = await snapshot()
    order = [task_id for task_id in ids if task_id != moving]
    for body, expected in (
        ({"after_id": ids[10]}, [*order[:11], moving, *order[11:]]),
        ({"after_id": None}, [moving, *order]),
        ({}, [*order, moving]),
    ):
        await moved(client, alice, moving, body)
        assert await in_order(client, alice, work) == expected, body
    after = await snapshot()

    assert after[moving][0] != before[moving][0]
    changed = [
        task_id for task_id in ids if task_id != moving and after[task_id] != before[task_id]
    ]
    assert changed == []


async def test_positions_never_run_out_moving_into_the_same_gap(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """200 moves, alternately of two tasks X and Y, each to right after A (so into the gap
    between A and the other, which shrinks every time), keep the order A, moved, other,
    B after every move, and the moved task's position stays under 60 characters."""
    work = await create_list(client, alice, "Work")
    a, b, x, y = [(await make_task(alice, title=n, list_id=work))["id"] for n in "ABXY"]
    await moved(client, alice, y, {"after_id": a})
    assert await in_order(client, alice, work) == [a, y, b, x]
    position = ""

    for round_ in range(200):
        mover, other = (x, y) if round_ % 2 == 0 else (y, x)
        data = await moved(client, alice, mover, {"after_id": a})
        position = data["position"]
        assert await in_order(client, alice, work) == [a, mover, other, b], round_
    print(f"position after 200 moves into one gap: {len(position)} characters ({position!r})")
    assert len(position) < 60, position


# --- deleting and completing a parent -----------------------------------------------------


async def test_deleting_a_parent_deletes_its_subtasks(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """DELETE of a parent makes its subtasks 404 too, and they leave the listing, the
    total and the list's ``task_count``; deleting a subtask leaves its parent."""
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="P", list_id=work))["id"]
    keeper = (await make_task(alice, title="K", list_id=work))["id"]
    subs = [(await make_task(alice, title=n, parent_id=parent))["id"] for n in ("s1", "s2")]
    kept_sub = (await make_task(alice, title="k1", parent_id=keeper))["id"]

    response = await client.delete(task_url(alice, kept_sub), headers=alice.headers)
    assert response.status_code == 204, response.text
    assert (await task(client, alice, keeper))["id"] == keeper

    response = await client.delete(task_url(alice, parent), headers=alice.headers)
    assert response.status_code == 204, response.text
    for gone in (parent, *subs):
        assert_error(
            await client.get(task_url(alice, gone), headers=alice.headers), 404, "NOT_FOUND"
        )
    assert await listed_ids(client, alice) == [keeper]
    assert await total(client, alice) == 1
    assert (await get_list(client, alice, work))["task_count"] == 1


async def test_completing_a_parent_leaves_its_subtasks_as_they_are(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """Completing and reopening a parent (``/complete`` and PATCH) changes neither its
    subtasks' ``completed`` nor their ETags; a completed subtask stays completed."""
    parent = (await make_task(alice, title="P"))["id"]
    open_sub = (await make_task(alice, title="open", parent_id=parent))["id"]
    done_sub = (await make_task(alice, title="done", parent_id=parent, completed=True))["id"]
    before = {sub: await fetch(client, alice, sub) for sub in (open_sub, done_sub)}

    completed = await client.patch(f"{task_url(alice, parent)}/complete", headers=alice.headers)
    assert completed.status_code == 200, completed.text
    assert completed.json()["data"]["completed"] is True
    for sub, response in before.items():
        now = await fetch(client, alice, sub)
        assert now.headers["etag"] == response.headers["etag"]
        assert now.json() == response.json()
    reopened = await client.patch(
        task_url(alice, parent), json={"completed": False}, headers=alice.headers
    )
    assert reopened.status_code == 200, reopened.text
    assert (await task(client, alice, open_sub))["completed"] is False
    assert (await task(client, alice, done_sub))["completed"] is True


# --- PATCH and PUT that name a place ------------------------------------------------------


async def test_patch_list_id_moves_the_task_and_subtasks_last_and_applies_the_other_fields(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """PATCH with ``list_id`` and other fields, under the current ``If-Match``: the task is
    last among the top-level tasks of that list, its subtasks follow, the other fields
    are written, and the response's ETag is the one a GET then shows (the old one is
    stale)."""
    home = await create_list(client, alice, "Home")
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="P", list_id=home))["id"]
    sub = (await make_task(alice, title="S", parent_id=parent))["id"]
    there = (await make_task(alice, title="W", list_id=work))["id"]
    old = await etag(client, alice, parent)
    old_sub = await etag(client, alice, sub)

    response = await client.patch(
        task_url(alice, parent),
        json={"list_id": work, "title": "Moved", "priority": "high", "tags": ["x"]},
        headers={**alice.headers, "If-Match": old},
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["list_id"], data["parent_id"], data["title"], data["priority"], data["tags"]) == (
        work,
        None,
        "Moved",
        "high",
        ["x"],
    )
    fetched = await fetch(client, alice, parent)
    assert fetched.json() == response.json()
    assert fetched.headers["etag"] == response.headers["etag"] != old
    assert await in_order(client, alice, work) == [there, parent]
    assert await in_order(client, alice, home) == []
    sub_now = await fetch(client, alice, sub)
    assert (sub_now.json()["data"]["list_id"], sub_now.json()["data"]["parent_id"]) == (
        work,
        parent,
    )
    assert sub_now.headers["etag"] != old_sub
    stale = await client.patch(
        task_url(alice, parent), json={"title": "Again"}, headers={**alice.headers, "If-Match": old}
    )
    assert_error(stale, 412, "PRECONDITION_FAILED")


async def test_patch_with_a_refused_place_writes_none_of_the_other_fields(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """PATCH with bob's ``list_id`` (422 ``list_id``) or a subtask as ``parent_id`` (422
    ``parent_id``) and a new title writes nothing: title and ETag as they were."""
    a = await make_task(alice, title="A")
    parent = await make_task(alice, title="P")
    sub = await make_task(alice, title="S", parent_id=parent["id"])
    before = await fetch(client, alice, a["id"])
    bobs_list = await create_list(client, bob, "Bob's")

    for body, field in (
        ({"list_id": bobs_list, "title": "Changed"}, "list_id"),
        ({"parent_id": sub["id"], "title": "Changed"}, "parent_id"),
    ):
        response = await client.patch(task_url(alice, a["id"]), json=body, headers=alice.headers)
        assert_field_error(response, field)
    after = await fetch(client, alice, a["id"])
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]


async def test_patch_with_the_list_the_task_is_in_keeps_its_position(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """PATCH naming the task's own list (with a new title) keeps its place among its
    siblings; naming only its own list and parent changes nothing at all."""
    work = await create_list(client, alice, "Work")
    a, b, c = [(await make_task(alice, title=n, list_id=work))["id"] for n in "ABC"]
    position = (await task(client, alice, a))["position"]

    response = await client.patch(
        task_url(alice, a), json={"list_id": work, "title": "A2"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["position"] == position
    assert response.json()["data"]["title"] == "A2"
    assert await in_order(client, alice, work) == [a, b, c]
    before = await fetch(client, alice, b)
    response = await client.patch(
        task_url(alice, b), json={"list_id": work, "parent_id": None}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == before.headers["etag"]
    assert response.json() == before.json()


async def test_patch_parent_id_null_makes_a_subtask_top_level_last(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """PATCH ``parent_id: null`` on a subtask makes it a top-level task of the same list,
    last there; PATCH ``parent_id`` puts a top-level task last under that parent; PATCH
    ``list_id`` with ``parent_id: null`` makes a subtask top level in that list."""
    work = await create_list(client, alice, "Work")
    parent, other = [(await make_task(alice, title=n, list_id=work))["id"] for n in "PO"]
    s1, s2 = [(await make_task(alice, title=n, parent_id=parent))["id"] for n in ("s1", "s2")]

    response = await client.patch(
        task_url(alice, s1), json={"parent_id": None}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert (response.json()["data"]["list_id"], response.json()["data"]["parent_id"]) == (
        work,
        None,
    )
    assert await in_order(client, alice, work) == [parent, other, s1]
    assert await in_order(client, alice, work, parent) == [s2]
    response = await client.patch(
        task_url(alice, other), json={"parent_id": parent}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert await in_order(client, alice, work, parent) == [s2, other]
    assert await in_order(client, alice, work) == [parent, s1]

    home = await create_list(client, alice, "Home")
    response = await client.patch(
        task_url(alice, s2), json={"list_id": home, "parent_id": None}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["list_id"], response.json()["data"]["parent_id"]) == (
        home,
        None,
    )
    assert await in_order(client, alice, work, parent) == [other]
    assert await in_order(client, alice, home) == [s2]


async def test_put_without_a_place_keeps_it_and_put_with_parent_id_moves_it(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """PUT without ``list_id`` and ``parent_id`` keeps a subtask's list, parent and
    position; PUT with ``parent_id`` makes a task that subtask's sibling (last), and PUT
    with ``parent_id: null`` makes it top level."""
    work = await create_list(client, alice, "Work")
    parent, loose = [(await make_task(alice, title=n, list_id=work))["id"] for n in "PL"]
    s1, s2 = [(await make_task(alice, title=n, parent_id=parent))["id"] for n in ("s1", "s2")]
    place = {key: (await task(client, alice, s1))[key] for key in ("list_id", "parent_id")}
    position = (await task(client, alice, s1))["position"]

    response = await client.put(
        task_url(alice, s1), json={"title": "Renamed", "priority": "low"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert {key: data[key] for key in ("list_id", "parent_id")} == place
    assert data["position"] == position
    assert await in_order(client, alice, work, parent) == [s1, s2]

    response = await client.put(
        task_url(alice, loose), json={"title": "L", "parent_id": parent}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["parent_id"] == parent
    assert await in_order(client, alice, work, parent) == [s1, s2, loose]
    response = await client.put(
        task_url(alice, s1), json={"title": "Renamed", "parent_id": None}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert await in_order(client, alice, work) == [parent, s1]


async def test_patch_or_put_list_id_null_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id: null`` in PATCH or PUT is 422 on ``list_id`` (a task is always in a
    list); the task is unchanged."""
    a = await make_task(alice, title="A")
    before = await fetch(client, alice, a["id"])

    patched = await client.patch(
        task_url(alice, a["id"]), json={"list_id": None, "title": "B"}, headers=alice.headers
    )
    put = await client.put(
        task_url(alice, a["id"]), json={"list_id": None, "title": "B"}, headers=alice.headers
    )

    assert_field_error(patched, "list_id")
    assert_field_error(put, "list_id")
    assert (await fetch(client, alice, a["id"])).json() == before.json()


# --- listing ------------------------------------------------------------------------------


async def test_list_id_filter_shows_that_lists_tasks_and_another_users_list_is_empty(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id`` lists that list's tasks, subtasks included, with the right ``total``;
    bob's list id or no list is 200 with nothing."""
    inbox = await inbox_id(client, alice)
    work = await create_list(client, alice, "Work")
    loose = (await make_task(alice, title="Loose"))["id"]
    parent = (await make_task(alice, title="P", list_id=work))["id"]
    sub = (await make_task(alice, title="S", parent_id=parent))["id"]
    bobs_list = await create_list(client, bob, "Bob's")
    await make_task(bob, title="Bob's", list_id=bobs_list)

    assert sorted(await listed_ids(client, alice, list_id=work)) == sorted([parent, sub])
    assert await listed_ids(client, alice, list_id=inbox) == [loose]
    assert await listed_ids(client, alice, list_id=bobs_list) == []
    assert await listed_ids(client, alice, list_id=MISSING_ID) == []


async def test_parent_id_filter_none_is_top_level_and_an_id_its_subtasks(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """``parent_id=none`` lists top-level tasks only, ``parent_id=<id>`` that task's
    subtasks (none for a task without subtasks or bob's task), each with the right
    ``total``; combined with ``list_id`` both filters hold."""
    work = await create_list(client, alice, "Work")
    p1 = (await make_task(alice, title="P1"))["id"]
    p2 = (await make_task(alice, title="P2", list_id=work))["id"]
    s1 = (await make_task(alice, title="S1", parent_id=p1))["id"]
    s2 = (await make_task(alice, title="S2", parent_id=p1))["id"]
    s3 = (await make_task(alice, title="S3", parent_id=p2))["id"]
    bobs = await make_task(bob, title="Bob's")
    await make_task(bob, title="Bob's sub", parent_id=bobs["id"])

    assert sorted(await listed_ids(client, alice, parent_id="none")) == [p1, p2]
    assert sorted(await listed_ids(client, alice, parent_id=p1)) == [s1, s2]
    assert await listed_ids(client, alice, parent_id=p2) == [s3]
    assert await listed_ids(client, alice, parent_id=s1) == []
    assert await listed_ids(client, alice, parent_id=bobs["id"]) == []
    assert await listed_ids(client, alice, parent_id="none", list_id=work) == [p2]
    assert await listed_ids(client, alice, parent_id=p1, list_id=work) == []
    assert await total(client, alice) == 5


async def test_parent_id_filter_that_is_not_none_or_a_task_id_is_422(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    """``parent_id`` other than ``none`` or a positive 64-bit integer is 422 on
    ``parent_id``; so is such a ``list_id``."""
    for name in ("parent_id", "list_id"):
        for value in ("abc", "0", "-1", "1.5", "", str(2**63), "NONE", " 1", "null"):
            if name == "list_id" and value == "":
                continue
            with subtests.test(name=name, value=value):
                response = await client.get(
                    alice.tasks_url, params={name: value}, headers=alice.headers
                )
                assert_field_error(response, name)


async def test_an_empty_tag_filters_nothing(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``tag=`` and ``tag=%20`` filter nothing (as ``q=``): every task, the true total."""
    await make_task(alice, title="Tagged", tags=["home"])
    await make_task(alice, title="Plain")
    for query in ("tag=", "tag=%20", "tag=&tag=home"):
        response = await client.get(f"{alice.tasks_url}?{query}", headers=alice.headers)
        assert response.status_code == 200, response.text
        expected = 1 if "home" in query else 2
        assert response.json()["total"] == expected, query


async def test_repeated_tag_filter_lists_tasks_that_carry_every_tag(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``tag=a&tag=b`` lists only the tasks carrying both (case-insensitively), with the
    right ``total``; a repeated tag is the same as one; 11 tags are 422 on ``tag``."""
    ab = (await make_task(alice, title="ab", tags=["a", "b"]))["id"]
    abc = (await make_task(alice, title="abc", tags=["c", "B", "a"]))["id"]
    only_a = (await make_task(alice, title="a", tags=["a"]))["id"]
    await make_task(alice, title="b", tags=["b"])
    await make_task(alice, title="none")

    assert sorted(await listed_ids(client, alice, tag=["a", "b"])) == [ab, abc]
    assert sorted(await listed_ids(client, alice, tag=["A", "b"])) == [ab, abc]
    assert await listed_ids(client, alice, tag=["a", "b", "c"]) == [abc]
    assert sorted(await listed_ids(client, alice, tag=["a", "a"])) == [ab, abc, only_a]
    assert await listed_ids(client, alice, tag=["a", "zzz"]) == []
    assert len(await listed_ids(client, alice, tag=[f"t{n}" for n in range(10)])) == 0

    response = await client.get(
        alice.tasks_url, params={"tag": [f"t{n}" for n in range(11)]}, headers=alice.headers
    )
    assert_field_error(response, "tag")


async def test_sort_by_title_is_case_insensitive_with_ties_by_id(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``sort=title`` puts ``apple`` before ``Banana`` before ``cherry`` in ``asc`` and the
    reverse in ``desc``; titles equal but for case tie, broken by id in the direction of
    ``order``."""
    banana = (await make_task(alice, title="Banana"))["id"]
    apple = (await make_task(alice, title="apple"))["id"]
    cherry = (await make_task(alice, title="cherry"))["id"]
    apple_upper = (await make_task(alice, title="APPLE"))["id"]
    assert apple < apple_upper

    assert await listed_ids(client, alice, sort="title", order="asc") == [
        apple,
        apple_upper,
        banana,
        cherry,
    ]
    assert await listed_ids(client, alice, sort="title", order="desc") == [
        cherry,
        banana,
        apple_upper,
        apple,
    ]
    for page, expected in ((1, [apple, apple_upper]), (2, [banana, cherry])):
        body = await list_tasks(client, alice, sort="title", order="asc", page_size=2, page=page)
        assert [item["id"] for item in body["data"]] == expected
        assert body["total"] == 4


async def test_sort_by_position_is_manual_order_with_ties_by_id(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``sort=position`` orders by ``position`` then id, ``asc`` and ``desc`` exactly reversed,
    over tasks of several lists and parents (whose positions may repeat); within one list
    and level it is the manual order."""
    work = await create_list(client, alice, "Work")
    home = await create_list(client, alice, "Home")
    w1, w2 = [(await make_task(alice, title=n, list_id=work))["id"] for n in ("W1", "W2")]
    h1 = (await make_task(alice, title="H1", list_id=home))["id"]
    s1 = (await make_task(alice, title="S1", parent_id=w1))["id"]
    t1 = (await make_task(alice, title="T1", parent_id=h1))["id"]
    await moved(client, alice, w2, {"after_id": None})
    await moved(client, alice, t1, {"parent_id": w1, "after_id": None})

    body = await list_tasks(client, alice, sort="position", order="asc", page_size=100)
    tasks = body["data"]
    expected = [item["id"] for item in sorted(tasks, key=lambda t: (t["position"], t["id"]))]
    asc = [item["id"] for item in tasks]
    assert asc == expected
    assert body["total"] == 5
    desc = await listed_ids(client, alice, sort="position", order="desc")
    assert desc == list(reversed(asc))
    assert await in_order(client, alice, work) == [w2, w1]
    assert await in_order(client, alice, work, w1) == [t1, s1]
    assert await in_order(client, alice, home) == [h1]


# --- hostile values in bodies -------------------------------------------------------------

HOSTILE_IDS: list[tuple[str, Any]] = [
    ("fraction", 1.5),
    ("negative", -1),
    ("zero", 0),
    ("2**63", 2**63),
    ("huge", 10**30),
    ("object", {}),
    ("array", []),
    ("false", False),
    ("null byte string", "\u0000"),
]
"""Values of ``list_id``, ``parent_id`` or ``after_id`` that are no id at all."""

PLACE_FIELDS = ("list_id", "parent_id")
MOVE_FIELDS = ("list_id", "parent_id", "after_id")


def id_routes(user: ApiUser, task_id: int) -> list[tuple[str, str, str, tuple[str, ...], Any]]:
    """The writes whose bodies carry ids: name, method, URL, the id fields, the rest of the
    body."""
    url = task_url(user, task_id)
    return [
        ("create", "POST", user.tasks_url, PLACE_FIELDS, {"title": "X"}),
        ("put", "PUT", url, PLACE_FIELDS, {"title": "X"}),
        ("patch", "PATCH", url, PLACE_FIELDS, {}),
        ("move", "POST", f"{url}/move", MOVE_FIELDS, {}),
    ]


async def test_hostile_ids_in_bodies_are_422_never_5xx(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    """``list_id``, ``parent_id`` and ``after_id`` as a fraction, a non-positive or
    over-64-bit number, an object, an array, ``false`` or a text are 422 on that field in
    create, PUT, PATCH and move (those that take it), never 5xx; nothing is created or
    changed."""
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="P", list_id=work))["id"]
    a = (await make_task(alice, title="A", list_id=work))["id"]
    before = {task_id: await fetch(client, alice, task_id) for task_id in (parent, a)}

    for route, method, url, fields, base in id_routes(alice, a):
        for field in fields:
            for label, value in HOSTILE_IDS:
                with subtests.test(route=route, field=field, value=label):
                    response = await client.request(
                        method, url, json={**base, field: value}, headers=alice.headers
                    )
                    assert response.status_code < 500, response.text
                    assert_field_error(response, field)
    assert await total(client, alice) == 2
    for task_id, response in before.items():
        now = await fetch(client, alice, task_id)
        assert now.headers["etag"] == response.headers["etag"]


async def refused_as_values(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, values: dict[str, Any]
) -> list[str]:
    """Send ``values[field]`` as each id field of each write; return what was not refused
    as a value: anything but a 422 on the field whose message differs from the one for
    an id that names nothing (``MISSING_ID``), which a value looked up as an id gets."""
    wrong: list[str] = []
    for route, method, url, fields, base in id_routes(user, task_id):
        for field in fields:
            missing = await client.request(
                method, url, json={**base, field: MISSING_ID}, headers=user.headers
            )
            response = await client.request(
                method, url, json={**base, field: values[field]}, headers=user.headers
            )
            errors = response.json().get("field_errors", {}) if response.status_code == 422 else {}
            looked_up = errors.get(field) == missing.json().get("field_errors", {}).get(field)
            if field not in errors or looked_up:
                wrong.append(
                    f"{route} {field}={values[field]!r}: {response.status_code} {response.text}"
                )
    return wrong


async def test_an_id_sent_as_a_string_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id``, ``parent_id`` and ``after_id`` as a JSON string of the digits of a real
    id (``"7"``) are 422 on that field in create, PUT, PATCH and move: an id is an
    integer."""
    work = await create_list(client, alice, "Work")
    parent = (await make_task(alice, title="P", list_id=work))["id"]
    a = (await make_task(alice, title="A", list_id=work))["id"]
    as_text = {"list_id": str(work), "parent_id": str(parent), "after_id": str(parent)}

    wrong = await refused_as_values(client, alice, a, as_text)

    assert wrong == []


async def test_an_id_sent_as_true_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``list_id``, ``parent_id`` and ``after_id`` as ``true`` are 422 on that field in
    create, PUT, PATCH and move, refused as a value (not looked up as the id 1)."""
    a = (await make_task(alice, title="A"))["id"]

    wrong = await refused_as_values(client, alice, a, dict.fromkeys(MOVE_FIELDS, True))

    assert wrong == []


# --- concurrency (PostgreSQL) -------------------------------------------------------------


async def test_concurrent_moves_never_nest_tasks_two_levels_deep(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    """20 rounds of moving A under B and B under C at the same time: at most one of the two
    succeeds (200), the other is 422 on ``parent_id``, and afterwards no subtask has a
    parent that is itself a subtask."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    a, b, c = [(await make_task(alice, title=n))["id"] for n in "ABC"]
    outcomes: list[tuple[int, int]] = []

    for round_ in range(20):
        first, second = (
            (move(client, alice, a, {"parent_id": b}), move(client, alice, b, {"parent_id": c}))
            if round_ % 2 == 0
            else (
                move(client, alice, b, {"parent_id": c}),
                move(client, alice, a, {"parent_id": b}),
            )
        )
        responses = await asyncio.gather(first, second)
        statuses = sorted(response.status_code for response in responses)
        outcomes.append((statuses[0], statuses[1]))
        assert statuses in ([200, 422], [422, 422]), [r.text for r in responses]
        for response in responses:
            if response.status_code == 422:
                assert_field_error(response, "parent_id")
        tasks = {
            item["id"]: item for item in (await list_tasks(client, alice, page_size=100))["data"]
        }
        nested = [
            item["id"]
            for item in tasks.values()
            if item["parent_id"] is not None and tasks[item["parent_id"]]["parent_id"] is not None
        ]
        assert nested == [], (round_, tasks)
        for task_id in (a, b):
            if tasks[task_id]["parent_id"] is not None:
                await moved(client, alice, task_id, {"parent_id": None})
    print(f"concurrent move outcomes: {outcomes}")


async def test_creating_a_subtask_while_its_parent_moves_under_another_never_nests(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    """20 rounds of creating a subtask under A while A moves under B: at most one of the two
    succeeds (the other is 422 on ``parent_id``, and a refused create creates nothing),
    and no subtask has a parent that is itself a subtask."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    a, b = [(await make_task(alice, title=n))["id"] for n in "AB"]
    outcomes: list[tuple[int, int]] = []

    for round_ in range(20):
        create = client.post(
            alice.tasks_url, json={"title": f"sub {round_}", "parent_id": a}, headers=alice.headers
        )
        under = move(client, alice, a, {"parent_id": b})
        if round_ % 2 == 0:
            responses = list(await asyncio.gather(create, under))
        else:
            responses = list(reversed(await asyncio.gather(under, create)))
        statuses = [response.status_code for response in responses]
        outcomes.append((statuses[0], statuses[1]))
        assert statuses in ([201, 422], [422, 200]), [r.text for r in responses]
        for response in responses:
            if response.status_code == 422:
                assert_field_error(response, "parent_id")
        tasks = {
            item["id"]: item for item in (await list_tasks(client, alice, page_size=100))["data"]
        }
        assert len(tasks) == (3 if statuses[0] == 201 else 2), (round_, tasks)
        nested = [
            item["id"]
            for item in tasks.values()
            if item["parent_id"] is not None and tasks[item["parent_id"]]["parent_id"] is not None
        ]
        assert nested == [], (round_, tasks)
        for task_id, item in tasks.items():
            if task_id not in (a, b):
                response = await client.delete(task_url(alice, task_id), headers=alice.headers)
                assert response.status_code == 204, response.text
            elif item["parent_id"] is not None:
                await moved(client, alice, task_id, {"parent_id": None})
    print(f"create under A / move A under B outcomes: {outcomes}")


async def test_after_concurrent_moves_into_one_gap_a_move_still_lands_right_after_its_after_id(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    """6 tasks moved at the same time to right after A all end between A and B; then
    moving Z after each of them in turn puts Z right after that task."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    work = await create_list(client, alice, "Work")
    a, b, z = [(await make_task(alice, title=n, list_id=work))["id"] for n in "ABZ"]
    movers = [(await make_task(alice, title=f"M{n}", list_id=work))["id"] for n in range(6)]
    wrong: list[tuple[int, list[int]]] = []

    for _ in range(3):
        responses = await asyncio.gather(
            *(move(client, alice, mover, {"after_id": a}) for mover in movers)
        )
        assert [response.status_code for response in responses] == [200] * len(movers)
        order = await in_order(client, alice, work)
        assert order[0] == a
        assert sorted(order[1 : 1 + len(movers)]) == sorted(movers)
        assert order[1 + len(movers) :] == [b, z]
        for mover in order[1 : 1 + len(movers)]:
            await moved(client, alice, z, {"after_id": mover})
            now = await in_order(client, alice, work)
            if now[now.index(mover) + 1] != z:
                wrong.append((mover, now))
            await moved(client, alice, z, {})
    assert wrong == []


async def delete_amid_moves(
    delete: Awaitable[httpx.Response],
    moves: list[Awaitable[httpx.Response]],
    at: int,
    outcomes: list[list[int]],
) -> None:
    """Run ``delete`` concurrently with ``moves``, started as the ``at``-th of them;
    record the statuses (the DELETE's first) in ``outcomes`` and insist that the
    DELETE is 204 and each move 200 (before it) or 404 (after it), never 5xx."""
    responses = await asyncio.gather(*moves[:at], delete, *moves[at:])
    deleted, others = responses[at], [*responses[:at], *responses[at + 1 :]]
    outcomes.append([deleted.status_code, *(response.status_code for response in others)])
    assert deleted.status_code == 204, (outcomes, deleted.text)
    for response in others:
        assert response.status_code in (200, 404), (outcomes, response.text)


async def test_deleting_a_parent_while_its_subtasks_move_is_never_5xx(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    """20 rounds of deleting a parent while its 4 subtasks each move first among their
    siblings: the DELETE is 204 and each move 200 (before) or 404 (after), never 5xx, and
    the subtasks are gone."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    outcomes: list[list[int]] = []

    for round_ in range(20):
        parent = (await make_task(alice, title="P"))["id"]
        subs = [(await make_task(alice, title=f"s{n}", parent_id=parent))["id"] for n in range(4)]
        moves = [move(client, alice, sub, {"after_id": None}) for sub in subs]
        delete = client.delete(task_url(alice, parent), headers=alice.headers)
        await delete_amid_moves(delete, moves, round_ % 5, outcomes)
        for gone in (parent, *subs):
            response = await client.get(task_url(alice, gone), headers=alice.headers)
            assert response.status_code == 404, response.text
    print(f"delete parent / move subtasks outcomes: {outcomes}")


async def test_deleting_a_list_while_its_tasks_move_is_never_5xx(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    """20 rounds of deleting a list while its 4 tasks each move first in it: the DELETE is
    204 and each move 200 (before) or 404 (after), never 5xx, and the tasks are gone."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    outcomes: list[list[int]] = []

    for round_ in range(20):
        work = await create_list(client, alice, f"Work {round_}")
        tasks = [(await make_task(alice, title=f"T{n}", list_id=work))["id"] for n in range(4)]
        moves = [move(client, alice, task_id, {"after_id": None}) for task_id in tasks]
        delete = client.delete(f"{lists_url(alice)}/{work}", headers=alice.headers)
        await delete_amid_moves(delete, moves, round_ % 5, outcomes)
        assert await listed_ids(client, alice, list_id=work) == []
    print(f"delete list / move its tasks outcomes: {outcomes}")


async def test_a_move_that_must_plan_again_every_time_is_409_and_writes_nothing(
    app: Any,
) -> None:
    """``in_turn`` runs a move again while it asks to plan again (its task kept moving
    under it), and after ``MOVE_ATTEMPTS`` runs answers 409 ``CONFLICT``; every run's
    transaction was rolled back."""
    from todo_api.kit.errors import Conflict
    from todo_api.resources import app_resources
    from todo_api.tasks.service.moves import MOVE_ATTEMPTS, Replan, in_turn

    runs = 0

    async def always_moved_meanwhile(db: Any) -> None:
        nonlocal runs
        runs += 1
        raise Replan()

    with pytest.raises(Conflict):
        await in_turn(app_resources(app).database, always_moved_meanwhile)
    assert runs == MOVE_ATTEMPTS
