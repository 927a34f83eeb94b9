"""The tag picker (api.md "Tags"): ``GET /api/{user_id}/tags``.

The tags that the user's tasks carry, lower-cased and sorted by name, each
with how many tasks carry it; counts that follow deletes and retagging; a tag
no task carries any more gone; one user's tags never shown to another; pages;
query validation; and the route in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser, assert_error

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]


def tags_url(user: ApiUser) -> str:
    return f"/api/{user.id}/tags"


async def list_tags(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> dict[str, Any]:
    response = await client.get(tags_url(user), params=params, headers=user.headers)
    assert response.status_code == 200, f"{params}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def test_empty_envelope(client: httpx.AsyncClient, alice: ApiUser) -> None:
    assert await list_tags(client, alice) == {"data": [], "total": 0, "page": 1, "page_size": 20}


async def test_counts_and_sort_by_name(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, backend: str
) -> None:
    await make_task(alice, tags=["b", "a", "Zed"])
    await make_task(alice, tags=["a"])
    await make_task(alice, tags=[" ZED "])
    await make_task(alice, tags=["a", "b"])
    await make_task(alice)  # no tags: counts nowhere

    body = await list_tags(client, alice)

    assert body == {
        "data": [
            {"name": "a", "task_count": 3},
            {"name": "b", "task_count": 2},
            {"name": "zed", "task_count": 2},
        ],
        "total": 3,
        "page": 1,
        "page_size": 20,
    }, backend


async def test_counts_fall_on_delete_and_retag(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    first = await make_task(alice, tags=["home", "work"])
    second = await make_task(alice, tags=["home"])
    third = await make_task(alice, tags=["errands"])

    deleted = await client.delete(f"{alice.tasks_url}/{second['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    body = await list_tags(client, alice)
    assert body["data"] == [
        {"name": "errands", "task_count": 1},
        {"name": "home", "task_count": 1},
        {"name": "work", "task_count": 1},
    ]
    assert body["total"] == 3

    patched = await client.patch(
        f"{alice.tasks_url}/{first['id']}", json={"tags": ["work"]}, headers=alice.headers
    )
    assert patched.status_code == 200, patched.text
    replaced = await client.put(
        f"{alice.tasks_url}/{third['id']}",
        json={"title": "Third", "tags": ["work"]},
        headers=alice.headers,
    )
    assert replaced.status_code == 200, replaced.text

    body = await list_tags(client, alice)
    assert body["data"] == [{"name": "work", "task_count": 2}]  # home and errands are gone
    assert body["total"] == 1

    cleared = await client.patch(
        f"{alice.tasks_url}/{first['id']}", json={"tags": []}, headers=alice.headers
    )
    assert cleared.status_code == 200, cleared.text
    gone = await client.delete(f"{alice.tasks_url}/{third['id']}", headers=alice.headers)
    assert gone.status_code == 204
    assert await list_tags(client, alice) == {"data": [], "total": 0, "page": 1, "page_size": 20}


async def test_another_users_tags_are_never_seen(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    await make_task(alice, tags=["secret", "shared"])
    await make_task(alice, tags=["shared"])
    await make_task(bob, tags=["shared", "mine"])

    bobs = await list_tags(client, bob)
    assert bobs["data"] == [
        {"name": "mine", "task_count": 1},
        {"name": "shared", "task_count": 1},
    ]
    assert bobs["total"] == 2
    alices = await list_tags(client, alice)
    assert alices["data"] == [
        {"name": "secret", "task_count": 1},
        {"name": "shared", "task_count": 2},
    ]
    # Bob's page past the end still counts only his tags.
    beyond = await list_tags(client, bob, page=5, page_size=1)
    assert beyond == {"data": [], "total": 2, "page": 5, "page_size": 1}


async def test_authentication_and_path_owner(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    await make_task(bob, tags=["private"])

    forbidden = await client.get(tags_url(bob), headers=alice.headers)
    body = assert_error(forbidden, 403, "FORBIDDEN")
    assert "private" not in forbidden.text, body
    assert_error(await client.get(tags_url(alice)), 401, "UNAUTHORIZED")
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert_error(await client.get(tags_url(alice), headers=bad_token), 401, "UNAUTHORIZED")


async def test_pages(client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory) -> None:
    await make_task(alice, tags=["c", "a"])
    await make_task(alice, tags=["b", "a"])

    second = await list_tags(client, alice, page=2, page_size=1)
    assert second == {
        "data": [{"name": "b", "task_count": 1}],
        "total": 3,
        "page": 2,
        "page_size": 1,
    }
    last = await list_tags(client, alice, page=2, page_size=2)
    assert last == {"data": [{"name": "c", "task_count": 1}], "total": 3, "page": 2, "page_size": 2}
    walked = [
        tag["name"]
        for page in (1, 2, 3)
        for tag in (await list_tags(client, alice, page=page, page_size=1))["data"]
    ]
    assert walked == ["a", "b", "c"]

    past = await list_tags(client, alice, page=4, page_size=1)
    assert past == {"data": [], "total": 3, "page": 4, "page_size": 1}
    huge = await list_tags(client, alice, page=9_223_372_036_854_775_807, page_size=100)
    assert huge["data"] == [] and huge["total"] == 3
    widest = await list_tags(client, alice, page_size=100)
    assert [tag["name"] for tag in widest["data"]] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page_size": "-1"}, "page_size"),
    ],
)
async def test_invalid_query_is_422(
    client: httpx.AsyncClient, alice: ApiUser, params: dict[str, str], field: str
) -> None:
    response = await client.get(tags_url(alice), params=params, headers=alice.headers)
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert field in body.get("field_errors", {}), body


async def test_in_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operation = document["paths"]["/api/{user_id}/tags"]["get"]
    assert operation["operationId"] == "listTags"
    assert operation["tags"] == ["tags"]
    assert {"page", "page_size"} <= {
        parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "query"
    }
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/TagPage"}
    assert set(document["components"]["schemas"]["TagCount"]["properties"]) == {
        "name",
        "task_count",
    }
