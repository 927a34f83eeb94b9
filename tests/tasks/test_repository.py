"""``todo_api.tasks.repository`` on the database itself, on both backends.

Tasks are made with the repository (``store_tags``, ``insert_task``,
``link_tags``, as ``tasks.service.create_task`` does) and read back with it.
Every function filters on the owner: another user's task is not found, and a
write naming another user's task changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import ApiUser
from todo_api.kit.database import Statements
from todo_api.resources import app_resources
from todo_api.tasks import repository
from todo_api.tasks.models import Priority
from todo_api.tasks.repository import (
    TOGGLE,
    Place,
    StoredTask,
    TaskChange,
    Toggle,
    Written,
)
from todo_api.tasks.schemas import Task, TaskQuery

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNKNOWN_ID = 2**40


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def task_columns(user_id: str, **overrides: Any) -> dict[str, Any]:
    """Every column but ``id``, as ``create_task`` gives them."""
    columns: dict[str, Any] = {
        "user_id": user_id,
        "title": "A task",
        "description": None,
        "completed": False,
        "completed_at": None,
        "priority": Priority.medium,
        "due_date": None,
        "version": 1,
        "created_at": T0,
        "updated_at": T0,
    }
    return {**columns, **overrides}


def public(task_id: int, place: Place, columns: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    """The fields a read gives for a task of these columns, place and tags."""
    stored = {k: v for k, v in columns.items() if k != "version"}
    return {"id": task_id, **place._asdict(), **stored, "tags": tags}


async def add_placed(
    app: Any, user_id: str, tags: Sequence[str] = (), **overrides: Any
) -> tuple[int, Place]:
    """Store a task in the user's inbox; its id and place."""
    async with app_resources(app).database.atomic_write() as db:
        created = await repository.create_task(
            db, task_columns(user_id, **overrides), list(tags), None, None
        )
    assert created is not None
    return created


async def add(app: Any, user_id: str, tags: Sequence[str] = (), **overrides: Any) -> int:
    return (await add_placed(app, user_id, tags, **overrides))[0]


async def read(app: Any, user_id: str, task_id: int) -> StoredTask | None:
    async with app_resources(app).database.reading() as db:
        return await repository.find_task(db, user_id, task_id)


async def listed(app: Any, user_id: str, **query: Any) -> tuple[list[int], int]:
    """The ids on one page of ``list_page``, and its total."""
    async with app_resources(app).database.reading() as db:
        tasks, total, _ = await repository.list_page(db, user_id, TaskQuery(**query))
    return [task["id"] for task in tasks], total


# --- reads -----------------------------------------------------------------------


async def test_inserted_task_reads_back_whole_and_locks(app: Any, alice: ApiUser) -> None:
    given: dict[str, Any] = {
        "title": "Buy milk",
        "description": "Two litres",
        "completed": True,
        "completed_at": day(1),
        "priority": Priority.high,
        "due_date": day(2),
        "version": 3,
        "updated_at": day(1),
    }
    task_id, place = await add_placed(app, alice.id, ["zeta", "alpha", "mid"], **given)
    expected = public(task_id, place, task_columns(alice.id, **given), ["zeta", "alpha", "mid"])

    async with app_resources(app).database.unit_of_work() as db:
        stored = await repository.find_task(db, alice.id, task_id)
        page, total, _ = await repository.list_page(db, alice.id, TaskQuery())
        locked = await repository.lock_task(db, alice.id, task_id)

    assert stored is not None
    assert (stored.id, stored.version, stored.fields) == (task_id, 3, expected)
    assert list(stored.fields) == list(Task.model_fields)
    assert (page, total) == ([expected], 1)
    assert locked is not None
    assert locked.columns == {"id": task_id, **place._asdict(), **task_columns(alice.id, **given)}
    assert locked.tags == ["zeta", "alpha", "mid"]


async def test_task_without_tags_has_empty_tags(app: Any, alice: ApiUser) -> None:
    task_id = await add(app, alice.id)
    async with app_resources(app).database.unit_of_work() as db:
        locked = await repository.lock_task(db, alice.id, task_id)
        stored = await repository.find_task(db, alice.id, task_id)
        page, _, _ = await repository.list_page(db, alice.id, TaskQuery())

    assert locked is not None and stored is not None
    assert locked.tags == stored.fields["tags"] == page[0]["tags"] == []


