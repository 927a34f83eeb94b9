"""``todo_api.statements``: a connection's return to the pool survives cancellation.

A client that disconnects cancels its request's task, at any await, once or
more. The pool has no overflow, so a connection whose return was abandoned
halfway would be lost for good; the return runs to its end and the
cancellation is raised after it.
"""

from __future__ import annotations

import asyncio

import pytest

from todo_api.statements import _to_completion


@pytest.mark.parametrize("cancels", [1, 3])
async def test_cleanup_finishes_despite_cancellation_then_the_cancellation_is_raised(
    cancels: int,
) -> None:
    steps: list[str] = []

    async def give_back() -> None:  # stands in for a return that awaits (a graceful close)
        steps.append("started")
        await asyncio.sleep(0.05)
        steps.append("finished")

    async def request() -> None:
        try:
            await asyncio.sleep(10)  # the request, cancelled by a disconnect
        finally:
            await _to_completion(give_back())
        steps.append("not reached")

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    for _ in range(cancels):  # the first lands in the request, the others in the return
        task.cancel()
        await asyncio.sleep(0.01)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["started", "finished"]


async def test_cleanup_errors_are_not_swallowed() -> None:
    async def failing() -> None:
        raise RuntimeError("close failed")

    with pytest.raises(RuntimeError, match="close failed"):
        await _to_completion(failing())
