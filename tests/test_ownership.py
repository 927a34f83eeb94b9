"""Who may touch which task, list and tag (api.md "Tasks", "Lists", "Subtasks and
manual order", "Tags", "Conventions": order of checks).

Another user's path is 403 on every task, list and tag route; another user's
task or list id on one's own path is 404 (never 403, never the inbox's 409);
another user's list or task id inside one's own body is 422 with that field in
``field_errors``, word for word what an id never issued gets; another user's
list or task id in one's own query finds nothing. No token is 401 with
``WWW-Authenticate: Bearer``, and the checks come in the order authentication,
path owner, everything else. After every refused attempt both users' tasks,
lists and tags, and their ETags, are exactly as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser, assert_error

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

VALID_TASK = {"title": "Intruder", "priority": "high", "tags": ["x"]}
NEVER_ISSUED = 10_000
"""Added to an id to make one no user has (ids come from sequences)."""


@dataclass(frozen=True)
class Ids:
    """What a ``Call``'s path is filled with: whose path it is (``{tasks}``, ``{lists}``,
    ``{tags}``), a task id (``{id}``), a list id (``{list}``) and an inbox's id
    (``{inbox}``)."""

    user: str
    task: int | str
    list: int | str = 0
    inbox: int | str = 0


@dataclass(frozen=True)
class Call:
    """One request to a task, list or tag route (its path filled in from ``Ids``)."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        body = "" if self.json is None and self.content is None else " +body"
        return f"{self.method} {self.path}{body}"

    @property
    def on_a_list(self) -> bool:
        return "{list}" in self.path or "{inbox}" in self.path

    async def send(
        self, client: httpx.AsyncClient, ids: Ids, auth: dict[str, str]
    ) -> httpx.Response:
        base = f"/api/{ids.user}"
        url = self.path.format(
            tasks=f"{base}/tasks",
            lists=f"{base}/lists",
            tags=f"{base}/tags",
            id=ids.task,
            list=ids.list,
            inbox=ids.inbox,
        )
        named = {"{id}": ids.task, "{list}": ids.list, "{inbox}": ids.inbox}
        json = self.json
        if isinstance(json, dict):  # a body's "{id}", "{list}" or "{inbox}" is that id
            json = {
                key: named.get(value, value) if isinstance(value, str) else value
                for key, value in json.items()
            }
        headers = {**auth, **self.headers}
        if self.content is not None:
            return await client.request(
                self.method, url, content=self.content, headers=headers, params=self.params
            )
        return await client.request(
            self.method, url, json=json, headers=headers, params=self.params
        )


COMPLETE_WITH_BODY = Call("PATCH", "{tasks}/{id}/complete", json={"completed": True})

ROUTES = [
    Call("GET", "{tasks}"),
    Call("POST", "{tasks}", json=VALID_TASK),
    Call("GET", "{tasks}/{id}"),
    Call("PUT", "{tasks}/{id}", json=VALID_TASK),
    Call("PATCH", "{tasks}/{id}", json={"title": "Intruder"}),
    Call("DELETE", "{tasks}/{id}"),
    Call("PATCH", "{tasks}/{id}/complete"),
    Call("POST", "{tasks}/{id}/move", json={"after_id": None}),
    Call("GET", "{lists}"),
    Call("POST", "{lists}", json={"name": "Intruder"}),
    Call("GET", "{lists}/{list}"),
    Call("PATCH", "{lists}/{list}", json={"name": "Intruder"}),
    Call("DELETE", "{lists}/{list}"),
    Call("POST", "{lists}/{list}/move", json={"after_id": None}),
    Call("DELETE", "{lists}/{inbox}"),
    Call("GET", "{tags}"),
]
"""Every task, list and tag route, each with a valid body where it takes one (and the
inbox's DELETE, a 409 for its owner)."""

