"""Users, tasks, tags and the task-tag link, with the indexes the list queries use.

Revision ID: 0001
Revises:
Create Date: 2026-11-20

Each list query filters on ``user_id`` and orders by one column then ``id``,
so each sort has a ``(user_id, <column>, id)`` index; the ``status`` filter
with the default sort uses ``(user_id, completed, created_at, id)``; the
``tag`` filter goes through ``task_tags (tag_id, task_id)``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "tags",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    op.create_index("uq_tags_user_id_name", "tags", ["user_id", "name"], unique=True)
    op.create_table(
        "tasks",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tasks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sqlite_autoincrement=True,
    )
    for name, columns in (
        ("ix_tasks_user_id_created_at_id", ["user_id", "created_at", "id"]),
        ("ix_tasks_user_id_updated_at_id", ["user_id", "updated_at", "id"]),
        ("ix_tasks_user_id_completed_created_at_id", ["user_id", "completed", "created_at", "id"]),
        ("ix_tasks_user_id_priority_id", ["user_id", "priority", "id"]),
        ("ix_tasks_user_id_due_date_id", ["user_id", "due_date", "id"]),
    ):
        op.create_index(name, "tasks", columns)
    op.create_table(
        "task_tags",
        sa.Column("task_id", BIGINT_ID, nullable=False),
        sa.Column("tag_id", BIGINT_ID, nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_task_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_tags_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "tag_id", name=op.f("pk_task_tags")),
    )
    op.create_index("ix_task_tags_tag_id_task_id", "task_tags", ["tag_id", "task_id"])


def downgrade() -> None:
    op.drop_table("task_tags")
    op.drop_table("tasks")
    op.drop_table("tags")
    op.drop_table("users")
