# ruff: noqa: S608 (DDL built from this file's own constants; nothing comes from outside)
"""Lists, subtasks and manual order: every user gets an inbox that holds their tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

- ``lists``, with one inbox per user (a partial unique index), made for
  every existing user and, by a trigger on ``users``, with every new one,
  whatever inserts the user (signup, provisioning, an operator).
- ``tasks.list_id`` (every existing task moves into its user's inbox),
  ``tasks.parent_id`` (subtasks; deleting a parent deletes them) and
  ``tasks.position`` (manual order, ``kit.positions``): existing tasks keep
  their order of creation, as ``position_key(id)``; indexes for a list's top
  level and a task's subtasks in that order, and for a list's counts.
- PostgreSQL: the sequence ``position_keys`` and the function
  ``position_key(bigint)``, whose values are the "last" keys of new rows (a
  column default), started past every key given here; the index on
  ``(user_id, lower(title), id)`` for ``sort=title``.

SQLite copies ``tasks`` to add its constraints (batch mode), which drops the
task-count triggers of 0002 with the old table: they are created again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
POSITION = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
INBOX = "Inbox"
FIRST_KEY = "a0"

_POSITION_KEY = (
    "CREATE FUNCTION position_key(n bigint) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    "PARALLEL SAFE AS $$ SELECT chr(96 + length(to_hex(n))) || upper(to_hex(n)) $$"
)
"""The fractional index key of ``n`` (``kit.positions.position_key``, the same in Python)."""
_NEXT_KEY = "position_key(nextval('position_keys'))"
_SQLITE_KEY_OF_ID = "char(96 + length(printf('%X', id))) || printf('%X', id)"

_INBOX_COLUMNS = "user_id, name, is_inbox, version, created_at, updated_at"
_POSTGRESQL_INBOX_TRIGGER = [
    f"""
    CREATE FUNCTION users_create_inbox() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO lists ({_INBOX_COLUMNS})
        VALUES (NEW.id, '{INBOX}', true, 1, NEW.created_at, NEW.created_at);
        RETURN NULL;
    END
    $$
    """,
    "CREATE TRIGGER users_create_inbox AFTER INSERT ON users "
    "FOR EACH ROW EXECUTE FUNCTION users_create_inbox()",
]
_SQLITE_INBOX_TRIGGER = (
    "CREATE TRIGGER users_create_inbox AFTER INSERT ON users BEGIN "
    f"INSERT INTO lists ({_INBOX_COLUMNS}, position) "
    f"VALUES (NEW.id, '{INBOX}', 1, 1, NEW.created_at, NEW.created_at, '{FIRST_KEY}'); END"
)


def _task_count_triggers() -> list[str]:
    """SQLite's task-count triggers, as revision 0002 made them."""
    script = op.get_context().script
    assert script is not None
    statements: list[str] = script.get_revision("0002").module._SQLITE
    return statements


