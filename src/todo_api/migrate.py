"""Bring a database to the latest schema revision with Alembic."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Index

SCRIPT_LOCATION = "todo_api:migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic ``Config`` for ``database_url`` without an ``alembic.ini``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Migrate ``database_url`` to head (idempotent; DDL runs in one transaction).

    Must be called outside a running event loop (the CLI, or a test fixture):
    the async ``env.py`` runs its own loop.
    """
    command.upgrade(alembic_config(database_url), "head")


def in_this_schema(dialect_name: str) -> Any:
    """Alembic's ``include_object`` for a database of ``dialect_name``: a model index
    marked ``POSTGRESQL_ONLY`` (``kit.columns``) exists only there, so autogenerate and comparisons
    elsewhere leave it out."""

    def include(obj: Any, _name: Any, kind: str, _reflected: bool, _compare_to: Any) -> bool:
        if kind == "index" and isinstance(obj, Index):
            wanted = obj.info.get("dialect")
            return wanted is None or wanted == dialect_name
        return True

    return include
