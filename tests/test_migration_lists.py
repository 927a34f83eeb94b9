"""Migration 0003 (lists, subtasks, manual order) on a database holding real rows.

Each test fills a database at revision 0002 with users, tasks (some
completed), tags and their links, then upgrades it, on SQLite and, when
``TEST_DATABASE_URL`` is set, on a fresh PostgreSQL database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError

from tests import test_task_counts
from tests.test_task_counts import COUNTS, run_sql
from todo_api.kit.positions import position_key
from todo_api.migrate import alembic_config

empty_database = test_task_counts.empty_database
"""The fixture of ``test_task_counts``: a new, empty SQLite or PostgreSQL database."""

START = datetime(2026, 11, 21, tzinfo=UTC)
USERS = {"u1": START, "u2": START + timedelta(days=1), "u3": START + timedelta(days=2)}
"""Users made at 0002 and when; ``u3`` has no tasks."""
TASKS = 270
"""Tasks made at 0002, ids 1 to 270: keys of one, two and three hex digits."""
TASK_COLUMNS = (
    "id, user_id, title, description, completed, completed_at, priority, due_date, "
    "version, created_at, updated_at"
)
INBOXES = "SELECT user_id, id, name, is_inbox FROM lists ORDER BY user_id, id"


def owner(n: int) -> str:
    """The user of the ``n``-th task: ``u1`` has ids 15, 16, 255 and 256."""
    return "u2" if n % 4 == 2 else "u1"


def is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite")


def rows(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    """The rows of one statement, run in its own transaction."""
    return run_sql(database_url, statement)[0]


def insert_user(user_id: str, created_at: datetime) -> str:
    return (
        "INSERT INTO users (id, email, created_at, updated_at) "
        f"VALUES ('{user_id}', '{user_id}@example.com', '{created_at.isoformat()}', "
        f"'{created_at.isoformat()}')"
    )


def insert_old_task(n: int) -> str:
    """The ``n``-th task as revision 0002 stores it (no list, no position)."""
    created = (START + timedelta(minutes=n)).isoformat()
    completed = n % 3 == 0
    description = f"'notes {n}'" if n % 2 else "NULL"
    completed_at = f"'{created}'" if completed else "NULL"
    due = f"'{(START + timedelta(days=n)).isoformat()}'" if n % 5 == 0 else "NULL"
    return (
        "INSERT INTO tasks (user_id, title, description, completed, completed_at, priority, "
        "due_date, version, created_at, updated_at) "
        f"VALUES ('{owner(n)}', 'task {n}', {description}, {str(completed).lower()}, "
        f"{completed_at}, {n % 3}, {due}, {1 + n % 2}, '{created}', '{created}')"
    )


def insert_new_task(
    user_id: str, title: str, *, completed: bool, position: str | None, parent_id: int = 0
) -> str:
    """A task in ``user_id``'s inbox, the subtask of ``parent_id`` unless that is 0;
    ``position`` None leaves it to the column default."""
    columns = (
        "user_id, list_id, parent_id, title, completed, priority, version, created_at, updated_at"
    )
    values = (
        f"'{user_id}', (SELECT id FROM lists WHERE user_id = '{user_id}' AND is_inbox), "
        f"{parent_id or 'NULL'}, '{title}', {str(completed).lower()}, 1, 1, "
        f"'{START.isoformat()}', '{START.isoformat()}'"
    )
    if position is not None:
        columns += ", position"
        values += f", '{position}'"
    return f"INSERT INTO tasks ({columns}) VALUES ({values})"


def database_at_0002(database_url: str) -> Config:
    """Migrate to 0002 and store the users, tasks, tags and links of this module."""
    config = alembic_config(database_url)
    command.upgrade(config, "0002")
    run_sql(
        database_url,
        *(insert_user(user_id, created_at) for user_id, created_at in USERS.items()),
        *(insert_old_task(n) for n in range(1, TASKS + 1)),
        "INSERT INTO tags (user_id, name) VALUES ('u1', 'work'), ('u1', 'home'), ('u2', 'work')",
        "INSERT INTO task_tags (task_id, tag_id, position) "
        "SELECT tasks.id, tags.id, 0 FROM tasks JOIN tags ON tags.user_id = tasks.user_id "
        "WHERE tags.name = 'work' AND tasks.id % 7 = 0",
        "INSERT INTO task_tags (task_id, tag_id, position) "
        "SELECT tasks.id, tags.id, 1 FROM tasks JOIN tags ON tags.user_id = tasks.user_id "
        "WHERE tags.name = 'home' AND tasks.id % 14 = 0",
    )
    ids = {n: owner(n) for n in range(1, TASKS + 1)}
    assert dict(rows(database_url, "SELECT id, user_id FROM tasks")) == ids
    return config


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of 0002's tables that 0003 must leave as they are (a task's version
    aside: 0003 gives every task a new one, as its JSON gains fields)."""
    statements = {
        "tasks": f"SELECT {TASK_COLUMNS.replace('version, ', '')} FROM tasks ORDER BY id",
        "tags": "SELECT id, user_id, name FROM tags ORDER BY id",
        "task_tags": "SELECT task_id, tag_id, position FROM task_tags ORDER BY task_id, tag_id",
        "task_counts": "SELECT user_id, shard, total, completed FROM task_counts "
        "ORDER BY user_id, shard",
        "users": "SELECT id, email, created_at FROM users ORDER BY id",
    }
    return {name: rows(database_url, statement) for name, statement in statements.items()}