def _create_lists(postgresql: bool) -> None:
    position = sa.Column("position", POSITION, nullable=False)
    if postgresql:
        op.execute("CREATE SEQUENCE position_keys")
        op.execute(_POSITION_KEY)
        position = sa.Column(
            "position", POSITION, nullable=False, server_default=sa.text(_NEXT_KEY)
        )
    op.create_table(
        "lists",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("is_inbox", sa.Boolean(), nullable=False),
        position,
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lists_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lists_user_id_position_id", "lists", ["user_id", "position", "id"])
    op.create_index(
        "uq_lists_user_id_inbox",
        "lists",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_inbox"),
        sqlite_where=sa.text("is_inbox"),
    )


def _inboxes_for_existing_users(postgresql: bool) -> None:
    if postgresql:
        op.execute(
            f"INSERT INTO lists ({_INBOX_COLUMNS}) "
            f"SELECT id, '{INBOX}', true, 1, created_at, created_at FROM users ORDER BY created_at"
        )
    else:
        op.execute(
            f"INSERT INTO lists ({_INBOX_COLUMNS}, position) "
            f"SELECT id, '{INBOX}', 1, 1, created_at, created_at, '{FIRST_KEY}' FROM users"
        )


_FILL_TASKS = (
    "UPDATE tasks SET list_id = (SELECT lists.id FROM lists "
    "WHERE lists.user_id = tasks.user_id AND lists.is_inbox), position = {key}, "
    # A task's JSON gains list_id, parent_id and position: a new version, a new ETag,
    # so that a client's If-None-Match does not keep the body without them.
    "version = version + 1"
)
_TOP_LEVEL = sa.text("parent_id IS NULL")
_TASK_INDEXES: tuple[tuple[str, list[str], sa.TextClause | None], ...] = (
    # A list's top level in manual order: partial, because PostgreSQL does not take
    # ``parent_id IS NULL`` as fixing a column of the index for its order.
    ("ix_tasks_list_id_position_id", ["list_id", "position", "id"], _TOP_LEVEL),
    # A task's subtasks in manual order; the cascade from a deleted parent.
    ("ix_tasks_parent_id_position_id", ["parent_id", "position", "id"], None),
    # A list's counts (index-only); the cascade from a deleted list.
    ("ix_tasks_list_id_completed", ["list_id", "completed"], None),
)


_TASK_FOREIGN_KEYS = (
    ("fk_tasks_list_id_lists", "lists", "list_id"),
    ("fk_tasks_parent_id_tasks", "tasks", "parent_id"),
)
"""Name, referred table, column: each refers to ``id`` and cascades deletes."""


def _upgrade_postgresql() -> None:
    # The migration gives up if it waits 10 s for its locks (rather than queue every
    # request behind its own wait); once it holds them, writers of users and tasks wait
    # for it: no task may appear without a list (docs/operations.md, "Migrations").
    op.execute("SET LOCAL lock_timeout = '10s'")
    _create_lists(postgresql=True)
    op.execute("LOCK TABLE users, tasks IN SHARE ROW EXCLUSIVE MODE")
    for statement in _POSTGRESQL_INBOX_TRIGGER:
        op.execute(statement)
    _inboxes_for_existing_users(postgresql=True)
    op.add_column("tasks", sa.Column("list_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("parent_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("position", POSITION, nullable=True))
    op.execute(_FILL_TASKS.format(key="position_key(id)"))
    # Every key given so far is at most position_key(max id): "last" keys start past it.
    op.execute(
        "SELECT setval('position_keys', greatest("
        "(SELECT coalesce(max(id), 1) FROM tasks), (SELECT last_value FROM position_keys)))"
    )
    op.alter_column("tasks", "list_id", nullable=False)
    op.alter_column("tasks", "position", nullable=False, server_default=sa.text(_NEXT_KEY))
    for name, referred, column in _TASK_FOREIGN_KEYS:
        op.create_foreign_key(name, "tasks", referred, [column], ["id"], ondelete="CASCADE")
    for name, columns, where in _TASK_INDEXES:
        op.create_index(name, "tasks", columns, postgresql_where=where)
    op.create_index(
        "ix_tasks_user_id_lower_title_id", "tasks", ["user_id", sa.text("lower(title)"), "id"]
    )


def _upgrade_sqlite() -> None:
    _create_lists(postgresql=False)
    op.execute(_SQLITE_INBOX_TRIGGER)
    _inboxes_for_existing_users(postgresql=False)
    with op.batch_alter_table("tasks") as batch:  # ALTER TABLE ... ADD COLUMN
        batch.add_column(sa.Column("list_id", BIGINT_ID, nullable=True))
        batch.add_column(sa.Column("parent_id", BIGINT_ID, nullable=True))
        batch.add_column(sa.Column("position", POSITION, nullable=True))
    op.execute(_FILL_TASKS.format(key=_SQLITE_KEY_OF_ID))
    with op.batch_alter_table(
        "tasks", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.alter_column("list_id", existing_type=BIGINT_ID, nullable=False)
        batch.alter_column("position", existing_type=POSITION, nullable=False)
        for name, referred, column in _TASK_FOREIGN_KEYS:
            batch.create_foreign_key(name, referred, [column], ["id"], ondelete="CASCADE")
        for name, columns, where in _TASK_INDEXES:
            batch.create_index(name, columns, sqlite_where=where)
    for statement in _task_count_triggers():
        op.execute(statement)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        op.drop_index("ix_tasks_user_id_lower_title_id", "tasks")
        op.execute("DROP TRIGGER users_create_inbox ON users")
        op.execute("DROP FUNCTION users_create_inbox()")
    else:
        op.execute("DROP TRIGGER users_create_inbox")
    with op.batch_alter_table(
        "tasks",
        recreate="always" if not postgresql else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        for name, _, _ in _TASK_INDEXES:
            batch.drop_index(name)
        for name, _, _ in _TASK_FOREIGN_KEYS:
            batch.drop_constraint(name, type_="foreignkey")
        batch.drop_column("position")
        batch.drop_column("parent_id")
        batch.drop_column("list_id")
    if not postgresql:
        for statement in _task_count_triggers():
            op.execute(statement)
    op.drop_table("lists")
    if postgresql:
        op.execute("DROP FUNCTION position_key(bigint)")
        op.execute("DROP SEQUENCE position_keys")
