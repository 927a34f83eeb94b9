"""Search indexes that start with the owner: ``(user_id, title)`` and
``(user_id, description)``, trigram GIN, instead of 0004's ``title`` and
``description`` alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

0004's trigram indexes hold every user's tasks: a search found every user's
matches in them and then kept the searcher's, so it cost the matches of the
whole table (a 1,000-task user's search for a common word heap-read some 900
rows to keep 78, docs/benchmarks.md). With ``user_id`` as the index's first
column (``btree_gin`` gives GIN an operator class for it) the index finds the
searcher's matches only. ``btree_gin``, like ``pg_trgm``, ships with
PostgreSQL (contrib) and Neon allows it; where either is missing the
migration says so and keeps what 0004 made. SQLite: nothing to do.
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("title", "description")


def _available(*extensions: str) -> bool:
    found = op.get_bind().execute(
        text("SELECT count(*) FROM pg_available_extensions WHERE name = ANY(:names)"),
        {"names": list(extensions)},
    )
    return bool(found.scalar_one() == len(extensions))


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    if not _available("pg_trgm", "btree_gin"):
        logging.getLogger(__name__).warning(
            "pg_trgm or btree_gin is not available: q keeps the indexes it had"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for column in COLUMNS:
        op.create_index(
            f"ix_tasks_user_id_{column}_trgm",
            "tasks",
            ["user_id", column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )
        op.execute(f"DROP INDEX IF EXISTS ix_tasks_{column}_trgm")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_tasks_user_id_{column}_trgm")
        if _available("pg_trgm"):
            op.create_index(
                f"ix_tasks_{column}_trgm",
                "tasks",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )
    # The extensions stay: other schemas of the database may use them.