def expected_counts() -> list[tuple[str, int, int]]:
    """``COUNTS`` of the tasks made at 0002: each user's total and completed."""
    counts = {
        user_id: (
            sum(1 for n in range(1, TASKS + 1) if owner(n) == user_id),
            sum(1 for n in range(1, TASKS + 1) if owner(n) == user_id and n % 3 == 0),
        )
        for user_id in ("u1", "u2")
    }
    return [(user_id, total, completed) for user_id, (total, completed) in counts.items()]


def inbox_of(database_url: str, user_id: str) -> int:
    [(list_id,)] = rows(
        database_url, f"SELECT id FROM lists WHERE user_id = '{user_id}' AND is_inbox"
    )
    return int(list_id)


def test_the_upgrade_gives_every_user_one_inbox_holding_their_tasks(empty_database: str) -> None:
    """Every user, with tasks or without, has exactly one list, an inbox named
    "Inbox"; every task is in its user's inbox, and is not a subtask."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "head")

    lists = rows(empty_database, INBOXES)
    assert [(user_id, name, bool(inbox)) for user_id, _, name, inbox in lists] == [
        ("u1", "Inbox", True),
        ("u2", "Inbox", True),
        ("u3", "Inbox", True),
    ]
    inboxes = {user_id: list_id for user_id, list_id, _, _ in lists}
    tasks = rows(empty_database, "SELECT id, user_id, list_id, parent_id FROM tasks ORDER BY id")
    assert len(tasks) == TASKS
    assert [(task_id, list_id, parent) for task_id, _, list_id, parent in tasks] == [
        (task_id, inboxes[user_id], None) for task_id, user_id, _, _ in tasks
    ]


def test_the_upgrade_keeps_the_order_of_creation_as_the_manual_order(
    empty_database: str,
) -> None:
    """Each migrated task's position is ``position_key(id)``, and a user's tasks
    ordered by position (in Python, and by SQL with and without ``id`` as the
    tie-break) are in the order of their ids, across the one-to-two and
    two-to-three hex digit boundaries (``"aF"`` < ``"b10"``, ``"bFF"`` < ``"c100"``)."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "head")

    positions = rows(empty_database, "SELECT id, position FROM tasks ORDER BY id")
    assert positions == [(task_id, position_key(task_id)) for task_id, _ in positions]
    assert {15: "aF", 16: "b10", 255: "bFF", 256: "c100"}.items() <= dict(positions).items()
    for user_id in ("u1", "u2"):
        by_id = [n for n in range(1, TASKS + 1) if owner(n) == user_id]
        mine = rows(empty_database, f"SELECT id, position FROM tasks WHERE user_id = '{user_id}'")
        assert [task_id for task_id, _ in sorted(mine, key=lambda row: row[1])] == by_id
        for order in ("position, id", "position"):
            in_sql = rows(
                empty_database, f"SELECT id FROM tasks WHERE user_id = '{user_id}' ORDER BY {order}"
            )
            assert [task_id for (task_id,) in in_sql] == by_id, order


