"""Who may touch which task (api.md "Tasks", "Conventions": order of checks).

Another user's path is 403 on every task route, another user's task id on
one's own path is 404 (never 403), no token is 401 with
``WWW-Authenticate: Bearer``, and the checks come in the order
authentication, path owner, everything else. After every refused attempt
the owner's tasks, and their ETags, are exactly as before.
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


@dataclass(frozen=True)
class Call:
    """One request to a task route; ``{tasks}`` is the tasks URL and ``{id}`` a task id."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        body = "" if self.json is None and self.content is None else " +body"
        return f"{self.method} {self.path}{body}"

    async def send(
        self, client: httpx.AsyncClient, tasks_url: str, task_id: int | str, auth: dict[str, str]
    ) -> httpx.Response:
        url = self.path.format(tasks=tasks_url, id=task_id)
        headers = {**auth, **self.headers}
        if self.content is not None:
            return await client.request(
                self.method, url, content=self.content, headers=headers, params=self.params
            )
        return await client.request(
            self.method, url, json=self.json, headers=headers, params=self.params
        )


ROUTES = [
    Call("GET", "{tasks}"),
    Call("POST", "{tasks}", json=VALID_TASK),
    Call("GET", "{tasks}/{id}"),
    Call("PUT", "{tasks}/{id}", json=VALID_TASK),
    Call("PATCH", "{tasks}/{id}", json={"title": "Intruder"}),
    Call("DELETE", "{tasks}/{id}"),
    Call("PATCH", "{tasks}/{id}/complete"),
]
"""The seven task routes, each with a valid body where it takes one."""

ROUTES_WITHOUT_BODY = [
    Call("POST", "{tasks}"),
    Call("PUT", "{tasks}/{id}"),
    Call("PATCH", "{tasks}/{id}"),
    Call("PATCH", "{tasks}/{id}/complete", json={"completed": True}),
]
"""The same routes again with no body (or, for ``/complete``, with one)."""


async def snapshot(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    """The user's full list and every task as GET shows it, with its ETag."""
    listed = await client.get(user.tasks_url, params={"page_size": 100}, headers=user.headers)
    assert listed.status_code == 200
    tasks = {}
    for task in listed.json()["data"]:
        one = await client.get(f"{user.tasks_url}/{task['id']}", headers=user.headers)
        assert one.status_code == 200
        tasks[task["id"]] = (one.json(), one.headers["etag"])
    return {"list": listed.json(), "tasks": tasks}


async def alices_tasks(alice: ApiUser, make_task: TaskFactory) -> list[dict[str, Any]]:
    return [
        await make_task(alice, title="Alice one", tags=["home"], due_date="2026-05-01T10:00:00Z"),
        await make_task(alice, title="Alice two", completed=True, priority="low"),
    ]


async def test_another_users_path_is_403_on_every_route(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = (await alices_tasks(alice, make_task))[0]
    before = await snapshot(client, alice)

    for call in ROUTES + ROUTES_WITHOUT_BODY:
        with subtests.test(route=call.label()):
            response = await call.send(client, alice.tasks_url, task["id"], bob.headers)
            assert_error(response, 403, "FORBIDDEN")

    assert await snapshot(client, alice) == before
    assert (await snapshot(client, bob))["list"]["total"] == 0


async def test_another_users_task_on_own_path_is_404_never_403(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = (await alices_tasks(alice, make_task))[0]
    bobs = await make_task(bob, title="Bob's own")
    before = await snapshot(client, alice)
    alice_etag = before["tasks"][task["id"]][1]
    never_issued = task["id"] + 10_000

    task_routes = [call for call in ROUTES if "{id}" in call.path] + ROUTES_WITHOUT_BODY[-1:]
    for call in task_routes:
        for if_match in [None, "*", alice_etag]:
            with subtests.test(route=call.label(), if_match=if_match):
                auth = {**bob.headers, **({"If-Match": if_match} if if_match else {})}
                response = await call.send(client, bob.tasks_url, task["id"], auth)
                missing = await call.send(client, bob.tasks_url, never_issued, bob.headers)
                error = assert_error(response, 404, "NOT_FOUND")
                assert error["detail"] == assert_error(missing, 404, "NOT_FOUND")["detail"]

    assert await snapshot(client, alice) == before
    bob_list = (await snapshot(client, bob))["list"]
    assert [t["id"] for t in bob_list["data"]] == [bobs["id"]]


async def test_no_token_is_401_with_www_authenticate_bearer(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = (await alices_tasks(alice, make_task))[0]
    before = await snapshot(client, alice)
    no_tokens = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {alice.token}"},
        {"Authorization": f"Bearer {alice.token}x"},
    ]

    for call in ROUTES:
        for auth in no_tokens:
            with subtests.test(route=call.label(), authorization=auth.get("Authorization", "-")):
                response = await call.send(client, alice.tasks_url, task["id"], auth)
                assert_error(response, 401, "UNAUTHORIZED")
                assert response.headers["www-authenticate"].startswith("Bearer")

    assert await snapshot(client, alice) == before


BAD_REQUESTS = [
    Call("POST", "{tasks}", content=b'{"title": ', headers={"Content-Type": "application/json"}),
    Call("PUT", "{tasks}/{id}", content=b"{nope", headers={"Content-Type": "application/json"}),
    Call("PATCH", "{tasks}/{id}", content=b"[", headers={"Content-Type": "application/json"}),
    Call(
        "PATCH",
        "{tasks}/{id}/complete",
        content=b"{,}",
        headers={"Content-Type": "application/json"},
    ),
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
    Call("GET", "{tasks}", params={"page": "0"}),
    Call("GET", "{tasks}", params={"status": "foo", "q": "\x00"}),
    Call("GET", "{tasks}/abc"),
    Call("DELETE", "{tasks}/0"),
    Call("GET", "{tasks}/999999999"),
    Call("DELETE", "{tasks}/{id}", headers={"If-Match": '"stale"'}),
    Call("PUT", "{tasks}/{id}", json={"title": "x"}, headers={"If-Match": '"stale"'}),
    Call("GET", "{tasks}/{id}", headers={"If-None-Match": "*"}),
]
"""Requests that fail a later check (415, 422, 404, 412) or would be a 304."""


async def test_authentication_is_checked_before_anything_else(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = (await alices_tasks(alice, make_task))[0]
    before = await snapshot(client, alice)

    for call in BAD_REQUESTS:
        with subtests.test(route=call.label(), headers=call.headers, params=call.params):
            response = await call.send(client, alice.tasks_url, task["id"], {})
            assert_error(response, 401, "UNAUTHORIZED")
            assert response.headers["www-authenticate"].startswith("Bearer")

    assert await snapshot(client, alice) == before


async def test_path_owner_is_checked_before_body_query_and_task(
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
) -> None:
    task = (await alices_tasks(alice, make_task))[0]
    before = await snapshot(client, alice)

    for call in BAD_REQUESTS:
        with subtests.test(route=call.label(), headers=call.headers, params=call.params):
            response = await call.send(client, alice.tasks_url, task["id"], bob.headers)
            assert_error(response, 403, "FORBIDDEN")

    assert await snapshot(client, alice) == before
