"""Timeouts measured on the injected clock (so a ManualClock test never waits for real)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from swarmmesh.clock import Clock

__all__ = ["within"]

T = TypeVar("T")


async def within(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``, raising :class:`TimeoutError` after ``seconds`` of ``clock`` time.

    The work runs as a task that is cancelled at the deadline. Cancelling the caller
    cancels the work and re-raises :class:`asyncio.CancelledError`, never ``TimeoutError``.
    """
    task = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not task.done():
            expired = True
            task.cancel()

    handle = clock.call_later(seconds, expire)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if expired and (current is None or current.cancelling() == 0):
            raise TimeoutError(f"no answer within {seconds} s") from None
        raise
    finally:
        handle.cancel()
        if not task.done():
            task.cancel()
