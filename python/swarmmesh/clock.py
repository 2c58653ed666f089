"""Injected time: the system clock for production, a manual clock for tests and simulations.

Everything in the mesh that waits or measures (breaker timeouts, recovery loops, pings,
retries, TTLs, simulated link latency) asks a :class:`Clock`, never ``time`` or
``asyncio.sleep`` directly, so a test can run a breaker timeline of many minutes in
milliseconds with :class:`ManualClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "TimerHandle"]


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Cancel the callback (no-op if it already ran)."""


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock with sleeps and timers, and the wall clock beside it."""

    def now_ms(self) -> int:
        """Monotonic time in whole milliseconds."""

    def wall_ms(self) -> int:
        """Wall-clock time in Unix milliseconds (for timestamps other nodes compare)."""

    def now(self) -> float:
        """Monotonic time in seconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` after ``seconds`` of this clock's time."""


class SystemClock:
    """The running event loop's monotonic clock."""

    __slots__ = ()

    def now(self) -> float:
        """Monotonic time in seconds (the loop's ``time()``)."""
        return asyncio.get_running_loop().time()

    def now_ms(self) -> int:
        """Monotonic time in whole milliseconds."""
        return int(asyncio.get_running_loop().time() * 1000.0)

    def wall_ms(self) -> int:
        """``time.time()`` in whole Unix milliseconds."""
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        """``loop.call_later``."""
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told to: ``await clock.advance(seconds)``.

    ``advance`` fires every due timer and wakes every due sleeper in time order, letting
    the event loop run the woken tasks between steps, so code under test sees time pass
    exactly as it would in production, only faster.
    """

    __slots__ = ("_epoch_ms", "_now", "_seq", "_timers")

    #: The wall-clock time (Unix ms) at manual time 0 unless another is given: 2023-11-14.
    DEFAULT_EPOCH_MS = 1_700_000_000_000

    def __init__(self, start: float = 0.0, *, epoch_ms: int = DEFAULT_EPOCH_MS) -> None:
        """Start at ``start`` seconds; the wall clock reads ``epoch_ms`` at manual time 0."""
        self._now = start
        self._epoch_ms = epoch_ms
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _ManualTimer]] = []

    def now(self) -> float:
        """The current manual time in seconds."""
        return self._now

    def now_ms(self) -> int:
        """The current manual time in whole milliseconds."""
        return int(self._now * 1000.0)

    def wall_ms(self) -> int:
        """``epoch_ms`` plus the manual time, in whole milliseconds (it moves with ``advance``)."""
        return self._epoch_ms + int(self._now * 1000.0)

    def call_later(self, seconds: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` when the clock has advanced ``seconds``."""
        timer = _ManualTimer(callback)
        heapq.heappush(self._timers, (self._now + max(0.0, seconds), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced ``seconds``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            handle.cancel()

    async def advance(self, seconds: float, *, step: float | None = None) -> None:
        """Move time forward by ``seconds``, firing timers in order.

        With ``step``, time moves in increments of at most ``step`` seconds, letting
        tasks run after each, which is what periodic loops that re-arm themselves need.
        """
        end = self._now + max(0.0, seconds)
        await _settle()
        while True:
            nxt = self._timers[0][0] if self._timers else end
            target = min(nxt, end)
            if step is not None:
                target = min(target, self._now + step)
            self._now = max(self._now, target)
            fired = False
            while self._timers and self._timers[0][0] <= self._now:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    timer.callback()
                    fired = True
            if fired or step is not None:
                await _settle()
            if self._now >= end and not (self._timers and self._timers[0][0] <= self._now):
                break
        await _settle()

    def pending(self) -> int:
        """How many timers are scheduled and not cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)


async def _settle(rounds: int = 8) -> None:
    """Let woken tasks run (a few loop iterations)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
