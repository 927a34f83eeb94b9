"""Keyset pages (api.md "Listing", "Deep pages"): ``next_cursor`` and ``cursor``.

Following ``next_cursor`` visits the same tasks in the same order as the
numbered pages, for every sort and order, with and without filters; it stays
stable while tasks are created; ``page`` is ignored beside a cursor; and a
cursor that does not fit the query, or is altered, malformed or signed
elsewhere, is 422 ``field_errors.cursor``, never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.conftest import SECRET, make_settings
from tests.helpers import ApiUser, assert_error, list_tasks, sessionmaker_of
from todo_api.auth.tokens import issue_access_token
from todo_api.kit.cursors import CursorSigner
from todo_api.main import close_resources, create_app
from todo_api.resources import app_resources
from todo_api.tasks.models import Task
from todo_api.tasks.repository import list_statements
from todo_api.tasks.schemas import TaskQuery

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

SORTS = ["created_at", "updated_at", "due_date", "priority", "title", "position"]
ORDERS = ["asc", "desc"]
TASK_COUNT = 23
PAGE_SIZE = 5
DUE_DATES = ["2026-05-01T10:00:00Z", "2026-05-02T10:00:00Z", "2026-05-03T10:00:00Z"]
TITLES = ["apple", "Apple", "banana", "Cherry", "cherry", "APPLE", "date", "Banana"]
"""Mixed case, with titles equal but for case: ties broken by ``id``."""
BASE = datetime(2026, 3, 1, 9, tzinfo=UTC)
OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256-9876543210"


# --- helpers ------------------------------------------------------------------------------


def ids_of(body: dict[str, Any]) -> list[int]:
    return [task["id"] for task in body["data"]]


async def numbered_pages(
    client: httpx.AsyncClient, user: ApiUser, page_size: int, **params: Any
) -> list[dict[str, Any]]:
    """Pages 1, 2, ... by number, up to the last one that has tasks."""
    pages: list[dict[str, Any]] = []
    for page in range(1, 200):
        body = await list_tasks(client, user, page=page, page_size=page_size, **params)
        if not body["data"]:
            return pages
        pages.append(body)
    raise AssertionError("still not past the end after 199 pages")


async def cursor_pages(
    client: httpx.AsyncClient, user: ApiUser, page_size: int, **params: Any
) -> list[dict[str, Any]]:
    """The first page, then every page its ``next_cursor`` leads to, to the end."""
    pages = [await list_tasks(client, user, page_size=page_size, **params)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages) < 200, "next_cursor never ends"
        cursor = pages[-1]["next_cursor"]
        pages.append(await list_tasks(client, user, page_size=page_size, cursor=cursor, **params))
    return pages


def flat_ids(pages: list[dict[str, Any]]) -> list[int]:
    return [task_id for page in pages for task_id in ids_of(page)]


async def _set_times(app: Any, values: dict[int, datetime]) -> None:
    """Give tasks chosen ``created_at`` and ``updated_at`` (ties the API cannot make)."""
    async with sessionmaker_of(app).begin() as session:
        for task_id, value in values.items():
            await session.execute(
                update(Task)
                .where(col(Task.id) == task_id)
                .values(created_at=value, updated_at=value + timedelta(minutes=task_id % 3))
            )


async def create_list(client: httpx.AsyncClient, user: ApiUser, name: str) -> int:
    response = await client.post(f"/api/{user.id}/lists", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    list_id: int = response.json()["data"]["id"]
    return list_id


async def make_mixed_tasks(
    client: httpx.AsyncClient, app: Any, user: ApiUser, make_task: TaskFactory
) -> dict[str, Any]:
    """``TASK_COUNT`` tasks with ties in every sort key: mixed-case titles, repeated
    priorities and due dates (some none), equal times, two lists and subtasks (equal
    positions among different siblings). Returns their ids and the second list's id."""
    other_list = await create_list(client, user, "Errands")
    ids: list[int] = []
    parent: int | None = None
    for i in range(TASK_COUNT):
        fields: dict[str, Any] = {
            "title": TITLES[i % len(TITLES)],
            "description": "has the needle" if i % 3 == 1 else None,
            "priority": ["low", "medium", "high"][i % 3],
            "due_date": None if i % 4 == 0 else DUE_DATES[i % 3],
            "completed": i % 5 == 0,
            "tags": ["even"] if i % 2 == 0 else [],
        }
        if i % 5 == 1:
            fields["list_id"] = other_list
        elif i in {7, 8, 9, 14}:
            fields["parent_id"] = parent
        task = await make_task(user, **fields)
        if i == 2:
            parent = task["id"]
        ids.append(task["id"])
    await _set_times(app, {task_id: BASE + timedelta(hours=i % 6) for i, task_id in enumerate(ids)})
    return {"ids": ids, "list_id": other_list, "parent_id": parent}