ROUTES_WITHOUT_BODY = [
    Call("POST", "{tasks}"),
    Call("PUT", "{tasks}/{id}"),
    Call("PATCH", "{tasks}/{id}"),
    COMPLETE_WITH_BODY,
    Call("POST", "{tasks}/{id}/move"),
    Call("POST", "{tasks}/{id}/move", json={}),
    Call("POST", "{lists}"),
    Call("PATCH", "{lists}/{list}"),
    Call("POST", "{lists}/{list}/move"),
    Call("POST", "{lists}/{list}/move", json={}),
]
"""The same routes again with no body (or, for ``/complete``, with one; for the moves,
also an empty one: ``after_id`` omitted, last)."""

ROUTES_ON_ONE = [
    call for call in [*ROUTES, COMPLETE_WITH_BODY] if "{id}" in call.path or call.on_a_list
]
"""The routes that name one task or list in the path, each with a valid body."""


def tasks_url(user: ApiUser) -> str:
    return f"/api/{user.id}/tasks"


def lists_url(user: ApiUser) -> str:
    return f"/api/{user.id}/lists"


async def snapshot(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    """The user's full task list and every task as GET shows it, with its ETag; the same
    for their lists; and their tags."""
    page = {"page_size": 100}
    listed = await client.get(tasks_url(user), params=page, headers=user.headers)
    assert listed.status_code == 200, listed.text
    tasks = {}
    for task in listed.json()["data"]:
        one = await client.get(f"{tasks_url(user)}/{task['id']}", headers=user.headers)
        assert one.status_code == 200, one.text
        tasks[task["id"]] = (one.json(), one.headers["etag"])
    lists_page = await client.get(lists_url(user), params=page, headers=user.headers)
    assert lists_page.status_code == 200, lists_page.text
    lists = {}
    for each in lists_page.json()["data"]:
        one = await client.get(f"{lists_url(user)}/{each['id']}", headers=user.headers)
        assert one.status_code == 200, one.text
        lists[each["id"]] = (one.json(), one.headers["etag"])
    tags = await client.get(f"/api/{user.id}/tags", params=page, headers=user.headers)
    assert tags.status_code == 200, tags.text
    return {
        "list": listed.json(),
        "tasks": tasks,
        "lists": lists_page.json(),
        "each list": lists,
        "tags": tags.json(),
    }


async def make_list(client: httpx.AsyncClient, user: ApiUser, name: str) -> dict[str, Any]:
    response = await client.post(lists_url(user), json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def inbox_of(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    response = await client.get(lists_url(user), headers=user.headers)
    assert response.status_code == 200, response.text
    (inbox,) = [each for each in response.json()["data"] if each["is_inbox"]]
    return inbox  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Things:
    """A user's inbox, one more list, and tasks: top level in the inbox, top level in the
    list, and a subtask of the latter."""

    inbox: dict[str, Any]
    list: dict[str, Any]
    in_inbox: dict[str, Any]
    in_list: dict[str, Any]
    subtask: dict[str, Any]

    def ids(self, user: ApiUser | str) -> Ids:
        user_id = user if isinstance(user, str) else user.id
        return Ids(user_id, self.in_inbox["id"], self.list["id"], self.inbox["id"])


async def things_of(
    client: httpx.AsyncClient, user: ApiUser, make_task: TaskFactory, who: str
) -> Things:
    inbox = await inbox_of(client, user)
    own_list = await make_list(client, user, f"{who}'s list")
    in_inbox = await make_task(
        user, title=f"{who} one", tags=[who.lower()], due_date="2026-05-01T10:00:00Z"
    )
    await make_task(user, title=f"{who} two", completed=True, priority="low")
    in_list = await make_task(user, title=f"{who} in a list", list_id=own_list["id"])
    subtask = await make_task(user, title=f"{who} subtask", parent_id=in_list["id"], tags=["sub"])
    assert subtask["list_id"] == own_list["id"]
    assert in_inbox["list_id"] == inbox["id"]
    return Things(await inbox_of(client, user), own_list, in_inbox, in_list, subtask)


async def test_another_users_path_is_403_on_every_route(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    things = await things_of(client, alice, make_task, "Alice")
    before = await snapshot(client, alice)
    bob_before = await snapshot(client, bob)

    for call in ROUTES + ROUTES_WITHOUT_BODY:
        with subtests.test(route=call.label()):
            response = await call.send(client, things.ids(alice), bob.headers)
            assert_error(response, 403, "FORBIDDEN")

    assert await snapshot(client, alice) == before
    bob_after = await snapshot(client, bob)
    assert bob_after == bob_before
    assert bob_after["list"]["total"] == 0
    assert [each["is_inbox"] for each in bob_after["lists"]["data"]] == [True]


async def test_another_users_task_or_list_on_own_path_is_404_never_403(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    things = await things_of(client, alice, make_task, "Alice")
    bobs = await make_task(bob, title="Bob's own")
    before = await snapshot(client, alice)
    bob_before = await snapshot(client, bob)
    targets = [
        (things.in_inbox["id"], things.list["id"]),
        (things.subtask["id"], things.inbox["id"]),  # the inbox: 404, not its 409
    ]

    for task_id, list_id in targets:
        ids = Ids(bob.id, task_id, list_id, list_id)
        missing_list = list_id + NEVER_ISSUED
        missing = Ids(bob.id, task_id + NEVER_ISSUED, missing_list, missing_list)
        for call in ROUTES_ON_ONE:
            etag = (before["each list"][list_id] if call.on_a_list else before["tasks"][task_id])[1]
            for if_match in [None, "*", etag]:
                with subtests.test(
                    route=call.label(), task=task_id, list=list_id, if_match=if_match
                ):
                    auth = {**bob.headers, **({"If-Match": if_match} if if_match else {})}
                    response = await call.send(client, ids, auth)
                    never = await call.send(client, missing, bob.headers)
                    error = assert_error(response, 404, "NOT_FOUND")
                    assert error["detail"] == assert_error(never, 404, "NOT_FOUND")["detail"]

    assert await snapshot(client, alice) == before
    bob_after = await snapshot(client, bob)
    assert bob_after == bob_before
    assert [t["id"] for t in bob_after["list"]["data"]] == [bobs["id"]]


BOBS = "bob's"
"""Marks a body value as one of Bob's ids (``BobsId``), to be replaced in turn by an id
never issued."""


@dataclass(frozen=True)
class BobsId:
    """One of Bob's ids, by what it is in ``Things``: ``"list"``, ``"inbox"``,
    ``"in_inbox"``, ``"in_list"`` or ``"subtask"``."""

    name: str

    def of(self, things: Things) -> int:
        thing: dict[str, Any] = getattr(things, self.name)
        return int(thing["id"])


@dataclass(frozen=True)
class Foreign:
    """A request on Alice's own path whose body names one of Bob's ids; ``field`` is
    the one ``field_errors`` names."""

    call: Call
    field: str
    task: str = "in_inbox"  # which of Alice's tasks ``{id}`` is

    def body(self, things: Things, shift: int) -> Any:
        assert isinstance(self.call.json, dict)
        return {
            key: value.of(things) + shift if isinstance(value, BobsId) else value
            for key, value in self.call.json.items()
        }


FOREIGN_IDS = [
    Foreign(Call("POST", "{tasks}", json={"title": "x", "list_id": BobsId("list")}), "list_id"),
    Foreign(Call("POST", "{tasks}", json={"title": "x", "list_id": BobsId("inbox")}), "list_id"),
    Foreign(
        Call("POST", "{tasks}", json={"title": "x", "parent_id": BobsId("in_list")}), "parent_id"
    ),
    Foreign(
        Call("POST", "{tasks}", json={"title": "x", "parent_id": BobsId("in_inbox")}), "parent_id"
    ),
    Foreign(
        Call("POST", "{tasks}", json={"title": "x", "parent_id": BobsId("subtask")}), "parent_id"
    ),
    Foreign(
        Call(
            "POST",
            "{tasks}",
            json={"title": "x", "list_id": BobsId("list"), "parent_id": BobsId("in_list")},
        ),
        "list_id",
    ),
    Foreign(Call("PUT", "{tasks}/{id}", json={"title": "x", "list_id": BobsId("list")}), "list_id"),
    Foreign(
        Call("PUT", "{tasks}/{id}", json={"title": "x", "parent_id": BobsId("in_list")}),
        "parent_id",
    ),
    Foreign(Call("PATCH", "{tasks}/{id}", json={"list_id": BobsId("list")}), "list_id"),
    Foreign(Call("PATCH", "{tasks}/{id}", json={"list_id": BobsId("inbox")}), "list_id"),
    Foreign(Call("PATCH", "{tasks}/{id}", json={"parent_id": BobsId("in_list")}), "parent_id"),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"list_id": BobsId("list")}), "list_id"),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"list_id": BobsId("inbox")}), "list_id"),
    Foreign(
        Call("POST", "{tasks}/{id}/move", json={"list_id": BobsId("inbox"), "after_id": None}),
        "list_id",
    ),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"parent_id": BobsId("in_list")}), "parent_id"),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"parent_id": BobsId("in_inbox")}), "parent_id"),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"after_id": BobsId("in_inbox")}), "after_id"),
    Foreign(Call("POST", "{tasks}/{id}/move", json={"after_id": BobsId("in_list")}), "after_id"),
    Foreign(
        Call("POST", "{tasks}/{id}/move", json={"parent_id": None, "after_id": BobsId("subtask")}),
        "after_id",
    ),
    Foreign(
        Call(
            "POST",
            "{tasks}/{id}/move",
            json={"list_id": BobsId("list"), "after_id": BobsId("in_list")},
        ),
        "list_id",
    ),
    Foreign(
        Call("POST", "{tasks}/{id}/move", json={"after_id": BobsId("subtask")}),
        "after_id",
        task="subtask",
    ),
    Foreign(
        Call("POST", "{tasks}/{id}/move", json={"list_id": BobsId("list")}),
        "list_id",
        task="in_list",  # a parent: its subtasks would follow it
    ),
    Foreign(Call("POST", "{lists}/{list}/move", json={"after_id": BobsId("list")}), "after_id"),
    Foreign(Call("POST", "{lists}/{list}/move", json={"after_id": BobsId("inbox")}), "after_id"),
    Foreign(Call("POST", "{lists}/{inbox}/move", json={"after_id": BobsId("list")}), "after_id"),
]
"""Alice's requests that name Bob's list, inbox, tasks or subtask in her body."""


