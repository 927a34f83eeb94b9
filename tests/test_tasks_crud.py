"""Task CRUD (api.md "Tasks", "Details that clients rely on", "Conventions").

Create, read, full and partial update, completion, delete; the ETag and
``If-Match`` / ``If-None-Match`` rules; ``completed_at`` bookkeeping; task ids
in the path. Tables of cases that share one set-up run as subtests, so the
suite stays fast on both databases while every case is still reported alone.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.helpers import ApiUser, assert_error

TaskFactory = Callable[..., Awaitable[dict[str, Any]]]

TASK_FIELDS = {
    "id",
    "user_id",
    "list_id",
    "parent_id",
    "position",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "due_date",
    "tags",
    "created_at",
    "updated_at",
}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')

FULL_TASK: dict[str, Any] = {
    "title": "Write report",
    "description": "Quarterly numbers",
    "completed": True,
    "priority": "high",
    "due_date": "2026-05-01T12:00:00Z",
    "tags": ["work", "urgent"],
}
FULL_TASK_DUE = datetime(2026, 5, 1, 12, tzinfo=UTC)


def task_url(user: ApiUser, task_id: int | str) -> str:
    return f"{user.tasks_url}/{task_id}"


def instant(value: str) -> datetime:
    """Parse an RFC 3339 time of a response, insisting on UTC with the ``Z`` suffix."""
    assert RFC3339_UTC.fullmatch(value), value
    return datetime.fromisoformat(value)


def without(task: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {key: value for key, value in task.items() if key not in fields}


async def fetch(client: httpx.AsyncClient, user: ApiUser, task_id: int) -> httpx.Response:
    response = await client.get(task_url(user, task_id), headers=user.headers)
    assert response.status_code == 200, response.text
    return response


# --- create -------------------------------------------------------------------------------


async def test_create_returns_201_with_location_etag_and_defaults(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(alice.tasks_url, json={"title": "Buy milk"}, headers=alice.headers)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"data"}
    task = response.json()["data"]
    assert set(task) == TASK_FIELDS
    assert isinstance(task["id"], int)
    assert task["id"] >= 1
    assert response.headers["location"] == f"/api/{alice.id}/tasks/{task['id']}"
    assert STRONG_ETAG.fullmatch(response.headers["etag"]), response.headers["etag"]
    assert task["user_id"] == alice.id
    assert task["title"] == "Buy milk"
    assert task["description"] is None
    assert task["completed"] is False
    assert task["completed_at"] is None
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["tags"] == []
    assert instant(task["created_at"]) == instant(task["updated_at"])
    assert abs((datetime.now(UTC) - instant(task["created_at"])).total_seconds()) < 60


async def test_create_with_every_field_is_served_at_its_location(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    created = await client.post(alice.tasks_url, json=FULL_TASK, headers=alice.headers)

    assert created.status_code == 201, created.text
    task = created.json()["data"]
    assert task["title"] == "Write report"
    assert task["description"] == "Quarterly numbers"
    assert task["priority"] == "high"
    assert instant(task["due_date"]) == FULL_TASK_DUE
    assert task["tags"] == ["work", "urgent"]
    fetched = await client.get(created.headers["location"], headers=alice.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert STRONG_ETAG.fullmatch(fetched.headers["etag"])
    assert fetched.headers["etag"] == created.headers["etag"]
    for field in ("created_at", "updated_at", "completed_at", "due_date"):
        instant(fetched.json()["data"][field])


DUE_DATES = [
    ("2026-05-01T14:30:00+02:00", datetime(2026, 5, 1, 12, 30, tzinfo=UTC)),
    ("2026-05-01T07:00:00-05:00", datetime(2026, 5, 1, 12, tzinfo=UTC)),
    ("2026-05-01T23:30:00-01:00", datetime(2026, 5, 2, 0, 30, tzinfo=UTC)),
    ("2026-05-01T12:00:00", datetime(2026, 5, 1, 12, tzinfo=UTC)),
    ("2026-05-01T12:00:00Z", datetime(2026, 5, 1, 12, tzinfo=UTC)),
    ("2026-05-01T12:00:00.250Z", datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
]


async def test_due_date_offset_is_honoured_and_no_offset_means_utc(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    for sent, stored in DUE_DATES:
        with subtests.test(due_date=sent):
            response = await client.post(
                alice.tasks_url, json={"title": "Due", "due_date": sent}, headers=alice.headers
            )
            assert response.status_code == 201, response.text
            assert instant(response.json()["data"]["due_date"]) == stored
            fetched = await fetch(client, alice, response.json()["data"]["id"])
            assert instant(fetched.json()["data"]["due_date"]) == stored


# --- read and conditional GET ------------------------------------------------------------


async def test_if_none_match_is_304_while_current_and_200_once_stale(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    url = task_url(alice, task["id"])
    etag = (await fetch(client, alice, task["id"])).headers["etag"]

    for header in [etag, "*", f"W/{etag}", f'"nope", {etag}']:
        with subtests.test(if_none_match=header):
            response = await client.get(url, headers={**alice.headers, "If-None-Match": header})
            assert response.status_code == 304
            assert response.content == b""
            assert response.headers["etag"] == etag

    patched = await client.patch(url, json={"title": "Renamed"}, headers=alice.headers)
    assert patched.status_code == 200
    for header in [etag, f"W/{etag}", '"never-issued"']:
        with subtests.test(if_none_match=header, stale=True):
            response = await client.get(url, headers={**alice.headers, "If-None-Match": header})
            assert response.status_code == 200
            assert response.json() == patched.json()
            assert response.headers["etag"] == patched.headers["etag"]
            assert response.headers["etag"] != etag


# --- PUT ----------------------------------------------------------------------------------


async def test_put_is_full_replacement_and_requires_title(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, **FULL_TASK)

    response = await client.put(
        task_url(alice, task["id"]), json={"title": "Only a title"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    replaced = response.json()["data"]
    assert replaced["id"] == task["id"]
    assert replaced["title"] == "Only a title"
    assert replaced["description"] is None
    assert replaced["completed"] is False
    assert replaced["completed_at"] is None
    assert replaced["priority"] == "medium"
    assert replaced["due_date"] is None
    assert replaced["tags"] == []
    assert replaced["created_at"] == task["created_at"]
    assert instant(replaced["updated_at"]) > instant(task["updated_at"])
    assert (await fetch(client, alice, task["id"])).json()["data"] == replaced

    without_title = await client.put(
        task_url(alice, task["id"]), json={"description": "no title"}, headers=alice.headers
    )
    body = assert_error(without_title, 422, "VALIDATION_ERROR")
    assert set(body["field_errors"]) == {"title"}
    assert (await fetch(client, alice, task["id"])).json()["data"] == replaced


async def test_put_sets_every_field_and_is_idempotent(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, title="Old", tags=["x"])

    first = await client.put(task_url(alice, task["id"]), json=FULL_TASK, headers=alice.headers)
    second = await client.put(task_url(alice, task["id"]), json=FULL_TASK, headers=alice.headers)

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    data = first.json()["data"]
    assert {key: data[key] for key in FULL_TASK if key != "due_date"} == without(
        FULL_TASK, "due_date"
    )
    assert instant(data["due_date"]) == FULL_TASK_DUE
    assert data["completed_at"] is not None
    assert without(second.json()["data"], "updated_at") == without(data, "updated_at")
    assert (await fetch(client, alice, task["id"])).json() == second.json()


# --- PATCH --------------------------------------------------------------------------------


PATCHES: list[dict[str, Any]] = [
    {},
    {"title": "New title"},
    {"description": "New description"},
    {"priority": "low"},
    {"due_date": "2027-01-02T03:04:05Z"},
    {"tags": ["fresh"]},
    {"completed": False},
]


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    for change in PATCHES:
        field = next(iter(change), "")
        with subtests.test(field=field or "(empty body)"):
            task = await make_task(alice, **FULL_TASK)

            response = await client.patch(
                task_url(alice, task["id"]), json=change, headers=alice.headers
            )

            assert response.status_code == 200, response.text
            patched = response.json()["data"]
            changed = {field, "updated_at"} | ({"completed_at"} if field == "completed" else set())
            assert without(patched, *changed) == without(task, *changed)
            if field == "due_date":
                assert instant(patched["due_date"]) == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
            elif field:
                assert patched[field] == change[field]
                assert instant(patched["updated_at"]) > instant(task["updated_at"])
            assert (await fetch(client, alice, task["id"])).json()["data"] == patched


async def test_patch_null_clears_nullable_fields_and_is_422_for_the_others(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice, **FULL_TASK)
    url = task_url(alice, task["id"])

    for field in ("title", "completed", "priority", "tags"):
        with subtests.test(field=field, expected=422):
            response = await client.patch(url, json={field: None}, headers=alice.headers)
            body = assert_error(response, 422, "VALIDATION_ERROR")
            assert set(body["field_errors"]) == {field}
            assert (await fetch(client, alice, task["id"])).json()["data"] == task

    for field in ("description", "due_date"):
        with subtests.test(field=field, expected=200):
            before = (await fetch(client, alice, task["id"])).json()["data"]
            response = await client.patch(url, json={field: None}, headers=alice.headers)
            assert response.status_code == 200, response.text
            after = response.json()["data"]
            assert before[field] is not None
            assert after[field] is None
            assert without(after, field, "updated_at") == without(before, field, "updated_at")
            assert (await fetch(client, alice, task["id"])).json()["data"][field] is None


async def test_patch_tags_replaces_the_whole_list(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, tags=["a", "b", "c"])
    url = task_url(alice, task["id"])

    replaced = await client.patch(url, json={"tags": ["c", "D"]}, headers=alice.headers)
    assert replaced.status_code == 200
    assert replaced.json()["data"]["tags"] == ["c", "d"]
    assert (await fetch(client, alice, task["id"])).json()["data"]["tags"] == ["c", "d"]

    emptied = await client.patch(url, json={"tags": []}, headers=alice.headers)
    assert emptied.status_code == 200
    assert emptied.json()["data"]["tags"] == []
    assert (await fetch(client, alice, task["id"])).json()["data"]["tags"] == []


# --- completed_at ------------------------------------------------------------------------


SetCompleted = Callable[[httpx.AsyncClient, ApiUser, int, bool], Awaitable[httpx.Response]]


async def _by_patch(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, value: bool
) -> httpx.Response:
    return await client.patch(
        task_url(user, task_id), json={"completed": value}, headers=user.headers
    )


async def _by_put(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, value: bool
) -> httpx.Response:
    body = {"title": "A task", "completed": value}
    return await client.put(task_url(user, task_id), json=body, headers=user.headers)


async def _by_complete(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, value: bool
) -> httpx.Response:
    url = f"{task_url(user, task_id)}/complete"
    return await client.patch(url, json={"completed": value}, headers=user.headers)


SETTERS: list[tuple[str, SetCompleted]] = [
    ("patch", _by_patch),
    ("put", _by_put),
    ("complete-with-body", _by_complete),
]


async def test_completed_at_is_set_kept_and_cleared(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    for name, set_completed in SETTERS:
        with subtests.test(by=name):
            await _check_completed_at(client, alice, set_completed)


async def _check_completed_at(
    client: httpx.AsyncClient, alice: ApiUser, set_completed: SetCompleted
) -> None:
    """Created completed, completed again, reopened twice, completed twice."""
    created = await client.post(
        alice.tasks_url, json={"title": "A task", "completed": True}, headers=alice.headers
    )
    assert created.status_code == 201
    task = created.json()["data"]
    assert task["completed"] is True
    assert task["completed_at"] is not None
    assert instant(task["completed_at"]) >= instant(task["created_at"])

    again = await set_completed(client, alice, task["id"], True)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["completed"] is True
    assert again.json()["data"]["completed_at"] == task["completed_at"]

    reopened = await set_completed(client, alice, task["id"], False)
    assert reopened.status_code == 200
    assert reopened.json()["data"]["completed"] is False
    assert reopened.json()["data"]["completed_at"] is None

    still_open = await set_completed(client, alice, task["id"], False)
    assert still_open.status_code == 200
    assert still_open.json()["data"]["completed"] is False
    assert still_open.json()["data"]["completed_at"] is None

    done = await set_completed(client, alice, task["id"], True)
    assert done.status_code == 200
    assert done.json()["data"]["completed"] is True
    completed_at = done.json()["data"]["completed_at"]
    assert completed_at is not None
    assert instant(completed_at) > instant(task["completed_at"])
    assert instant(completed_at) <= instant(done.json()["data"]["updated_at"])

    done_again = await set_completed(client, alice, task["id"], True)
    assert done_again.status_code == 200
    assert done_again.json()["data"]["completed_at"] == completed_at
    assert (await fetch(client, alice, task["id"])).json()["data"]["completed_at"] == completed_at


async def test_complete_toggles_without_body_and_sets_with_body(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    with subtests.test("toggle"):
        task = await make_task(alice)
        url = f"{task_url(alice, task['id'])}/complete"

        first = await client.patch(url, headers=alice.headers)
        assert first.status_code == 200, first.text
        assert first.json()["data"]["completed"] is True
        assert first.json()["data"]["completed_at"] is not None
        unchanged = ("completed", "completed_at", "updated_at")
        assert without(first.json()["data"], *unchanged) == without(task, *unchanged)

        second = await client.patch(url, headers=alice.headers)
        assert second.status_code == 200
        assert second.json()["data"]["completed"] is False
        assert second.json()["data"]["completed_at"] is None
        assert (await fetch(client, alice, task["id"])).json()["data"]["completed"] is False

    for value in (True, False):
        with subtests.test("set", completed=value):
            task = await make_task(alice, completed=not value)
            url = f"{task_url(alice, task['id'])}/complete"

            first = await client.patch(url, json={"completed": value}, headers=alice.headers)
            second = await client.patch(url, json={"completed": value}, headers=alice.headers)

            assert first.status_code == 200
            assert second.status_code == 200
            assert first.json()["data"]["completed"] is value
            assert second.json()["data"]["completed"] is value
            assert first.json()["data"]["completed_at"] == second.json()["data"]["completed_at"]
            assert (second.json()["data"]["completed_at"] is not None) is value


async def test_complete_with_wrongly_typed_body_is_422(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    task = await make_task(alice)
    url = f"{task_url(alice, task['id'])}/complete"

    for value in ["yes", 1, "true", None, [True]]:
        with subtests.test(completed=value):
            before = (await fetch(client, alice, task["id"])).json()
            response = await client.patch(url, json={"completed": value}, headers=alice.headers)
            body = assert_error(response, 422, "VALIDATION_ERROR")
            assert set(body["field_errors"]) == {"completed"}
            assert (await fetch(client, alice, task["id"])).json() == before


# --- ETags and If-Match -------------------------------------------------------------------


async def test_etag_changes_on_every_write_that_changes_the_task_and_get_serves_the_latest(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    created = await client.post(alice.tasks_url, json={"title": "t"}, headers=alice.headers)
    url = task_url(alice, created.json()["data"]["id"])
    read_before = await client.get(url, headers=alice.headers)
    writes = [
        await client.put(url, json={"title": "t2"}, headers=alice.headers),
        await client.patch(url, json={"priority": "high"}, headers=alice.headers),
        await client.patch(f"{url}/complete", headers=alice.headers),
    ]
    changing_nothing = [  # the API contract, "Details that clients rely on"
        await client.patch(url, json={}, headers=alice.headers),
        await client.patch(url, json={"priority": "high"}, headers=alice.headers),
        await client.patch(f"{url}/complete", json={"completed": True}, headers=alice.headers),
        await client.put(
            url, json={"title": "t2", "priority": "high", "completed": True}, headers=alice.headers
        ),
    ]

    assert read_before.headers["etag"] == created.headers["etag"]
    assert [write.status_code for write in writes + changing_nothing] == [200] * 7
    etags = [created.headers["etag"]] + [write.headers["etag"] for write in writes]
    assert len(set(etags)) == len(etags)
    assert all(STRONG_ETAG.fullmatch(etag) for etag in etags)
    assert [write.headers["etag"] for write in changing_nothing] == [etags[-1]] * 4
    last = writes[-1].json()["data"]
    assert [write.json()["data"] for write in changing_nothing] == [last] * 4
    assert (await client.get(url, headers=alice.headers)).headers["etag"] == etags[-1]


Write = Callable[[httpx.AsyncClient, ApiUser, int, dict[str, str]], Awaitable[httpx.Response]]


async def _put(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, extra: dict[str, str]
) -> httpx.Response:
    headers = {**user.headers, **extra}
    return await client.put(task_url(user, task_id), json={"title": "Replaced"}, headers=headers)


async def _patch(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, extra: dict[str, str]
) -> httpx.Response:
    headers = {**user.headers, **extra}
    return await client.patch(task_url(user, task_id), json={"title": "Patched"}, headers=headers)


async def _delete(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, extra: dict[str, str]
) -> httpx.Response:
    return await client.delete(task_url(user, task_id), headers={**user.headers, **extra})


async def _complete(
    client: httpx.AsyncClient, user: ApiUser, task_id: int, extra: dict[str, str]
) -> httpx.Response:
    headers = {**user.headers, **extra}
    return await client.patch(f"{task_url(user, task_id)}/complete", headers=headers)


CONDITIONAL_WRITES = [
    pytest.param(_put, 200, id="put"),
    pytest.param(_patch, 200, id="patch"),
    pytest.param(_delete, 204, id="delete"),
    pytest.param(_complete, 200, id="complete"),
]


async def _written_twice(
    client: httpx.AsyncClient, user: ApiUser, make_task: TaskFactory
) -> tuple[dict[str, Any], str, str]:
    """A task written twice: its current state, its stale ETag and its current one."""
    task = await make_task(user, title="Original")
    stale = (await fetch(client, user, task["id"])).headers["etag"]
    patched = await client.patch(
        task_url(user, task["id"]), json={"description": "v2"}, headers=user.headers
    )
    assert patched.status_code == 200
    return patched.json()["data"], stale, patched.headers["etag"]


@pytest.mark.parametrize(("write", "success"), CONDITIONAL_WRITES)
async def test_if_match_stale_or_weak_is_412_current_or_star_goes_ahead(
    client: httpx.AsyncClient,
    alice: ApiUser,
    make_task: TaskFactory,
    subtests: pytest.Subtests,
    write: Write,
    success: int,
) -> None:
    task, stale, current = await _written_twice(client, alice, make_task)
    for if_match in [stale, f"W/{current}", '"never-issued"', f"W/{stale}"]:
        with subtests.test(if_match=if_match, expected=412):
            response = await write(client, alice, task["id"], {"If-Match": if_match})
            assert_error(response, 412, "PRECONDITION_FAILED")
            after = await fetch(client, alice, task["id"])
            assert after.json()["data"] == task
            assert after.headers["etag"] == current

    for form in ["{current}", "*", '"other", {current}']:
        with subtests.test(if_match=form, expected=success):
            task, _, current = await _written_twice(client, alice, make_task)

            response = await write(
                client, alice, task["id"], {"If-Match": form.format(current=current)}
            )

            assert response.status_code == success, response.text
            after = await client.get(task_url(alice, task["id"]), headers=alice.headers)
            if success == 204:
                assert_error(after, 404, "NOT_FOUND")
            else:
                assert after.json()["data"] == response.json()["data"]
                assert response.json()["data"] != task
                assert after.headers["etag"] == response.headers["etag"]
                assert response.headers["etag"] != current


# --- DELETE -------------------------------------------------------------------------------


async def test_delete_is_204_without_body_then_the_task_is_gone(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory
) -> None:
    task = await make_task(alice, tags=["home"])
    keep = await make_task(alice, title="Keep", tags=["home"])
    url = task_url(alice, task["id"])

    deleted = await client.delete(url, headers=alice.headers)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(await client.delete(url, headers=alice.headers), 404, "NOT_FOUND")
    assert_error(await client.get(url, headers=alice.headers), 404, "NOT_FOUND")
    for response in [
        await client.put(url, json={"title": "x"}, headers=alice.headers),
        await client.patch(url, json={"title": "x"}, headers=alice.headers),
        await client.patch(f"{url}/complete", headers=alice.headers),
    ]:
        assert_error(response, 404, "NOT_FOUND")
    listed = (await client.get(alice.tasks_url, headers=alice.headers)).json()
    assert listed["data"] == [keep]
    assert listed["total"] == 1
    tagged = await client.get(alice.tasks_url, params={"tag": "home"}, headers=alice.headers)
    assert [t["id"] for t in tagged.json()["data"]] == [keep["id"]]


# --- task ids in the path -----------------------------------------------------------------


TASK_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PUT", "", {"title": "x"}),
    ("PATCH", "", {"title": "x"}),
    ("DELETE", "", None),
    ("PATCH", "/complete", None),
]


async def test_task_id_that_is_not_a_positive_int64_is_422(
    client: httpx.AsyncClient, alice: ApiUser, subtests: pytest.Subtests
) -> None:
    for method, suffix, body in TASK_ROUTES:
        for task_id in ["0", "-1", "abc", str(2**63), "1.5", "1e3", "%20"]:
            with subtests.test(route=f"{method} {{id}}{suffix}", task_id=task_id):
                response = await client.request(
                    method, f"{task_url(alice, task_id)}{suffix}", json=body, headers=alice.headers
                )
                error = assert_error(response, 422, "VALIDATION_ERROR")
                assert set(error["field_errors"]) == {"task_id"}


async def test_unknown_task_id_is_404(
    client: httpx.AsyncClient, alice: ApiUser, make_task: TaskFactory, subtests: pytest.Subtests
) -> None:
    existing = await make_task(alice)

    for method, suffix, body in TASK_ROUTES:
        for task_id in [existing["id"] + 1000, 2**63 - 1]:
            with subtests.test(route=f"{method} {{id}}{suffix}", task_id=task_id):
                response = await client.request(
                    method, f"{task_url(alice, task_id)}{suffix}", json=body, headers=alice.headers
                )
                assert_error(response, 404, "NOT_FOUND")
    assert (await fetch(client, alice, existing["id"])).json()["data"] == existing
