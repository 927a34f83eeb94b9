"""Migrations 0005 (the index of undated tasks) and 0006 (search indexes that start
with the owner) on a database holding real rows.

The rows of ``test_migration_lists`` (made at 0002, moved into inboxes by
0003) are upgraded from the revision before, downgraded and upgraded again,
on SQLite and, when ``TEST_DATABASE_URL`` is set, on a fresh PostgreSQL
database.
"""

from __future__ import annotations

from alembic import command

from tests import test_task_counts
from tests.test_migration_lists import database_at_0002, is_sqlite, rows, snapshot

empty_database = test_task_counts.empty_database
"""The fixture of ``test_task_counts``: a new, empty SQLite or PostgreSQL database."""

UNDATED = "ix_tasks_user_id_id_undated"
SEARCH_0004 = {"ix_tasks_title_trgm", "ix_tasks_description_trgm"}
SEARCH_0006 = {"ix_tasks_user_id_title_trgm", "ix_tasks_user_id_description_trgm"}


def task_indexes(database_url: str) -> dict[str, str]:
    """The indexes on ``tasks``: name to definition (``CREATE INDEX ...``), lowercase."""
    statement = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
        if is_sqlite(database_url)
        else "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'"
    )
    return {name: (sql or "").lower() for name, sql in rows(database_url, statement)}


def assert_undated_index(database_url: str) -> None:
    """The index is on ``(user_id, id)`` of the tasks without a due date."""
    definition = " ".join(task_indexes(database_url)[UNDATED].split())
    assert "(user_id, id)" in definition, definition
    assert "where (due_date is null)" in definition or "where due_date is null" in definition


def test_the_upgrade_indexes_the_undated_tasks_and_keeps_every_row(empty_database: str) -> None:
    config = database_at_0002(empty_database)
    command.upgrade(config, "0004")
    before = snapshot(empty_database)
    assert UNDATED not in task_indexes(empty_database)

    command.upgrade(config, "0005")

    assert_undated_index(empty_database)
    assert snapshot(empty_database) == before


def test_the_downgrade_drops_only_the_index_and_upgrades_again(empty_database: str) -> None:
    config = database_at_0002(empty_database)
    command.upgrade(config, "0005")
    before = snapshot(empty_database)

    command.downgrade(config, "0004")
    assert UNDATED not in task_indexes(empty_database)
    assert snapshot(empty_database) == before

    command.upgrade(config, "head")
    assert_undated_index(empty_database)
    assert snapshot(empty_database) == before


def test_0006_searches_by_owner_and_keeps_every_row(empty_database: str) -> None:
    """On PostgreSQL 0004's trigram indexes give way to ``(user_id, <column>
    gin_trgm_ops)``; the downgrade brings them back. On SQLite, which has none,
    nothing changes. Every row stays."""
    config = database_at_0002(empty_database)
    command.upgrade(config, "0005")
    before = snapshot(empty_database)
    made = set(task_indexes(empty_database))

    command.upgrade(config, "0006")

    indexes = task_indexes(empty_database)
    assert snapshot(empty_database) == before
    if is_sqlite(empty_database):
        assert set(indexes) == made
        return
    assert made >= SEARCH_0004
    assert not SEARCH_0004 & set(indexes)
    for column in ("title", "description"):
        definition = indexes[f"ix_tasks_user_id_{column}_trgm"]
        assert f"using gin (user_id, {column} gin_trgm_ops)" in definition, definition

    command.downgrade(config, "0005")
    assert set(task_indexes(empty_database)) == made
    assert snapshot(empty_database) == before
    command.upgrade(config, "head")
    assert set(task_indexes(empty_database)) >= SEARCH_0006
