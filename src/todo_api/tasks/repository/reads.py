"""Task reads: a page of the list, one task. Each is one statement, one snapshot, so
``total`` agrees with the page and a task's version with its tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import bindparam, select

from todo_api.kit.compiled import Row
from todo_api.kit.database import Statements
from todo_api.kit.pagination import page_offset
from todo_api.tasks.models import TAGS, TASK_TAGS, TASKS, TaskFields
from todo_api.tasks.repository.list_statements import (
    After,
    list_parameters,
    list_statements,
    shape_of,
)
from todo_api.tasks.schemas import Task, TaskQuery


@dataclass(frozen=True, slots=True)
class StoredTask:
    """A task as stored: its public ``fields`` and its ``version`` (which grows on every write)."""

    fields: TaskFields
    version: int

    @property
    def id(self) -> int:
        return self.fields["id"]


_TASK_COLUMNS = tuple(TASKS.c)
"""Every column of ``tasks``: the keys of ``TaskColumns``."""
_PUBLIC_FIELDS = tuple(Task.model_fields)


def task_fields(columns: Mapping[str, Any], tags: list[str]) -> TaskFields:
    """``schemas.Task``'s fields, in its order, from a task's columns and its tag names."""
    return cast(
        TaskFields, {name: tags if name == "tags" else columns[name] for name in _PUBLIC_FIELDS}
    )


def _tasks_with_tags(rows: Iterable[Row]) -> list[StoredTask]:
    """Fold rows of (task columns..., ``tag``), one per task and tag, into tasks, in row order."""
    tasks: dict[int, StoredTask] = {}
    for row in rows:
        task = tasks.get(row["id"])
        if task is None:
            task = tasks[row["id"]] = StoredTask(task_fields(row, []), row["version"])
        if row["tag"] is not None:
            task.fields["tags"].append(row["tag"])
    return list(tasks.values())


_GET_TASK = (
    select(*_TASK_COLUMNS, TAGS.c.name.label("tag"))
    .select_from(
        TASKS.outerjoin(TASK_TAGS, TASK_TAGS.c.task_id == TASKS.c.id).outerjoin(
            TAGS, TAGS.c.id == TASK_TAGS.c.tag_id
        )
    )
    .where(TASKS.c.id == bindparam("task_id"), TASKS.c.user_id == bindparam("user_id"))
    .order_by(TASK_TAGS.c.position)
)
"""One task and its tags, one row per tag (one row with ``tag`` NULL if none)."""


class Page(NamedTuple):
    """A page of the list: its tasks, how many match in all, and where the next page
    starts (``None``: this is the last)."""

    tasks: list[TaskFields]
    total: int
    next_after: After | None


async def list_page(
    db: Statements, user_id: str, query: TaskQuery, after: After | None = None
) -> Page:
    """One page of ``user_id``'s tasks that match ``query``: page ``query.page``, or with
    ``after`` the page that follows that row (keyset pagination), and the number of
    all that match.

    One statement; a page past the end (no row to carry ``total``) takes a
    second, the total alone.
    """
    shape = shape_of(query, after)
    rows_statement, total_statement = list_statements(shape, db.dialect.name)
    parameters = list_parameters(user_id, query, after)
    rows = await db.fetch(rows_statement, parameters)
    if rows:
        total = int(rows[0]["total"])
    elif query.page == 1 and after is None:
        total = 0
    else:
        total = int((await db.fetch(total_statement, parameters))[0]["total"])
    if db.dialect.name == "postgresql":
        tasks = [StoredTask(task_fields(row, list(row["tags"])), row["version"]) for row in rows]
    else:
        tasks = _tasks_with_tags(rows)
    if after is None:
        more = page_offset(query.page, query.page_size) + len(tasks) < total
    else:
        more = len(tasks) > query.page_size  # the one row more
        tasks = tasks[: query.page_size]
    next_after = None
    if more and tasks:
        last = tasks[-1].id
        key_column = "sort_key" if query.sort == "title" else query.sort
        next_after = After(next(row[key_column] for row in rows if row["id"] == last), last)
    return Page([task.fields for task in tasks], total, next_after)


async def find_task(db: Statements, user_id: str, task_id: int) -> StoredTask | None:
    """``user_id``'s task ``task_id`` with its tags, if there is one."""
    found = _tasks_with_tags(await db.fetch(_GET_TASK, {"task_id": task_id, "user_id": user_id}))
    return found[0] if found else None
