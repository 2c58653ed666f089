"""The injected clocks."""

from __future__ import annotations

import asyncio

from swarmmesh.clock import Clock, ManualClock, SystemClock


async def test_manual_clock_wakes_sleepers_in_order() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("c", 3.0), ("a", 1.0), ("b", 2.0)]]
    await clock.advance(1.5)
    assert woke == [("a", 1.0)]
    await clock.advance(10.0)
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 11.5
    await asyncio.gather(*tasks)


async def test_manual_clock_periodic_loop_runs_every_period() -> None:
    clock = ManualClock()
    ticks: list[int] = []

    async def loop() -> None:
        while True:
            await clock.sleep(30.0)
            ticks.append(clock.now_ms())

    task = asyncio.create_task(loop())
    await clock.advance(300.0)
    assert ticks == [30_000 * i for i in range(1, 11)]
    task.cancel()


async def test_call_later_and_cancel() -> None:
    clock = ManualClock(start=5.0)
    fired: list[str] = []
    clock.call_later(1.0, lambda: fired.append("x"))
    h = clock.call_later(0.5, lambda: fired.append("y"))
    h.cancel()
    assert clock.pending() == 1
    await clock.advance(2.0)
    assert fired == ["x"]
    assert clock.now_ms() == 7000


async def test_system_clock_is_a_clock() -> None:
    c = SystemClock()
    assert isinstance(c, Clock)
    assert isinstance(ManualClock(), Clock)
    t0 = c.now_ms()
    await c.sleep(0.001)
    assert c.now_ms() >= t0
    ev = asyncio.Event()
    c.call_later(0.0, ev.set)
    await asyncio.wait_for(ev.wait(), 1.0)
