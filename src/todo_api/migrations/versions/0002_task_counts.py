# ruff: noqa: S608 (DDL built from this file's own constants; nothing comes from outside)
"""Per-user task counts, kept by triggers, so an unfiltered list's ``total`` is O(1).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

A list's ``total`` was a ``count(*)`` of the user's tasks: a scan whose cost
grows with the user (2.9 ms of a 10,000-task user's 3.2 ms first page,
docs/benchmarks.md). ``task_counts`` holds each user's number of tasks and
of completed tasks, as a sharded counter: the sum of up to ``SHARDS`` rows,
the task's id choosing its row. Row triggers on ``tasks`` keep it in the writing
transaction, so it is exact under any interleaving, for every writer (the
service, a migration, a ``COPY``, an operator's SQL) and for cascaded deletes.

Lock order: a write that changes a count takes its ``task_counts`` row
last: at commit on PostgreSQL (deferred constraint triggers), so two
writers of one user's shard wait for each other briefly instead of deadlocking.
SQLite has one writer at a time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 8
"""A user's counts are spread over up to 8 rows (a sharded counter), by task
id: concurrent writers of one user mostly update different rows."""

# The three changes to a user's counts, as statements on NEW/OLD, shared by
# PostgreSQL's trigger function and SQLite's triggers (both have ON CONFLICT).
_COUNT_INSERTED = (
    "INSERT INTO task_counts (user_id, shard, total, completed) "
    f"VALUES (NEW.user_id, NEW.id % {SHARDS}, 1, CASE WHEN NEW.completed THEN 1 ELSE 0 END) "
    "ON CONFLICT (user_id, shard) DO UPDATE SET total = task_counts.total + 1, "
    "completed = task_counts.completed + excluded.completed"
)
_COUNT_DELETED = (
    "UPDATE task_counts SET total = total - 1, "
    "completed = completed - CASE WHEN OLD.completed THEN 1 ELSE 0 END "
    f"WHERE user_id = OLD.user_id AND shard = OLD.id % {SHARDS}"
)
_COUNT_TOGGLED = (
    "UPDATE task_counts SET completed = completed + CASE WHEN NEW.completed THEN 1 ELSE -1 END "
    f"WHERE user_id = NEW.user_id AND shard = NEW.id % {SHARDS}"
)
_TOGGLED = "OLD.completed IS DISTINCT FROM NEW.completed"
_AT_COMMIT = "DEFERRABLE INITIALLY DEFERRED"
"""PostgreSQL runs the triggers at commit (constraint triggers): a
``task_counts`` row is locked for the commit only, and always as the
writer's last lock. The deltas come
from each row event's OLD and NEW, so they add up whenever they run."""

_POSTGRESQL = [
    f"""
    CREATE FUNCTION task_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_COUNT_INSERTED};
        ELSIF TG_OP = 'DELETE' THEN
            {_COUNT_DELETED};
        ELSE
            {_COUNT_TOGGLED};
        END IF;
        RETURN NULL;
    END
    $$
    """,
    "CREATE CONSTRAINT TRIGGER tasks_count_inserted AFTER INSERT ON tasks "
    f"{_AT_COMMIT} FOR EACH ROW EXECUTE FUNCTION task_counts_track()",
    "CREATE CONSTRAINT TRIGGER tasks_count_deleted AFTER DELETE ON tasks "
    f"{_AT_COMMIT} FOR EACH ROW EXECUTE FUNCTION task_counts_track()",
    "CREATE CONSTRAINT TRIGGER tasks_count_toggled AFTER UPDATE OF completed ON tasks "
    f"{_AT_COMMIT} FOR EACH ROW WHEN ({_TOGGLED}) EXECUTE FUNCTION task_counts_track()",
]
_SQLITE = [
    f"CREATE TRIGGER tasks_count_inserted AFTER INSERT ON tasks BEGIN {_COUNT_INSERTED}; END",
    f"CREATE TRIGGER tasks_count_deleted AFTER DELETE ON tasks BEGIN {_COUNT_DELETED}; END",
    "CREATE TRIGGER tasks_count_toggled AFTER UPDATE OF completed ON tasks "
    f"WHEN NEW.completed IS NOT OLD.completed BEGIN {_COUNT_TOGGLED}; END",
]
_TRIGGERS = ("tasks_count_inserted", "tasks_count_deleted", "tasks_count_toggled")


def upgrade() -> None:
    op.create_table(
        "task_counts",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("completed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_task_counts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "shard", name=op.f("pk_task_counts")),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        # No task may be written between the count below and the triggers.
        op.execute("LOCK TABLE tasks IN SHARE MODE")
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(statement)
    op.execute(
        "INSERT INTO task_counts (user_id, shard, total, completed) "
        f"SELECT user_id, id % {SHARDS}, count(*), sum(CASE WHEN completed THEN 1 ELSE 0 END) "
        f"FROM tasks GROUP BY user_id, id % {SHARDS}"
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}" + (" ON tasks" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION task_counts_track()")
    op.drop_table("task_counts")