@pytest.mark.parametrize("whose", ["another user's", "unknown"])
async def test_task_by_id_and_lock_task_find_only_own_task(
    app: Any, alice: ApiUser, bob: ApiUser, whose: str
) -> None:
    task_id = await add(app, alice.id, ["home"])
    user_id, wanted = (bob.id, task_id) if whose == "another user's" else (alice.id, UNKNOWN_ID)
    async with app_resources(app).database.unit_of_work() as db:
        assert await repository.find_task(db, user_id, wanted) is None
        assert await repository.lock_task(db, user_id, wanted) is None
    assert await read(app, alice.id, task_id) is not None


# --- writes ----------------------------------------------------------------------


async def write_change(
    app: Any, user_id: str, task_id: int, change: TaskChange, versions: list[int] | None = None
) -> Written | None:
    async with app_resources(app).database.atomic_write() as db:
        return await repository.write_task(db, user_id, task_id, change, versions, day(5))


async def test_write_task_writes_the_change_as_the_next_version_once(
    app: Any, alice: ApiUser
) -> None:
    task_id, place = await add_placed(app, alice.id, ["home"], title="Old", description="old")
    fields = {"title": "New", "description": None, "priority": Priority.low, "due_date": day(6)}
    change = TaskChange(fields, completed=True, tags=["work", "home"])

    written = await write_change(app, alice.id, task_id, change)
    again = await write_change(app, alice.id, task_id, change)  # changes nothing

    changed = {**fields, "completed": True, "completed_at": day(5), "updated_at": day(5)}
    expected = public(task_id, place, task_columns(alice.id, **changed), ["work", "home"])
    assert written is not None and not written.refused
    assert (written.task.fields, written.task.version) == (expected, 2)
    assert again is not None and (again.task.fields, again.task.version) == (expected, 2)
    stored = await read(app, alice.id, task_id)
    assert stored is not None and (stored.fields, stored.version) == (expected, 2)


async def test_write_task_refused_by_the_version_writes_nothing(app: Any, alice: ApiUser) -> None:
    task_id = await add(app, alice.id, ["home"])
    before = await read(app, alice.id, task_id)

    refused = await write_change(app, alice.id, task_id, TaskChange({"title": "x"}), [7])
    allowed = await write_change(app, alice.id, task_id, TaskChange({"title": "x"}), [7, 1])

    assert refused is not None and refused.refused and refused.task == before
    assert allowed is not None and not allowed.refused and allowed.task.version == 2


@pytest.mark.parametrize(("completed", "then"), [(True, True), (False, False), (TOGGLE, True)])
async def test_write_task_sets_completed_at_only_when_completion_changes(
    app: Any, alice: ApiUser, completed: bool | Toggle, then: bool
) -> None:
    task_id = await add(app, alice.id)

    written = await write_change(app, alice.id, task_id, TaskChange({}, completed=completed))

    assert written is not None
    assert written.task.fields["completed"] is then
    assert written.task.fields["completed_at"] == (day(5) if then else None)
    assert written.task.version == (2 if then else 1)


async def test_delete_task_removes_it_and_its_tag_links(app: Any, alice: ApiUser) -> None:
    gone = await add(app, alice.id, ["home", "work"])
    kept = await add(app, alice.id, ["home"])
    async with app_resources(app).database.atomic_write() as db:
        assert await repository.delete_task(db, alice.id, gone, None) is True

    assert await read(app, alice.id, gone) is None
    assert await listed(app, alice.id) == ([kept], 1)
    assert await listed(app, alice.id, tag=["home"]) == ([kept], 1)
    assert await listed(app, alice.id, tag=["work"]) == ([], 0)


@pytest.mark.parametrize(
    ("new_tags", "expected"),
    [
        (["work", "home"], ["work", "home"]),  # a new tag first, an old one kept
        (["c", "b", "a"], ["c", "b", "a"]),
        ([], []),
    ],
)
async def test_replace_tags_makes_tags_exactly_those_given(
    app: Any, alice: ApiUser, new_tags: list[str], expected: list[str]
) -> None:
    task_id = await add(app, alice.id, ["home", "errands"])
    other = await add(app, alice.id, ["errands"])
    async with app_resources(app).database.unit_of_work() as db:
        await repository.replace_tags(db, alice.id, task_id, new_tags)

    stored = await read(app, alice.id, task_id)
    assert stored is not None and stored.fields["tags"] == expected
    assert await listed(app, alice.id, tag=["errands"]) == ([other], 1)
    for tag in {"home", "errands", *new_tags}:
        assert (task_id in (await listed(app, alice.id, tag=[tag]))[0]) == (tag in expected), tag