def test_the_upgrade_keeps_tasks_tags_and_counts_and_the_counts_stay_maintained(
    empty_database: str,
) -> None:
    """The upgrade changes no row of ``tasks`` (the old columns), ``tags``,
    ``task_tags``, ``task_counts`` or ``users`` (SQLite's copy of ``tasks``
    cascades no delete), and the task-count triggers still count an insert,
    a completion and a delete afterwards (SQLite's copy made them again)."""
    config = database_at_0002(empty_database)
    before = snapshot(empty_database)
    home = [n for n in range(14, TASKS + 1, 14) if owner(n) == "u1"]
    assert len(before["task_tags"]) == TASKS // 7 + len(home) > TASKS // 7
    assert rows(empty_database, COUNTS) == expected_counts()
    versions = dict(rows(empty_database, "SELECT id, version FROM tasks"))
    command.upgrade(config, "head")
    assert snapshot(empty_database) == before
    # A new version, so a new ETag: the task's JSON has new fields.
    upgraded = dict(rows(empty_database, "SELECT id, version FROM tasks"))
    assert upgraded == {task_id: version + 1 for task_id, version in versions.items()}

    sqlite = is_sqlite(empty_database)
    [(u1, u1_total, u1_completed), u2_counts] = expected_counts()
    run_sql(
        empty_database,
        insert_new_task(
            "u1", "new", completed=True, position=position_key(TASKS + 1) if sqlite else None
        ),
        insert_new_task("u3", "new", completed=False, position=position_key(1) if sqlite else None),
        "UPDATE tasks SET completed = NOT completed WHERE id = 1",
    )
    assert rows(empty_database, COUNTS) == [
        (u1, u1_total + 1, u1_completed + 2),
        u2_counts,
        ("u3", 1, 0),
    ]
    run_sql(empty_database, "DELETE FROM tasks WHERE title = 'new' OR id = 1")
    assert rows(empty_database, COUNTS) == [(u1, u1_total - 1, u1_completed), u2_counts]


def test_a_new_user_gets_one_inbox_and_a_second_inbox_is_refused(empty_database: str) -> None:
    """A user inserted after the upgrade gets exactly one list, an inbox (the
    trigger on ``users``); another inbox for that user, or for a migrated
    user, violates the partial unique index, while another list is fine."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "head")
    run_sql(empty_database, insert_user("u4", START + timedelta(days=9)))

    lists = rows(empty_database, INBOXES)
    assert [(name, bool(inbox)) for user_id, _, name, inbox in lists if user_id == "u4"] == [
        ("Inbox", True)
    ]
    position = ", position" if is_sqlite(empty_database) else ""
    value = ", 'a1'" if is_sqlite(empty_database) else ""
    for user_id in ("u4", "u1"):
        with pytest.raises(IntegrityError):
            run_sql(
                empty_database,
                f"INSERT INTO lists (user_id, name, is_inbox, version, created_at, updated_at"
                f"{position}) VALUES ('{user_id}', 'Inbox 2', true, 1, '{START.isoformat()}', "
                f"'{START.isoformat()}'{value})",
            )
    run_sql(
        empty_database,
        f"INSERT INTO lists (user_id, name, is_inbox, version, created_at, updated_at"
        f"{position}) VALUES ('u4', 'Errands', false, 1, '{START.isoformat()}', "
        f"'{START.isoformat()}'{value})",
    )
    assert rows(empty_database, "SELECT count(*) FROM lists WHERE user_id = 'u4'") == [(2,)]


def test_deleting_a_task_or_a_user_deletes_what_belongs_to_them(empty_database: str) -> None:
    """Deleting a migrated task deletes its tag links and its subtasks (the
    foreign keys of the copied ``tasks`` still cascade); deleting a migrated
    user deletes their inbox, their tasks, their tags' links and their
    counts, and no other user's rows."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "head")
    position = position_key(1) if is_sqlite(empty_database) else None
    run_sql(
        empty_database,
        insert_new_task("u1", "subtask", completed=False, position=position, parent_id=28),
    )
    assert rows(empty_database, "SELECT count(*) FROM task_tags WHERE task_id = 28") == [(2,)]
    run_sql(empty_database, "DELETE FROM tasks WHERE id = 28")
    assert rows(empty_database, "SELECT count(*) FROM task_tags WHERE task_id = 28") == [(0,)]
    assert rows(empty_database, "SELECT count(*) FROM tasks WHERE title = 'subtask'") == [(0,)]
    assert rows(empty_database, "SELECT count(*) FROM tags") == [(3,)]
    before = snapshot(empty_database)

    run_sql(empty_database, "DELETE FROM users WHERE id = 'u1'")
    for table in ("lists", "tasks", "tags", "task_counts"):
        assert rows(empty_database, f"SELECT count(*) FROM {table} WHERE user_id = 'u1'") == [(0,)]
    after = snapshot(empty_database)
    u2_tasks = [row for row in before["tasks"] if row[1] == "u2"]
    assert after["tasks"] == u2_tasks
    u2_task_ids = {row[0] for row in u2_tasks}
    assert after["task_tags"] == [row for row in before["task_tags"] if row[0] in u2_task_ids]
    assert [row[0] for row in rows(empty_database, INBOXES)] == ["u2", "u3"]
    assert rows(empty_database, COUNTS) == expected_counts()[1:]


