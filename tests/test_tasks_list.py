"""Listing tasks (api.md "Listing", "Details that clients rely on").

The collection envelope, every filter, every sort key in both orders with
deliberate ties, tasks without a due date last, pagination, and that one
user's list never shows another user's tasks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from tests.helpers import ApiUser, list_tasks, listed_ids, sessionmaker_of
from todo_api.tasks.models import Task

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

D1 = "2026-05-01T10:00:00Z"
D2 = "2026-05-02T10:00:00Z"
D3 = "2026-05-03T10:00:00Z"


async def all_pages(
    client: httpx.AsyncClient, user: ApiUser, page_size: int, **params: Any
) -> list[int]:
    """Every id, walking the pages one by one."""
    ids: list[int] = []
    for page in range(1, 100):
        body = await list_tasks(client, user, page=page, page_size=page_size, **params)
        if not body["data"]:
            return ids
        assert len(body["data"]) <= page_size
        ids += [task["id"] for task in body["data"]]
    raise AssertionError(f"still not past the end after 99 pages of {page_size}")


# --- envelope and defaults ----------------------------------------------------------------


async def test_list_envelope_and_default_order_newest_first(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    empty = await list_tasks(client, alice)
    assert empty == {"data": [], "total": 0, "page": 1, "page_size": 20, "next_cursor": None}

    first = await make_task(alice, title="first", tags=["a"])
    second = await make_task(alice, title="second", due_date=D1)
    third = await make_task(alice, title="third", completed=True)

    body = await list_tasks(client, alice)

    assert set(body) == {"data", "total", "page", "page_size", "next_cursor"}
    assert body["total"] == 3
    assert body["page"] == 1
    assert body["page_size"] == 20
    assert body["data"] == [third, second, first]
    explicit = await list_tasks(client, alice, sort="created_at", order="desc")
    assert explicit["data"] == body["data"]


# --- filters ------------------------------------------------------------------------------


async def test_status_and_priority_filters(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    low = (await make_task(alice, title="low", priority="low"))["id"]
    done = (await make_task(alice, title="done", completed=True))["id"]
    high_one = (await make_task(alice, title="high one", priority="high"))["id"]
    high_done = (await make_task(alice, title="high done", priority="high", completed=True))["id"]

    assert await listed_ids(client, alice, status="pending") == [high_one, low]
    assert await listed_ids(client, alice, status="completed") == [high_done, done]
    assert await listed_ids(client, alice, status="all") == [high_done, high_one, done, low]
    assert await listed_ids(client, alice, priority="low") == [low]
    assert await listed_ids(client, alice, priority="medium") == [done]
    assert await listed_ids(client, alice, priority="high") == [high_done, high_one]
    assert await listed_ids(client, alice, priority="high", status="pending") == [high_one]

    reopened = await client.patch(f"{alice.tasks_url}/{done}/complete", headers=alice.headers)
    assert reopened.status_code == 200
    assert await listed_ids(client, alice, status="completed") == [high_done]
    assert await listed_ids(client, alice, status="pending") == [high_one, done, low]


async def test_repeated_parameter_takes_its_last_value_and_unknown_ones_are_ignored(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    await make_task(alice, title="pending")
    done = (await make_task(alice, title="done", completed=True))["id"]

    repeated = await client.get(
        alice.tasks_url,
        params=[("status", "pending"), ("status", "completed"), ("colour", "blue")],
        headers=alice.headers,
    )
    invalid_last = await client.get(
        alice.tasks_url, params=[("page", "1"), ("page", "0")], headers=alice.headers
    )

    assert repeated.status_code == 200, repeated.text
    assert [task["id"] for task in repeated.json()["data"]] == [done]
    assert invalid_last.status_code == 422
    assert list(invalid_last.json()["field_errors"]) == ["page"]


async def test_tag_filter_matches_case_insensitively(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    both = await make_task(alice, tags=["Home", "WORK"])
    work = await make_task(alice, tags=["work"])
    await make_task(alice, tags=["garden"])
    await make_task(alice, title="workhome, no tags")

    assert both["tags"] == ["home", "work"]
    for tag in ["work", "WORK", "Work", " work "]:
        assert await listed_ids(client, alice, tag=tag) == [work["id"], both["id"]], tag
    assert await listed_ids(client, alice, tag="HOME") == [both["id"]]
    assert await listed_ids(client, alice, tag="wor") == []
    assert await listed_ids(client, alice, tag="nothing") == []


async def test_q_searches_title_and_description_case_insensitively(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    in_title = await make_task(alice, title="Buy MILK")
    in_description = await make_task(alice, title="Call mom", description="About the Milk run")
    await make_task(alice, title="Walk the dog", description="m-i-l-k")

    for q in ["milk", "MILK", "mIlK", " milk "]:
        assert await listed_ids(client, alice, q=q) == [in_description["id"], in_title["id"]], q
    assert await listed_ids(client, alice, q="buy milk") == [in_title["id"]]
    assert await listed_ids(client, alice, q="milk run") == [in_description["id"]]
    assert await listed_ids(client, alice, q="cheese") == []


async def test_q_is_case_insensitive_beyond_ascii(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, title="ÉCOLE Straße café")
    await make_task(alice, title="ecole strasse cafe")

    for q in ["école", "École", "CAFÉ"]:
        assert await listed_ids(client, alice, q=q) == [task["id"]], q


WILDCARD_QUERIES = [
    ("%", "100% done"),
    ("0%", "100% done"),
    ("_", "snake_case"),
    ("e_c", "snake_case"),
    ("\\", "C:\\temp"),
    ("/", "and/or"),
    ("[a]", "list[a]"),
]


async def test_q_wildcard_characters_are_literals(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    titles = ["100% done", "snake_case", "C:\\temp", "and/or", "list[a]", "date check", "a0b"]
    ids = {title: (await make_task(alice, title=title))["id"] for title in titles}

    for q, matching_title in WILDCARD_QUERIES:
        with subtests.test(q=q):
            assert await listed_ids(client, alice, q=q) == [ids[matching_title]]


async def test_due_before_and_due_after_are_inclusive(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    first = (await make_task(alice, due_date=D1))["id"]
    second = (await make_task(alice, due_date=D2))["id"]
    third = (await make_task(alice, due_date=D3))["id"]
    await make_task(alice, title="no due date")

    cases: list[tuple[dict[str, str], list[int]]] = [
        ({"due_after": D2}, [third, second]),
        ({"due_before": D2}, [second, first]),
        ({"due_after": D2, "due_before": D2}, [second]),
        ({"due_after": D1, "due_before": D3}, [third, second, first]),
        ({"due_before": "2026-05-02T12:00:00+02:00"}, [second, first]),
        ({"due_after": "2026-05-02T10:00:00"}, [third, second]),
        ({"due_after": "2026-05-02T10:00:00.000001Z"}, [third]),
        ({"due_before": "2026-05-02T09:59:59.999999Z"}, [first]),
        ({"due_after": D3, "due_before": D1}, []),
    ]
    for params, expected in cases:
        assert await listed_ids(client, alice, **params) == expected, params


async def test_filters_combine(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    match = {"title": "Quarterly report", "priority": "high", "tags": ["work"], "due_date": D1}
    wanted = await make_task(alice, **match)
    await make_task(alice, **{**match, "completed": True})
    await make_task(alice, **{**match, "priority": "low"})
    await make_task(alice, **{**match, "tags": ["home"]})
    await make_task(alice, **{**match, "title": "Quarterly budget"})
    await make_task(alice, **{**match, "due_date": D3})
    await make_task(alice, **{**match, "due_date": None})

    body = await list_tasks(
        client,
        alice,
        status="pending",
        priority="high",
        tag="work",
        q="report",
        due_before=D2,
        due_after=D1,
    )

    assert body["data"] == [wanted]
    assert body["total"] == 1


async def test_list_never_contains_another_users_tasks(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, make_task: TaskFactory
) -> None:
    alices = [
        (await make_task(alice, title=f"shared word {i}", tags=["work"]))["id"] for i in range(2)
    ]
    bobs = [(await make_task(bob, title=f"shared word {i}", tags=["work"]))["id"] for i in range(3)]

    for params in [{}, {"tag": "work"}, {"q": "shared"}, {"status": "pending"}, {"sort": "title"}]:
        assert sorted(await listed_ids(client, alice, **params)) == alices, params
        assert sorted(await listed_ids(client, bob, **params)) == bobs, params
    assert (await list_tasks(client, alice, page_size=1))["total"] == 2


# --- sorting ------------------------------------------------------------------------------


async def _set_column(app: Any, column: str, values: dict[int, datetime]) -> None:
    """Give tasks chosen ``created_at``/``updated_at`` values (ties the API cannot make)."""
    async with sessionmaker_of(app).begin() as session:
        for task_id, value in values.items():
            await session.execute(
                update(Task).where(col(Task.id) == task_id).values({column: value})
            )


BASE = datetime(2026, 3, 1, 9, tzinfo=UTC)
TIME_OFFSETS = [2, 1, 1, 0]
"""Hours after ``BASE`` for four tasks made in id order: two tie, none in id order."""

SORT_CASES = [
    # sort key, the tasks' fields (made in id order), expected asc, expected desc (as indexes)
    pytest.param(
        "priority",
        [{"priority": p} for p in ["medium", "high", "low", "medium", "high"]],
        [2, 0, 3, 1, 4],
        [4, 1, 3, 0, 2],
        id="priority-by-rank",
    ),
    pytest.param(
        "title",
        [{"title": t} for t in ["banana", "apple", "banana", "cherry"]],
        [1, 0, 2, 3],
        [3, 2, 0, 1],
        id="title",
    ),
    pytest.param(
        "due_date",
        [{"due_date": d} for d in [D2, None, D1, D2, None]],
        [2, 0, 3, 1, 4],
        [3, 0, 2, 4, 1],
        id="due_date-nulls-last",
    ),
    pytest.param("created_at", [{}] * 4, [3, 1, 2, 0], [0, 2, 1, 3], id="created_at-and-created"),
    pytest.param("updated_at", [{}] * 4, [3, 1, 2, 0], [0, 2, 1, 3], id="updated_at"),
]


@pytest.mark.parametrize(("sort", "fields", "asc", "desc"), SORT_CASES)
async def test_sort_in_both_orders_with_ties_broken_by_id(
    client: httpx.AsyncClient,
    app: Any,
    alice: ApiUser,
    make_task: TaskFactory,
    sort: str,
    fields: list[dict[str, Any]],
    asc: list[int],
    desc: list[int],
) -> None:
    ids = [(await make_task(alice, **task))["id"] for task in fields]
    if sort in {"created_at", "updated_at"}:
        await _set_column(
            app,
            sort,
            {i: BASE + timedelta(hours=h) for i, h in zip(ids, TIME_OFFSETS, strict=True)},
        )

    for order, expected in [("asc", asc), ("desc", desc)]:
        want = [ids[i] for i in expected]
        assert await listed_ids(client, alice, sort=sort, order=order) == want, order
        assert await all_pages(client, alice, 2, sort=sort, order=order) == want, order
    assert await listed_ids(client, alice, sort=sort) == [ids[i] for i in desc]
    if sort == "created_at":
        for order, expected in [("asc", asc), ("desc", desc)]:
            want = [ids[i] for i in expected]
            assert await listed_ids(client, alice, sort="created", order=order) == want


async def test_updated_at_sort_follows_real_writes(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    first, second, third = [(await make_task(alice, title=t))["id"] for t in "abc"]
    touched = await client.patch(
        f"{alice.tasks_url}/{first}", json={"priority": "low"}, headers=alice.headers
    )
    assert touched.status_code == 200

    assert await listed_ids(client, alice, sort="updated_at", order="desc") == [
        first,
        third,
        second,
    ]
    assert await listed_ids(client, alice, sort="updated_at", order="asc") == [
        second,
        third,
        first,
    ]


# --- pagination ---------------------------------------------------------------------------


async def test_pagination(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    ids = [(await make_task(alice, title=f"task {i}"))["id"] for i in range(21)]
    newest_first = ids[::-1]

    default = await list_tasks(client, alice)
    assert [t["id"] for t in default["data"]] == newest_first[:20]
    assert (default["total"], default["page"], default["page_size"]) == (21, 1, 20)

    second = await list_tasks(client, alice, page=2)
    assert [t["id"] for t in second["data"]] == newest_first[20:]
    assert (second["total"], second["page"], second["page_size"]) == (21, 2, 20)

    third = await list_tasks(client, alice, page=3, page_size=5)
    assert [t["id"] for t in third["data"]] == newest_first[10:15]
    assert (third["total"], third["page"], third["page_size"]) == (21, 3, 5)

    assert await all_pages(client, alice, 4) == newest_first
    assert await all_pages(client, alice, 4, order="asc") == ids
    assert [
        t["id"] for t in (await list_tasks(client, alice, page_size=100))["data"]
    ] == newest_first
    assert [t["id"] for t in (await list_tasks(client, alice, page_size=1))["data"]] == ids[-1:]

    for page, page_size in [(2, 100), (6, 5), (22, 1), (1000, 20), (2**40, 2)]:
        past_end = await list_tasks(client, alice, page=page, page_size=page_size)
        assert past_end == {
            "data": [],
            "total": 21,
            "page": page,
            "page_size": page_size,
            "next_cursor": None,
        }
        filtered = await list_tasks(client, alice, page=page, page_size=page_size, q="task 1")
        assert filtered == {
            "data": [],
            "total": 11,
            "page": page,
            "page_size": page_size,
            "next_cursor": None,
        }