async def write(db: Statements, function: str, user_id: str, task_id: int) -> None:
    """Call the write ``function`` as ``user_id`` on ``task_id``."""
    if function == "write_task":
        change = TaskChange({"title": "Taken over"}, completed=TOGGLE, tags=["intruder"])
        assert await repository.write_task(db, user_id, task_id, change, None, day(9)) is None
    elif function == "delete_task":
        assert await repository.delete_task(db, user_id, task_id, None) is None
    else:
        await repository.store_tags(db, user_id, ["intruder"])
        await getattr(repository, function)(db, user_id, task_id, ["intruder"])


@pytest.mark.parametrize(
    ("function", "target"),
    [
        ("write_task", "another user's"),
        ("write_task", "unknown"),
        ("delete_task", "another user's"),
        ("delete_task", "unknown"),
        ("replace_tags", "another user's"),
        ("link_tags", "another user's"),
    ],
)
async def test_write_naming_another_owner_changes_nothing(
    app: Any, alice: ApiUser, bob: ApiUser, function: str, target: str
) -> None:
    task_id = await add(app, alice.id, ["home"], title="Alice's")
    before = await read(app, alice.id, task_id)
    assert before is not None
    user_id, wanted = (bob.id, task_id) if target == "another user's" else (alice.id, UNKNOWN_ID)
    async with app_resources(app).database.unit_of_work() as db:
        await write(db, function, user_id, wanted)

    assert await read(app, alice.id, task_id) == before
    assert await listed(app, alice.id, tag=["home"]) == ([task_id], 1)
    assert await listed(app, bob.id) == ([], 0)


async def test_link_tags_links_only_the_users_stored_tags(
    app: Any, alice: ApiUser, bob: ApiUser
) -> None:
    async with app_resources(app).database.unit_of_work() as db:
        await repository.store_tags(db, bob.id, ["bobs", "mine"])  # bob's "mine" is not alice's
        await repository.store_tags(db, alice.id, ["mine", "also"])
        await repository.store_tags(db, alice.id, ["also", "mine"])  # stored once only
        created = await repository.create_task(db, task_columns(alice.id), [], None, None)
        assert created is not None
        task_id = created[0]
        await repository.link_tags(db, alice.id, task_id, ["mine", "bobs", "never-stored", "also"])
        await repository.store_tags(db, alice.id, [])
        await repository.link_tags(db, alice.id, task_id, [])

    stored = await read(app, alice.id, task_id)
    assert stored is not None and stored.fields["tags"] == ["mine", "also"]
    assert await listed(app, bob.id, tag=["bobs"]) == ([], 0)
    assert await listed(app, bob.id, tag=["mine"]) == ([], 0)
    assert await listed(app, alice.id, tag=["mine"]) == ([task_id], 1)


# --- the list --------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters", [{}, {"status": "completed"}, {"q": "task"}, {"priority": "medium"}]
)
async def test_page_past_the_end_is_empty_with_the_true_total(
    app: Any, alice: ApiUser, filters: dict[str, Any]
) -> None:
    # Three tags each: a page holds page_size tasks, not page_size rows of task and tag.
    ids = [await add(app, alice.id, "xyz", completed=True, created_at=day(n)) for n in range(3)]

    assert await listed(app, alice.id, page=1, page_size=2, **filters) == ([ids[2], ids[1]], 3)
    assert await listed(app, alice.id, page=2, page_size=2, **filters) == ([ids[0]], 3)
    assert await listed(app, alice.id, page=3, page_size=2, **filters) == ([], 3)
    assert await listed(app, alice.id, page=99, page_size=100, **filters) == ([], 3)