async def test_another_users_ids_in_a_body_are_422_like_ids_never_issued(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    alices = await things_of(client, alice, make_task, "Alice")
    bobs = await things_of(client, bob, make_task, "Bob")
    before = await snapshot(client, alice)
    bob_before = await snapshot(client, bob)

    for foreign in FOREIGN_IDS:
        task_id = getattr(alices, foreign.task)["id"]
        ids = Ids(alice.id, task_id, alices.list["id"], alices.inbox["id"])
        with subtests.test(route=foreign.call.label(), body=foreign.call.json, task=foreign.task):
            sent = Call(foreign.call.method, foreign.call.path, json=foreign.body(bobs, 0))
            never = Call(
                foreign.call.method, foreign.call.path, json=foreign.body(bobs, NEVER_ISSUED)
            )
            response = await sent.send(client, ids, alice.headers)
            error = assert_error(response, 422, "VALIDATION_ERROR")
            assert foreign.field in error["field_errors"], error
            missing = assert_error(
                await never.send(client, ids, alice.headers), 422, "VALIDATION_ERROR"
            )
            assert error["field_errors"] == missing["field_errors"]
            assert error["detail"] == missing["detail"]

    assert await snapshot(client, bob) == bob_before
    assert await snapshot(client, alice) == before


async def test_another_users_ids_in_a_query_find_nothing(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    alices = await things_of(client, alice, make_task, "Alice")
    bobs = await things_of(client, bob, make_task, "Bob")
    await make_task(bob, title="Bob's secret", tags=["secret"], list_id=bobs.list["id"])
    bob_before = await snapshot(client, bob)
    queries: list[dict[str, Any]] = [
        {"list_id": bobs.list["id"]},
        {"list_id": bobs.inbox["id"]},
        {"parent_id": bobs.in_list["id"]},
        {"parent_id": bobs.in_inbox["id"]},
        {"tag": "secret"},
        {"tag": ["bob", "secret"]},
        {"list_id": bobs.list["id"], "parent_id": "none", "sort": "position", "order": "asc"},
        {"parent_id": bobs.in_list["id"], "sort": "title"},
        {"tag": "sub", "list_id": bobs.list["id"]},
    ]

    for params in queries:
        with subtests.test(params=params):
            response = await client.get(tasks_url(alice), params=params, headers=alice.headers)
            assert response.status_code == 200, response.text
            assert response.json()["data"] == [] and response.json()["total"] == 0

    shared = await client.get(tasks_url(alice), params={"tag": "sub"}, headers=alice.headers)
    assert shared.status_code == 200, shared.text
    assert [t["id"] for t in shared.json()["data"]] == [alices.subtask["id"]]
    tags = await client.get(
        f"/api/{alice.id}/tags", params={"page_size": 100}, headers=alice.headers
    )
    assert tags.status_code == 200, tags.text
    assert tags.json()["data"] == [  # "sub" is Bob's tag too: his task is not counted
        {"name": "alice", "task_count": 1},
        {"name": "sub", "task_count": 1},
    ]
    assert tags.json()["total"] == 2
    assert await snapshot(client, bob) == bob_before


async def test_no_token_is_401_with_www_authenticate_bearer(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    things = await things_of(client, alice, make_task, "Alice")
    before = await snapshot(client, alice)
    no_tokens = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {alice.token}"},
        {"Authorization": f"Bearer {alice.token}x"},
    ]

    for call in ROUTES + ROUTES_WITHOUT_BODY:
        for auth in no_tokens:
            with subtests.test(route=call.label(), authorization=auth.get("Authorization", "-")):
                response = await call.send(client, things.ids(alice), auth)
                assert_error(response, 401, "UNAUTHORIZED")
                assert response.headers["www-authenticate"].startswith("Bearer")

    assert await snapshot(client, alice) == before


JSON_TYPE = {"Content-Type": "application/json"}

BAD_REQUESTS = [
    Call("POST", "{tasks}", content=b'{"title": ', headers=JSON_TYPE),
    Call("PUT", "{tasks}/{id}", content=b"{nope", headers=JSON_TYPE),
    Call("PATCH", "{tasks}/{id}", content=b"[", headers=JSON_TYPE),
    Call("PATCH", "{tasks}/{id}/complete", content=b"{,}", headers=JSON_TYPE),
    Call("POST", "{tasks}", content=b"title=x", headers={"Content-Type": "text/plain"}),
    Call(
        "PUT",
        "{tasks}/{id}",
        content=b"title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Call("PATCH", "{tasks}/{id}", content=b"<t/>", headers={"Content-Type": "application/xml"}),
    Call("POST", "{tasks}", json={"title": 5, "id": 1}),
    Call("PUT", "{tasks}/{id}", json={"description": "no title"}),
    Call("PATCH", "{tasks}/{id}", json={"title": None}),
    Call("POST", "{tasks}", json={"title": "x", "list_id": 999_999_999}),
    Call("POST", "{tasks}", json={"title": "x", "list_id": None, "parent_id": "x"}),
    Call("PATCH", "{tasks}/{id}", json={"parent_id": "{id}"}),
    Call("GET", "{tasks}", params={"page": "0"}),
    Call("GET", "{tasks}", params={"status": "foo", "q": "\x00"}),
    Call("GET", "{tasks}", params={"list_id": "abc", "parent_id": "nothing"}),
    Call("GET", "{tasks}", params={"sort": "positions", "tag": "\x01"}),
    Call("GET", "{tasks}/abc"),
    Call("DELETE", "{tasks}/0"),
    Call("GET", "{tasks}/999999999"),
    Call("DELETE", "{tasks}/{id}", headers={"If-Match": '"stale"'}),
    Call("PUT", "{tasks}/{id}", json={"title": "x"}, headers={"If-Match": '"stale"'}),
    Call("GET", "{tasks}/{id}", headers={"If-None-Match": "*"}),
    Call("POST", "{tasks}/{id}/move", content=b'{"after_id": ', headers=JSON_TYPE),
    Call("POST", "{tasks}/{id}/move", content=b"after_id=", headers={"Content-Type": "text/plain"}),
    Call("POST", "{tasks}/{id}/move", json={"list_id": None}),
    Call("POST", "{tasks}/{id}/move", json={"after_id": "{id}", "x": 1}),
    Call("POST", "{tasks}/{id}/move", json={"after_id": 999_999_999}),
    Call("POST", "{tasks}/999999999/move", json={}),
    Call("POST", "{tasks}/{id}/move", json={}, headers={"If-Match": '"stale"'}),
    Call("GET", "{lists}", params={"page_size": "0"}),
    Call("POST", "{lists}", content=b'{"name": ', headers=JSON_TYPE),
    Call("POST", "{lists}", content=b"name=x", headers={"Content-Type": "text/plain"}),
    Call("POST", "{lists}", json={"name": ""}),
    Call("POST", "{lists}", json={"name": "x", "is_inbox": True}),
    Call("GET", "{lists}/abc"),
    Call("GET", "{lists}/0"),
    Call("GET", "{lists}/999999999"),
    Call("GET", "{lists}/{list}", headers={"If-None-Match": "*"}),
    Call("PATCH", "{lists}/{list}", json={"name": None}),
    Call("PATCH", "{lists}/{list}", json={"name": "x"}, headers={"If-Match": '"stale"'}),
    Call("DELETE", "{lists}/{list}", headers={"If-Match": '"stale"'}),
    Call("DELETE", "{lists}/999999999"),
    Call("DELETE", "{lists}/{inbox}"),
    Call("POST", "{lists}/{list}/move", content=b"[", headers=JSON_TYPE),
    Call("POST", "{lists}/{list}/move", json={"after_id": "{list}"}),
    Call("POST", "{lists}/{list}/move", json={"after_id": 999_999_999}),
    Call("POST", "{lists}/{list}/move", json={"after_id": -1}),
    Call("POST", "{lists}/999999999/move", json={}),
    Call("GET", "{tags}", params={"page": "-1", "page_size": "1000"}),
]
"""Requests that fail a later check (415, 422, 404, 409, 412) or would be a 304."""


async def test_authentication_is_checked_before_anything_else(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    things = await things_of(client, alice, make_task, "Alice")
    before = await snapshot(client, alice)

    for call in BAD_REQUESTS:
        with subtests.test(route=call.label(), headers=call.headers, params=call.params):
            response = await call.send(client, things.ids(alice), {})
            assert_error(response, 401, "UNAUTHORIZED")
            assert response.headers["www-authenticate"].startswith("Bearer")

    assert await snapshot(client, alice) == before


async def test_path_owner_is_checked_before_body_query_and_resource(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    things = await things_of(client, alice, make_task, "Alice")
    before = await snapshot(client, alice)

    for call in BAD_REQUESTS:
        with subtests.test(route=call.label(), headers=call.headers, params=call.params):
            response = await call.send(client, things.ids(alice), bob.headers)
            assert_error(response, 403, "FORBIDDEN")

    assert await snapshot(client, alice) == before


async def test_the_bad_requests_fail_a_later_check_for_their_owner(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    """The requests above are refused for their owner too (so the 401s and 403s above
    do come first): never a 2xx, a 401, a 403 or a 5xx."""
    things = await things_of(client, alice, make_task, "Alice")
    before = await snapshot(client, alice)

    for call in BAD_REQUESTS:
        with subtests.test(route=call.label(), headers=call.headers, params=call.params):
            response = await call.send(client, things.ids(alice), alice.headers)
            assert response.status_code in {304, 404, 409, 412, 415, 422}, response.text

    assert await snapshot(client, alice) == before
