# ruff: noqa: S608 (DDL built from this file's own constants; nothing comes from outside)
"""Per-user task counts, kept by triggers, so an unfiltered list's ``total`` is O(1).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

A list's ``total`` was a ``count(*)`` of the user's tasks: a scan whose cost
grows with the user (2.9 ms of a 10,000-task user's 3.2 ms first page,
docs/benchmarks.md). ``task_counts`` holds each user's number of tasks and
of completed tasks, as a sharded counter: the sum of up to ``SHARDS`` rows,
the task's id choosing its row. Triggers on ``tasks`` keep it in the
writing transaction, so it is exact under any interleaving, whoever writes:
the service, a ``COPY``, an operator's ``INSERT``/``UPDATE``/``DELETE``
(moving a task to another user included), a cascade from ``users``, a
``TRUNCATE``. Only what skips triggers (``session_replication_role =
replica``, ``pg_restore --disable-triggers``) needs the recount in
docs/operations.md.

Lock order: a write of one task takes its ``task_counts`` row last: at
commit on PostgreSQL (deferred constraint triggers), so two such writers
of one user's shard wait for each other briefly instead of deadlocking.
(A statement that writes many tasks of one user takes several shard rows
in row order and can deadlock with another such statement; PostgreSQL
then aborts one.) SQLite has one writer at a time.

A later migration that alters ``tasks`` in batch mode on SQLite (which
copies the table) drops these triggers with the old table: it must create
them again (``_SQLITE``), and ``test_task_counts.py`` would catch it.
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
    f"SELECT NEW.user_id, NEW.id % {SHARDS}, 1, CASE WHEN NEW.completed THEN 1 ELSE 0 END "
    # At commit the user may be gone (deleted later in the same transaction).
    "WHERE EXISTS (SELECT 1 FROM users WHERE users.id = NEW.user_id) "
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
_SAME_ROW = "NEW.user_id = OLD.user_id AND NEW.id = OLD.id"
_CHANGED = (
    "OLD.completed IS DISTINCT FROM NEW.completed "
    "OR OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.id IS DISTINCT FROM NEW.id"
)
_AT_COMMIT = "DEFERRABLE INITIALLY DEFERRED"
"""PostgreSQL runs the triggers at commit (constraint triggers): a
``task_counts`` row is locked for the commit only, and always as the
writer's last lock. The deltas come from each row event's OLD and NEW, so
they add up whenever they run."""

_POSTGRESQL = [
    f"""
    CREATE FUNCTION task_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {_SAME_ROW} THEN
            {_COUNT_TOGGLED};
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {_COUNT_DELETED};
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            {_COUNT_INSERTED};
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION task_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM task_counts;
        RETURN NULL;
    END
    $$
    """,
    "CREATE CONSTRAINT TRIGGER tasks_count_inserted AFTER INSERT ON tasks "
    f"{_AT_COMMIT} FOR EACH ROW EXECUTE FUNCTION task_counts_track()",
    "CREATE CONSTRAINT TRIGGER tasks_count_deleted AFTER DELETE ON tasks "
    f"{_AT_COMMIT} FOR EACH ROW EXECUTE FUNCTION task_counts_track()",
    "CREATE CONSTRAINT TRIGGER tasks_count_updated AFTER UPDATE OF completed, user_id, id "
    f"ON tasks {_AT_COMMIT} FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION task_counts_track()",
    "CREATE TRIGGER tasks_count_truncated AFTER TRUNCATE ON tasks "
    "FOR EACH STATEMENT EXECUTE FUNCTION task_counts_clear()",
]
_SQLITE = [
    f"CREATE TRIGGER tasks_count_inserted AFTER INSERT ON tasks BEGIN {_COUNT_INSERTED}; END",
    f"CREATE TRIGGER tasks_count_deleted AFTER DELETE ON tasks BEGIN {_COUNT_DELETED}; END",
    "CREATE TRIGGER tasks_count_toggled AFTER UPDATE OF completed ON tasks "
    f"WHEN NEW.completed IS NOT OLD.completed AND {_SAME_ROW} BEGIN {_COUNT_TOGGLED}; END",
    "CREATE TRIGGER tasks_count_moved AFTER UPDATE OF user_id, id ON tasks "
    f"WHEN NOT ({_SAME_ROW}) BEGIN {_COUNT_DELETED}; {_COUNT_INSERTED}; END",
]
_TRIGGERS = {
    "postgresql": (
        "tasks_count_inserted",
        "tasks_count_deleted",
        "tasks_count_updated",
        "tasks_count_truncated",
    ),
    "sqlite": (
        "tasks_count_inserted",
        "tasks_count_deleted",
        "tasks_count_toggled",
        "tasks_count_moved",
    ),
}


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
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        # No task may be written between the count below and the triggers
        # (CREATE TRIGGER's own lock), and a migration that cannot get that
        # lock soon fails rather than queueing every writer behind it.
        op.execute("SET LOCAL lock_timeout = '10s'")
        op.execute("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(statement)
    op.execute(
        "INSERT INTO task_counts (user_id, shard, total, completed) "
        f"SELECT user_id, id % {SHARDS}, count(*), sum(CASE WHEN completed THEN 1 ELSE 0 END) "
        f"FROM tasks GROUP BY user_id, id % {SHARDS}"
    )


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    postgresql = dialect == "postgresql"
    for trigger in _TRIGGERS[dialect]:
        op.execute(f"DROP TRIGGER {trigger}" + (" ON tasks" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION task_counts_track()")
        op.execute("DROP FUNCTION task_counts_clear()")
    op.drop_table("task_counts")
