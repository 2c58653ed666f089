"""Timeouts on the injected clock (swarmmesh.mesh._deadline.within)."""

from __future__ import annotations

import asyncio

import pytest

from swarmmesh.clock import ManualClock
from swarmmesh.mesh._deadline import within


async def test_a_result_in_time_passes_through_and_the_timer_is_cancelled() -> None:
    clock = ManualClock()

    async def work() -> int:
        await clock.sleep(1.0)
        return 42

    task = asyncio.create_task(within(clock, 2.0, work()))
    await clock.advance(1.0)
    assert await task == 42
    assert clock.pending() == 0


async def test_the_deadline_is_clock_time_and_raises_timeout_error() -> None:
    clock = ManualClock()
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = asyncio.create_task(within(clock, 5.0, hang()))
    await clock.advance(4.999)
    assert not task.done()
    await clock.advance(0.001)
    with pytest.raises(TimeoutError):
        await task
    assert cancelled.is_set()  # the work was cancelled, not left running


async def test_errors_of_the_work_pass_through() -> None:
    async def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await within(ManualClock(), 1.0, broken())


async def test_cancelling_the_caller_cancels_the_work_and_is_not_a_timeout() -> None:
    clock = ManualClock()
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = asyncio.create_task(within(clock, 5.0, hang()))
    for _ in range(3):  # let the work start
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    assert clock.pending() == 0