def test_a_task_needs_a_list_and_postgresql_gives_a_new_one_the_last_position(
    empty_database: str,
) -> None:
    """After the upgrade a task without ``list_id`` is refused (NOT NULL). On
    PostgreSQL a task inserted without a position gets a key from
    ``position_keys`` that sorts after every migrated task's key, and the next
    one after it."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "head")
    with pytest.raises(IntegrityError):
        run_sql(
            empty_database,
            "INSERT INTO tasks (user_id, title, completed, priority, version, created_at, "
            f"updated_at, position) VALUES ('u1', 'no list', false, 1, 1, '{START.isoformat()}', "
            f"'{START.isoformat()}', 'a1')",
        )
    if is_sqlite(empty_database):
        return

    migrated = [position for (position,) in rows(empty_database, "SELECT position FROM tasks")]
    run_sql(
        empty_database,
        insert_new_task("u1", "first new", completed=False, position=None),
        insert_new_task("u1", "second new", completed=False, position=None),
    )
    [(first,)] = rows(empty_database, "SELECT position FROM tasks WHERE title = 'first new'")
    [(second,)] = rows(empty_database, "SELECT position FROM tasks WHERE title = 'second new'")
    assert max(migrated) == position_key(TASKS)
    assert max(migrated) < first < second
    in_sql = rows(empty_database, "SELECT title FROM tasks WHERE user_id = 'u1' ORDER BY position")
    assert [title for (title,) in in_sql[-2:]] == ["first new", "second new"]


def test_the_downgrade_keeps_the_tasks_and_their_counts_and_upgrades_again(
    empty_database: str,
) -> None:
    """Downgrading to 0002 leaves every task, tag, link and count as it was
    before the upgrade, the task-count triggers still count, and upgrading
    again gives every user their inbox and every task its position."""
    config = database_at_0002(empty_database)
    before = snapshot(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "0002")
    assert snapshot(empty_database) == before
    assert rows(empty_database, "SELECT count(*) FROM tasks") == [(TASKS,)]

    old_insert = (
        "INSERT INTO tasks (user_id, title, completed, priority, version, created_at, updated_at) "
        f"VALUES ('u3', 'after the downgrade', true, 1, 1, '{START.isoformat()}', "
        f"'{START.isoformat()}')"
    )
    run_sql(empty_database, old_insert, "DELETE FROM tasks WHERE id = 2")
    [u1_counts, (u2, u2_total, u2_completed)] = expected_counts()
    assert rows(empty_database, COUNTS) == [
        u1_counts,
        (u2, u2_total - 1, u2_completed),
        ("u3", 1, 1),
    ]

    command.upgrade(config, "head")
    assert [row[0] for row in rows(empty_database, INBOXES)] == ["u1", "u2", "u3"]
    tasks = rows(empty_database, "SELECT id, list_id, position FROM tasks ORDER BY id")
    assert len(tasks) == TASKS
    assert all(position == position_key(task_id) for task_id, _, position in tasks)
    assert {list_id for _, list_id, _ in tasks} == {
        inbox_of(empty_database, user_id) for user_id in USERS
    }
