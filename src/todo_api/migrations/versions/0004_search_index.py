"""Search that reads only the tasks it finds (trigram indexes on title and description),
and an index for ``sort=due_date&order=desc``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

``q`` is a case-insensitive substring of the title or the description
(``ILIKE '%text%'`` on PostgreSQL), which no btree serves: every task of the
user was read. A GIN index with ``pg_trgm``'s ``gin_trgm_ops`` serves
``ILIKE`` with a leading wildcard, so a query that matches few tasks reads
few (docs/benchmarks.md). The semantics are unchanged.

``sort=due_date&order=desc`` puts tasks without a due date last, which a
backward scan of ``(user_id, due_date, id)`` (nulls last going forward) cannot
give: ``ix_tasks_user_id_due_date_desc_id`` can.

``pg_trgm`` ships with PostgreSQL (contrib) and Neon allows it. Where it is
not available the migration says so and creates no index: search still
works, by reading the user's tasks. SQLite has no such index: nothing to do.
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {"ix_tasks_title_trgm": "title", "ix_tasks_description_trgm": "description"}


def _has_pg_trgm() -> bool:
    found = op.get_bind().execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    return found.first() is not None


DUE_DATE_DESC = "ix_tasks_user_id_due_date_desc_id"


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_index(
        DUE_DATE_DESC,
        "tasks",
        ["user_id", text("due_date DESC NULLS LAST"), text("id DESC")],
    )
    if not _has_pg_trgm():
        logging.getLogger(__name__).warning(
            "pg_trgm is not available: q searches the user's tasks without an index"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        op.create_index(
            name,
            "tasks",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for name in (*INDEXES, DUE_DATE_DESC):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    # The extension stays: other schemas of the database may use it.
