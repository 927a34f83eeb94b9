"""An index of each user's tasks without a due date, by id.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

``sort=due_date`` puts tasks without a due date last, in ``id`` order, in
either direction. A cursor page that reaches them (after a dated task, or
after an undated one) reads them as a range of their own, ``due_date IS
NULL`` by ``id``: the partial index ``(user_id, id) WHERE due_date IS NULL``
gives that range in order, so the page seeks to it instead of sorting every
undated task of the user. Both databases; it holds only undated tasks.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDATED = "ix_tasks_user_id_id_undated"


def upgrade() -> None:
    undated = text("due_date IS NULL")
    op.create_index(
        UNDATED, "tasks", ["user_id", "id"], postgresql_where=undated, sqlite_where=undated
    )


def downgrade() -> None:
    op.drop_index(UNDATED, table_name="tasks")
