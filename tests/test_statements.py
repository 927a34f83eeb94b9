"""``todo_api.kit.database``: connections go back to the pool, or are discarded, whatever happens.

A client that disconnects cancels its request's task, at any await, once or
more. The pool has no overflow, so a connection whose return was abandoned
halfway would be lost for good; the return is synchronous, so it cannot be.
A connection the server dropped takes the older ones with it, but not those
other requests are using.
"""

from __future__ import annotations

import asyncio
import gc
from uuid import uuid4

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from todo_api.kit.database import Database, Statements
from todo_api.kit.database_errors import is_database_unavailable, is_transient_conflict
from todo_api.kit.database_url import DatabaseTarget, normalise_database_url
from todo_api.kit.engine import create_engine


@pytest.mark.parametrize("cancels", [1, 3])
async def test_a_cancelled_request_gives_its_connection_back(
    database_url: str, backend: str, cancels: int
) -> None:
    """A client that disconnects cancels its request's task mid-statement, once or
    more: the connection is discarded or given back, never lost, so a pool of one
    still serves the next request well within the pool's 10 s timeout."""
    if backend != "postgresql":
        pytest.skip("asyncpg runs the statements on PostgreSQL only")
    database = Database(create_engine(normalise_database_url(database_url), pool_size=1))
    started = asyncio.Event()

    async def request() -> None:
        async with database.reading() as db:
            started.set()
            await db.fetch(select(func.pg_sleep(10).label("slept")), {})

    try:
        task = asyncio.create_task(request())
        await started.wait()
        await asyncio.sleep(0.05)
        for _ in range(cancels):  # the first lands in the statement, the others in the cleanup
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5), database.reading() as db:
            assert await db.fetch(select(func.count().label("n")), {}) == [{"n": 1}]
    finally:
        await database.dispose()


async def test_a_lost_connection_discards_older_ones_without_leaking_those_in_use(
    database_url: str, backend: str
) -> None:
    """One request's connection dies while another request holds a healthy one.

    Every connection older than the failure is discarded, and the one in use
    still goes back to the pool (and is closed with it) rather than being
    orphaned on the server. ``gc`` is off, as the service freezes its
    start-up objects, so nothing tidies an orphan up behind the pool's back.
    """
    if backend != "postgresql":
        pytest.skip("asyncpg runs the statements on PostgreSQL only")
    name = f"todo-statements-{uuid4().hex[:8]}"
    direct = normalise_database_url(database_url)
    target = DatabaseTarget(
        url=direct.url,
        connect_args={**direct.connect_args, "server_settings": {"application_name": name}},
    )
    database = Database(create_engine(target, pool_size=3))
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    observer = await asyncpg.connect(dsn)
    held, release = asyncio.Event(), asyncio.Event()

    async def holding_request() -> None:
        async with database.reading() as db:
            await db.fetch(select(func.count().label("n")), {})
            held.set()
            await release.wait()

    gc.disable()
    try:
        holder = asyncio.create_task(holding_request())
        await held.wait()
        ended = (asyncpg.AdminShutdownError, asyncpg.ConnectionDoesNotExistError)
        with pytest.raises(ended):  # the server ends this request's connection
            async with database.reading() as db:
                await db.fetch(select(func.pg_terminate_backend(func.pg_backend_pid())), {})
        release.set()
        await holder
        async with database.reading() as db:  # a fresh connection serves the next request
            assert await db.fetch(select(func.count().label("n")), {}) == [{"n": 1}]
        await database.dispose()
        left = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
        )
        assert left == 0
    finally:
        gc.enable()
        await observer.close()
        await database.dispose()


def test_a_poolers_connection_errors_mean_the_database_is_unavailable() -> None:
    """PgBouncer ends a connection with SQLSTATE class 08 (``query_wait_timeout`` is
    08P01): a 503 and a discarded connection, not a 500 and a dead one pooled."""
    assert is_database_unavailable(asyncpg.ProtocolViolationError("query_wait_timeout"))
    assert not is_database_unavailable(asyncpg.UniqueViolationError("duplicate key value"))


def test_a_deadlock_is_a_conflict_to_run_again_not_an_outage() -> None:
    """A transaction PostgreSQL aborts for a deadlock or a serialization failure wrote
    nothing and its connection is sound: run again (``Database.in_transaction``), not
    answered as "database unavailable" with the pool's connections discarded."""
    for error in (asyncpg.DeadlockDetectedError("deadlock"), asyncpg.SerializationError("x")):
        assert is_transient_conflict(error)
        assert not is_database_unavailable(error)
    assert not is_transient_conflict(asyncpg.UniqueViolationError("duplicate key value"))


async def test_in_transaction_runs_work_again_after_a_conflict_and_only_then(
    database_url: str,
) -> None:
    """``Database.in_transaction`` runs the work a second time when the first attempt
    ended in a deadlock, and not after any other error."""
    database = Database(create_engine(normalise_database_url(database_url), pool_size=1))
    calls: list[int] = []

    async def deadlocked_once(db: Statements) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return "done"

    async def failing(db: Statements) -> str:
        calls.append(1)
        raise ValueError("a bug")

    try:
        assert await database.in_transaction(deadlocked_once) == "done"
        assert len(calls) == 2
        calls.clear()
        with pytest.raises(ValueError, match="a bug"):
            await database.in_transaction(failing)
        assert len(calls) == 1
    finally:
        await database.dispose()


async def test_an_atomic_write_runs_one_statement_on_postgresql(
    database_url: str, backend: str
) -> None:
    """``Database.atomic_write`` has no transaction around it on PostgreSQL, so a
    second statement would not be atomic with the first: it is refused."""
    if backend != "postgresql":
        pytest.skip("on SQLite an atomic write is a transaction of several statements")
    database = Database(create_engine(normalise_database_url(database_url), pool_size=1))
    try:
        async with database.atomic_write() as db:
            assert await db.fetch(select(func.count().label("n")), {}) == [{"n": 1}]
            with pytest.raises(RuntimeError, match="one statement"):
                await db.fetch(select(func.count().label("n")), {})
    finally:
        await database.dispose()
