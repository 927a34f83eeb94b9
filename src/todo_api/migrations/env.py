"""Alembic environment: async engine, our models' metadata and naming convention.

The database comes from ``config.attributes["database_url"]`` when the
service migrates itself (``todo_api.migrate``), else from ``DATABASE_URL``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import todo_api.auth.models
import todo_api.lists.models
import todo_api.tasks.models
from todo_api.config import get_settings
from todo_api.kit.database_url import direct_host_url, normalise_database_url
from todo_api.migrate import in_this_schema

target_metadata = SQLModel.metadata
config = context.config
del todo_api


def _database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else get_settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=in_this_schema(connection.dialect.name),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    target = direct_host_url(normalise_database_url(_database_url()))
    engine = create_async_engine(target.url, poolclass=NullPool, connect_args=target.connect_args)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=normalise_database_url(_database_url()).url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(_run_online())