async def a_cursor(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> str:
    """The ``next_cursor`` of the first page of 2 of ``params``."""
    body = await list_tasks(client, user, page_size=2, **params)
    cursor = body["next_cursor"]
    assert isinstance(cursor, str) and cursor, body
    return cursor


def changed_at(text: str, index: int) -> str:
    """``text`` with its character at ``index`` replaced by another URL-safe one."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


# --- cursor pages are the numbered pages --------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("sort", SORTS)
async def test_following_next_cursor_visits_the_numbered_pages_in_order(
    client: httpx.AsyncClient,
    app: Any,
    alice: ApiUser,
    make_task: TaskFactory,
    sort: str,
    order: str,
) -> None:
    """For each sort and order, over ties in every key: the cursor pages hold the ids
    of pages 1..5 by number, page for page; every page's ``total`` is the true total;
    ``next_cursor`` is set on every page but the last, null on the last; and a page
    size that divides the total exactly (23 of 23, 1 of 23) ends with null, not with
    an empty extra page."""
    made = await make_mixed_tasks(client, app, alice, make_task)
    params = {"sort": sort, "order": order}

    by_number = await numbered_pages(client, alice, PAGE_SIZE, **params)
    by_cursor = await cursor_pages(client, alice, PAGE_SIZE, **params)

    assert len(by_number) == 5
    assert [ids_of(page) for page in by_cursor] == [ids_of(page) for page in by_number]
    assert sorted(flat_ids(by_cursor)) == sorted(made["ids"])
    assert [page["total"] for page in by_cursor] == [TASK_COUNT] * 5
    assert [page["total"] for page in by_number] == [TASK_COUNT] * 5
    assert [page["next_cursor"] is None for page in by_cursor] == [False] * 4 + [True]
    assert [page["next_cursor"] is None for page in by_number] == [False] * 4 + [True]

    whole = await cursor_pages(client, alice, TASK_COUNT, **params)
    assert len(whole) == 1 and whole[0]["next_cursor"] is None
    assert ids_of(whole[0]) == flat_ids(by_number)
    one_by_one = await cursor_pages(client, alice, 1, **params)
    assert [ids_of(page) for page in one_by_one] == [[task_id] for task_id in flat_ids(by_number)]
    assert all(page["total"] == TASK_COUNT for page in one_by_one)


FILTERS = [
    pytest.param({"status": "pending"}, id="status-pending"),
    pytest.param({"tag": "even"}, id="tag"),
    pytest.param({"list_id": "list"}, id="list_id"),
    pytest.param({"q": "NEEDLE"}, id="q"),
    pytest.param({"parent_id": "none"}, id="parent_id-none"),
    pytest.param({"parent_id": "parent"}, id="parent_id-task"),
    pytest.param({"status": "completed", "sort": "title", "order": "asc"}, id="completed-title"),
    pytest.param({"priority": "high", "sort": "due_date"}, id="priority-due_date"),
]


@pytest.mark.parametrize("filters", FILTERS)
async def test_cursor_pages_with_filters_are_the_numbered_pages(
    client: httpx.AsyncClient,
    app: Any,
    alice: ApiUser,
    make_task: TaskFactory,
    filters: dict[str, str],
) -> None:
    """With a filter, the cursor pages (of 2) hold the numbered pages' ids, page for
    page, and every page's ``total`` is the filtered total."""
    made = await make_mixed_tasks(client, app, alice, make_task)
    params = dict(filters)
    if params.get("list_id") == "list":
        params["list_id"] = made["list_id"]
    if params.get("parent_id") == "parent":
        params["parent_id"] = made["parent_id"]
    everything = await list_tasks(client, alice, page_size=100, **params)
    expected = ids_of(everything)
    assert 3 <= len(expected) < TASK_COUNT, expected

    by_number = await numbered_pages(client, alice, 2, **params)
    by_cursor = await cursor_pages(client, alice, 2, **params)

    assert [ids_of(page) for page in by_cursor] == [ids_of(page) for page in by_number]
    assert flat_ids(by_cursor) == expected
    assert {page["total"] for page in by_cursor} == {len(expected)}
    assert by_cursor[-1]["next_cursor"] is None


@pytest.mark.parametrize(
    ("sort", "order"), [("created_at", "desc"), ("due_date", "asc"), ("title", "desc")]
)
async def test_a_search_gives_the_same_pages_whether_it_sorts_its_matches_or_walks_the_order(
    client: httpx.AsyncClient,
    app: Any,
    alice: ApiUser,
    make_task: TaskFactory,
    monkeypatch: pytest.MonkeyPatch,
    sort: str,
    order: str,
) -> None:
    """A search reads its matches and sorts them when they are few among the user's
    tasks, and walks the list's order when they are many
    (``list_statements._searched_page``): with the line between the two moved so
    that 8 matches of 23 tasks take one branch, then the other, the numbered and
    the cursor pages hold the same tasks in the same order, with the same ``total``."""
    await make_mixed_tasks(client, app, alice, make_task)
    params = {"q": "needle", "sort": sort, "order": order}

    async def pages(share: int) -> tuple[list[list[int]], list[list[int]], set[int]]:
        monkeypatch.setattr(list_statements, "WALKED_SEARCH_SHARE", share)
        list_statements.list_statements.cache_clear()  # the share is built into the statement
        shape = list_statements.shape_of(TaskQuery.model_validate(params), None)
        statement, _total = list_statements.list_statements(shape, "sqlite")
        assert share in statement.compile().params.values()
        by_number = await numbered_pages(client, alice, 2, **params)
        by_cursor = await cursor_pages(client, alice, 2, **params)
        totals = {page["total"] for page in [*by_number, *by_cursor]}
        return [ids_of(page) for page in by_number], [ids_of(page) for page in by_cursor], totals

    sorted_matches = await pages(0)  # 8 * 0 < 23: sorted
    walked = await pages(10**6)  # 8 * 10**6 >= 23: walked
    list_statements.list_statements.cache_clear()

    assert sorted_matches[2] == {sum(len(page) for page in sorted_matches[0])} == {8}
    assert walked == sorted_matches
    assert sorted_matches[1] == sorted_matches[0]


# --- stable under inserts -----------------------------------------------------------------


async def test_newest_first_cursor_skips_tasks_created_after_the_first_page(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``created_at desc``: tasks created after the first page was read sort before the
    cursor, so the following pages show every older task exactly once, in order, and
    none of the new ones; ``total`` counts them."""
    older = [(await make_task(alice, title=f"old {i}"))["id"] for i in range(12)]
    first = await list_tasks(client, alice, page_size=PAGE_SIZE)
    assert ids_of(first) == older[::-1][:PAGE_SIZE]
    newer = [(await make_task(alice, title=f"new {i}"))["id"] for i in range(10)]

    pages = [first]
    while pages[-1]["next_cursor"] is not None:
        cursor = pages[-1]["next_cursor"]
        pages.append(await list_tasks(client, alice, page_size=PAGE_SIZE, cursor=cursor))

    assert flat_ids(pages) == older[::-1]
    assert not set(flat_ids(pages)) & set(newer)
    assert [page["total"] for page in pages[1:]] == [22] * (len(pages) - 1)


async def test_manual_order_cursor_shows_tasks_created_after_the_first_page_at_the_end(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``sort=position asc`` in one list: tasks created after the first page go last
    among their siblings, so the following pages show every older task once, in
    order, then the new ones in the order they were made."""
    list_id = await create_list(client, alice, "Plan")
    older = [(await make_task(alice, title=f"old {i}", list_id=list_id))["id"] for i in range(12)]
    params = {"sort": "position", "order": "asc", "list_id": list_id, "page_size": PAGE_SIZE}
    first = await list_tasks(client, alice, **params)
    assert ids_of(first) == older[:PAGE_SIZE]
    newer = [(await make_task(alice, title=f"new {i}", list_id=list_id))["id"] for i in range(10)]

    pages = [first]
    while pages[-1]["next_cursor"] is not None:
        pages.append(await list_tasks(client, alice, cursor=pages[-1]["next_cursor"], **params))

    assert flat_ids(pages) == older + newer
    assert [page["total"] for page in pages[1:]] == [22] * (len(pages) - 1)


async def test_page_is_ignored_when_a_cursor_is_given(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``page=999`` beside a cursor returns the page after the cursor, as without it."""
    ids = [(await make_task(alice, title=f"task {i}"))["id"] for i in range(7)]
    cursor = await a_cursor(client, alice)

    with_page = await list_tasks(client, alice, page_size=2, cursor=cursor, page=999)
    without_page = await list_tasks(client, alice, page_size=2, cursor=cursor)

    assert ids_of(with_page) == ids[::-1][2:4]
    assert ids_of(with_page) == ids_of(without_page)
    assert with_page["total"] == 7
    assert with_page["next_cursor"] is not None


async def test_the_page_size_may_change_between_cursor_pages(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A cursor says where the next page starts, not how long it is: a cursor from a
    page of 2 followed with ``page_size=3`` gives the next three tasks."""
    ids = [(await make_task(alice, title=f"task {i}"))["id"] for i in range(7)]
    cursor = await a_cursor(client, alice)

    body = await list_tasks(client, alice, page_size=3, cursor=cursor)

    assert ids_of(body) == ids[::-1][2:5]


# --- refused cursors ----------------------------------------------------------------------


async def assert_cursor_refused(
    client: httpx.AsyncClient, user: ApiUser, cursor: str, **params: Any
) -> None:
    response = await client.get(
        user.tasks_url, params={"cursor": cursor, **params}, headers=user.headers
    )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert list(body.get("field_errors", {})) == ["cursor"], body


MISMATCHED_QUERIES = [
    pytest.param({"sort": "title"}, id="another-sort"),
    pytest.param({"sort": "due_date"}, id="another-sort-due_date"),
    pytest.param({"order": "asc"}, id="another-order"),
    pytest.param({"status": "pending"}, id="another-status"),
    pytest.param({"q": "task"}, id="a-q"),
    pytest.param({"tag": "work"}, id="a-tag"),
    pytest.param({"priority": "medium"}, id="a-priority"),
    pytest.param({"parent_id": "none"}, id="a-parent_id"),
    pytest.param({"due_before": "2030-01-01T00:00:00Z"}, id="a-due_before"),
]


@pytest.mark.parametrize("params", MISMATCHED_QUERIES)
async def test_a_cursor_of_another_query_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, params: dict[str, str]
) -> None:
    """A cursor made for ``created_at desc`` without filters, sent with another sort,
    order or filter, is 422 ``field_errors.cursor``."""
    for i in range(5):
        await make_task(alice, title=f"task {i}", tags=["work"])
    cursor = await a_cursor(client, alice)

    await assert_cursor_refused(client, alice, cursor, **params)


async def test_a_cursor_made_with_a_filter_is_refused_without_it(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A cursor made with ``status=pending`` and ``q`` is 422 without them, or with
    another ``q``."""
    for i in range(5):
        await make_task(alice, title=f"task {i}")
    cursor = await a_cursor(client, alice, status="pending", q="task")

    await assert_cursor_refused(client, alice, cursor)
    await assert_cursor_refused(client, alice, cursor, status="pending")
    await assert_cursor_refused(client, alice, cursor, status="pending", q="tas")
    fitting = await list_tasks(
        client, alice, page_size=2, cursor=cursor, status="pending", q="task"
    )
    assert len(fitting["data"]) == 2


async def test_another_users_cursor_is_422_on_their_own_path(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    """Alice's cursor sent by Bob on his own path, with the same query, is 422."""
    for user in (alice, bob):
        for i in range(5):
            await make_task(user, title=f"task {i}")
    cursor = await a_cursor(client, alice)

    await assert_cursor_refused(client, bob, cursor)


async def test_an_altered_cursor_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """One character changed in the payload, or in the signature, or the signature
    dropped, swapped or duplicated: 422 ``field_errors.cursor``."""
    for i in range(5):
        await make_task(alice, title=f"task {i}")
    cursor = await a_cursor(client, alice)
    payload, signature = cursor.rsplit(".", 1)
    other = await a_cursor(client, alice, order="asc")
    _, other_signature = other.rsplit(".", 1)

    altered = [
        changed_at(cursor, 0),
        changed_at(cursor, len(payload) // 2),
        changed_at(cursor, len(payload) - 1),
        changed_at(cursor, len(payload) + 1),
        changed_at(cursor, len(payload) + len(signature) // 2),
        payload,
        payload + ".",
        f"{payload}.{other_signature}",
        f"{cursor}.{signature}",
        cursor + "A",
    ]
    for bad in altered:
        assert bad != cursor
        await assert_cursor_refused(client, alice, bad)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("abc", id="abc"),
        pytest.param(".", id="dot"),
        pytest.param("a.b", id="a.b"),
        pytest.param("x" * 3000, id="3000-chars"),
        pytest.param("é.ü", id="non-ascii"),
    ],
)
async def test_a_garbage_cursor_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, cursor: str
) -> None:
    """A cursor that was never a ``next_cursor`` (short, empty, too long, non-ASCII)
    is 422 ``field_errors.cursor``, not a first page and not a 500."""
    await make_task(alice)

    await assert_cursor_refused(client, alice, cursor)


@pytest.fixture
async def other_secret_client(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A client of a second app on the same database with another ``BETTER_AUTH_SECRET``."""
    database_url = app_resources(app).settings.database_url
    other = create_app(make_settings(database_url, better_auth_secret=OTHER_SECRET))
    try:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, other
    finally:
        await close_resources(other)


async def test_a_cursor_signed_under_another_secret_is_422(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    other_secret_client: tuple[httpx.AsyncClient, Any],
) -> None:
    """A cursor made by an app with another ``BETTER_AUTH_SECRET``, for the same user
    and query on the same database, is 422 here (and ours is 422 there)."""
    for i in range(5):
        await make_task(alice, title=f"task {i}")
    other_client, other_app = other_secret_client
    token, _ = issue_access_token(
        user_id=alice.id,
        email=alice.email,
        name="Alice",
        settings=app_resources(other_app).settings,
    )
    alice_there = ApiUser(id=alice.id, email=alice.email, token=token)
    theirs = await a_cursor(other_client, alice_there)
    ours = await a_cursor(client, alice)
    assert theirs != ours

    await assert_cursor_refused(client, alice, theirs)
    await assert_cursor_refused(other_client, alice_there, ours)
    there = await list_tasks(other_client, alice_there, page_size=2, cursor=theirs)
    assert len(there["data"]) == 2


WRONG_KEYS = [
    pytest.param("created_at", {"k": 123}, id="created_at-k-int"),
    pytest.param("created_at", {"k": None}, id="created_at-k-null"),
    pytest.param("created_at", {"k": "yesterday"}, id="created_at-k-not-a-date"),
    pytest.param("created_at", {"k": ["2026-03-01T09:00:00+00:00"]}, id="created_at-k-list"),
    pytest.param("created_at", {"k": {"a": 1}}, id="created_at-k-object"),
    pytest.param("created_at", {"i": "x"}, id="i-string"),
    pytest.param("created_at", {"i": -1}, id="i-negative"),
    pytest.param("created_at", {"i": 0}, id="i-zero"),
    pytest.param("created_at", {"i": 1.5}, id="i-float"),
    pytest.param("created_at", {"i": True}, id="i-bool"),
    pytest.param("created_at", {"i": None}, id="i-null"),
    pytest.param(
        "created_at",
        {"i": 2**63},
        id="i-beyond-bigint",
    ),
    pytest.param(
        "created_at",
        {"k": "9999-12-31T23:59:59-12:00"},
        id="created_at-k-beyond-9999",
    ),
    pytest.param("due_date", {"k": 123}, id="due_date-k-int"),
    pytest.param("priority", {"k": "urgent"}, id="priority-k-unknown"),
    pytest.param("priority", {"k": 3}, id="priority-k-int"),
    pytest.param("title", {"k": 123}, id="title-k-int"),
    pytest.param("title", {"k": None}, id="title-k-null"),
    pytest.param("position", {"k": False}, id="position-k-bool"),
]


@pytest.mark.parametrize(("sort", "change"), WRONG_KEYS)
async def test_a_well_signed_cursor_with_a_key_of_the_wrong_type_is_422(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    sort: str,
    change: dict[str, Any],
) -> None:
    """A payload signed with the app's own key, copied from a real cursor of the same
    query but with its sort key ``k`` or id ``i`` of the wrong type or out of range:
    422 ``field_errors.cursor``, never a 500."""
    for i in range(5):
        await make_task(alice, title=f"task {i}", due_date=f"2026-05-0{i + 1}T10:00:00Z")
    signer = CursorSigner(SECRET)
    real = await a_cursor(client, alice, sort=sort)
    payload = signer.payload(real)
    assert payload is not None and set(payload) == {"u", "s", "o", "f", "k", "i"}, payload
    resigned = await list_tasks(client, alice, page_size=2, sort=sort, cursor=signer.sign(payload))
    assert len(resigned["data"]) == 2

    await assert_cursor_refused(client, alice, signer.sign({**payload, **change}), sort=sort)


async def test_a_well_signed_cursor_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """A signed JSON list, string or number, or an object without ``k`` and ``i``: 422."""
    for i in range(5):
        await make_task(alice, title=f"task {i}")
    signer = CursorSigner(SECRET)
    payload = signer.payload(await a_cursor(client, alice))
    assert payload is not None
    not_objects: list[Any] = [[1, 2], "cursor", 7, None]

    for value in not_objects:
        await assert_cursor_refused(client, alice, signer.sign(value))
    without_key = {name: value for name, value in payload.items() if name != "k"}
    without_id = {name: value for name, value in payload.items() if name != "i"}
    for partial in (without_key, without_id):
        await assert_cursor_refused(client, alice, signer.sign(partial))


# --- OpenAPI ------------------------------------------------------------------------------


async def test_openapi_documents_cursor_and_next_cursor(client: httpx.AsyncClient) -> None:
    """The list operation takes a ``cursor`` query parameter; ``TaskPage`` has
    ``next_cursor``, required, a string or null."""
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/{user_id}/tasks"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["cursor"]["in"] == "query"
    assert parameters["cursor"].get("required", False) is False

    page = document["components"]["schemas"]["TaskPage"]
    assert "next_cursor" in page["properties"]
    assert "next_cursor" in page.get("required", [])
    types = {option.get("type") for option in page["properties"]["next_cursor"].get("anyOf", [])}
    assert types == {"string", "null"}


async def test_an_empty_cursor_asks_for_nothing_the_first_page(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    """``cursor=`` (empty, as ``q=``) is no cursor: 200 with the first page."""
    for n in range(3):
        await make_task(alice, title=f"T{n}")
    response = await client.get(f"{alice.tasks_url}?cursor=&page_size=2", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 2
    assert response.json()["next_cursor"] is not None