CATALOG: dict[str, dict[str, Any]] = {
    "milk": {"description": "100% fresh", "priority": Priority.high, "due_date": day(0)},
    "pay": {"description": "50_percent", "completed": True, "due_date": day(9)},
    "call": {"description": "about the 1000 plan", "priority": Priority.low},
    "read": {"description": "chapter_1/2", "priority": Priority.high, "due_date": day(4)},
}
CATALOG_TAGS = {"milk": ["home", "errands"], "pay": ["work"], "call": [], "read": ["home"]}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"milk", "pay", "call", "read"}),
        ({"status": "pending"}, {"milk", "call", "read"}),
        ({"status": "completed"}, {"pay"}),
        ({"priority": "high"}, {"milk", "read"}),
        ({"priority": "low", "status": "completed"}, set()),
        ({"tag": ["home"]}, {"milk", "read"}),
        ({"tag": ["HOME"]}, {"milk", "read"}),
        ({"tag": ["nowhere"]}, set()),
        ({"q": "MILK"}, {"milk"}),
        ({"q": "plan"}, {"call"}),
        ({"q": "%"}, {"milk"}),
        ({"q": "0%"}, {"milk"}),
        ({"q": "_"}, {"pay", "read"}),
        ({"q": "1_0"}, set()),
        ({"q": "/"}, {"read"}),
        ({"q": "r_1/"}, {"read"}),
        ({"due_before": day(4)}, {"milk", "read"}),
        ({"due_after": day(4)}, {"read", "pay"}),
        ({"due_after": day(4), "due_before": day(4)}, {"read"}),
        ({"due_after": day(1), "due_before": day(3)}, set()),
        ({"status": "pending", "tag": ["home"], "q": "_"}, {"read"}),
    ],
)
async def test_list_filters(
    app: Any, alice: ApiUser, bob: ApiUser, filters: dict[str, Any], expected: set[str]
) -> None:
    ids = {
        title: await add(app, alice.id, CATALOG_TAGS[title], title=title, **fields)
        for title, fields in CATALOG.items()
    }
    for title, fields in CATALOG.items():  # bob's copies never show
        await add(app, bob.id, CATALOG_TAGS[title], title=title, **fields)

    found, total = await listed(app, alice.id, page_size=100, **filters)

    assert {title for title, task_id in ids.items() if task_id in found} == expected
    assert (len(found), total) == (len(expected), len(expected))


SORT_CASES = [  # (sort, order, the tasks a, b and c in the expected order)
    ("created_at", "asc", "abc"), ("created_at", "desc", "cba"),
    ("updated_at", "asc", "bca"), ("updated_at", "desc", "acb"),
    ("priority", "asc", "bca"), ("priority", "desc", "acb"),  # by rank, not alphabetically
    ("title", "asc", "bac"), ("title", "desc", "cab"),
    ("due_date", "asc", "cab"), ("due_date", "desc", "acb"),  # no due date: last either way
]  # fmt: skip


@pytest.mark.parametrize(("sort", "order", "expected"), SORT_CASES)
async def test_list_sort_and_order(
    app: Any, alice: ApiUser, sort: str, order: str, expected: str
) -> None:
    ids = {
        "a": await add(
            app, alice.id, title="banana", priority=Priority.high, due_date=day(2),
            created_at=day(1), updated_at=day(3),
        ),
        "b": await add(
            app, alice.id, title="apple", priority=Priority.low,
            created_at=day(2), updated_at=day(2) - timedelta(hours=12),
        ),
        "c": await add(
            app, alice.id, title="cherry", priority=Priority.medium, due_date=day(1),
            created_at=day(3), updated_at=day(3) - timedelta(hours=1),
        ),
    }  # fmt: skip

    found, total = await listed(app, alice.id, sort=sort, order=order)

    assert (found, total) == ([ids[name] for name in expected], 3)


@pytest.mark.parametrize(("sort", "order"), [(sort, order) for sort, order, _ in SORT_CASES])
async def test_list_ties_are_broken_by_id_across_pages(
    app: Any, alice: ApiUser, sort: str, order: str
) -> None:
    ids = [await add(app, alice.id, due_date=day(1)) for _ in range(5)]
    pages = [
        await listed(app, alice.id, sort=sort, order=order, page=n, page_size=2) for n in (1, 2, 3)
    ]

    assert [task_id for found, _ in pages for task_id in found] == sorted(
        ids, reverse=order == "desc"
    )
    assert {total for _, total in pages} == {5}
