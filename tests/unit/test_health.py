"""The health monitor (swarmmesh.mesh.health): periodic pings and per-transport health."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from swarmmesh import ConfigError
from swarmmesh.clock import ManualClock
from swarmmesh.mesh.health import HealthConfig, HealthMonitor
from swarmmesh.transports.base import Health


class Net:
    """A fake ping: per (peer, transport) an RTT, an error, or a hang; records every call."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.rtt: dict[tuple[str, str], float] = {}
        self.dead: set[tuple[str, str]] = set()
        self.hang: set[tuple[str, str]] = set()
        self.calls: list[tuple[int, str, str]] = []
        self.results: list[tuple[str, str, bool, float]] = []

    async def ping(self, peer_id: str, transport: str) -> float:
        self.calls.append((self.clock.now_ms(), peer_id, transport))
        if (peer_id, transport) in self.hang:
            await asyncio.Event().wait()
        if (peer_id, transport) in self.dead:
            raise ConnectionError("unreachable")
        return self.rtt.get((peer_id, transport), 10.0)

    def on_result(self, peer_id: str, transport: str, ok: bool, rtt_ms: float) -> None:
        self.results.append((peer_id, transport, ok, rtt_ms))


def monitor(clock: ManualClock, net: Net, **changes: object) -> HealthMonitor:
    config = HealthConfig(**changes)  # type: ignore[arg-type]
    return HealthMonitor(config, clock, net.ping, net.on_result, seed=3)


def test_config_defaults_and_validation() -> None:
    c = HealthConfig()
    assert (c.interval_s, c.timeout_s, c.degraded_loss, c.down_after) == (5.0, 2.0, 0.2, 3)
    for field, value in [
        ("interval_s", 0.0),
        ("timeout_s", -1.0),
        ("degraded_loss", 0.0),
        ("degraded_loss", 1.5),
        ("down_after", 0),
        ("window", 0),
        ("jitter", 1.0),
        ("max_tracked", 0),
        ("max_concurrent", 0),
        ("interval_s", "5"),
    ]:
        with pytest.raises(ConfigError) as info:
            HealthConfig(**{field: value})  # type: ignore[arg-type]
        assert info.value.field == field


async def test_rounds_ping_every_tracked_pair_on_a_jittered_interval() -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, interval_s=5.0, jitter=0.1)
    mon.track("a", "gun")
    mon.track("b", "gun")
    mon.track("a", "peerjs")
    mon.track("a", "gun")  # already tracked: no-op
    net.rtt[("b", "gun")] = 42.0
    async with mon:
        await clock.advance(4.49, step=0.01)
        assert net.calls == []
        await clock.advance(51.0, step=0.01)
    rounds = sorted({t for t, _, _ in net.calls})
    assert len(rounds) in (10, 11)
    assert 4_500 <= rounds[0] <= 5_500
    gaps = [b - a for a, b in itertools.pairwise(rounds)]
    assert all(4_500 <= g <= 5_500 for g in gaps), gaps
    assert len(set(gaps)) > 1  # the interval is spread
    for t in rounds:
        assert sorted((p, tr) for ts, p, tr in net.calls if ts == t) == [
            ("a", "gun"),
            ("a", "peerjs"),
            ("b", "gun"),
        ]
    assert ("b", "gun", True, 42.0) in net.results
    assert len(net.results) == 3 * len(rounds)
    assert mon.health("gun") is Health.UP
    stats = mon.stats()
    assert stats["tracked"] == 3
    assert stats["rounds"] == len(rounds)
    assert stats["health"] == {"gun": "up", "peerjs": "up"}


async def test_health_goes_degraded_then_down_and_back_up(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, window=10, degraded_loss=0.2, down_after=3)
    for peer in ("a", "b", "c", "d", "e"):
        mon.track(peer, "gun")
    assert mon.health("gun") is Health.UP  # nothing known against it yet
    assert mon.health("never-seen") is Health.UP
    net.dead = {("a", "gun")}
    await mon.ping_all()  # 1 failure of 5
    assert mon.health("gun") is Health.DEGRADED
    assert mon.pair_health("a", "gun") is Health.DEGRADED
    assert mon.pair_health("b", "gun") is Health.UP
    await mon.ping_all()
    await mon.ping_all()
    assert mon.pair_health("a", "gun") is Health.DOWN
    assert mon.health("gun") is Health.DEGRADED  # one peer down is not the transport down
    assert mon.pair_stats("a", "gun") == {
        "pings": 3,
        "failures": 3,
        "consecutive_failures": 3,
        "last_rtt_ms": None,
        "last_ok_ms": None,
    }
    assert mon.pair_stats("b", "gun") == {
        "pings": 3,
        "failures": 0,
        "consecutive_failures": 0,
        "last_rtt_ms": 10.0,
        "last_ok_ms": 0,
    }
    assert mon.pair_stats("zzz", "gun") is None
    net.dead = {(p, "gun") for p in "abcde"}
    with caplog.at_level(logging.INFO, logger="swarmmesh.mesh.health"):
        for _ in range(3):
            await mon.ping_all()
        assert mon.health("gun") is Health.DOWN
        net.dead = set()
        await mon.ping_all()  # 5 successes in a window of 10: still lossy
        assert mon.health("gun") is Health.DEGRADED
        await mon.ping_all()
        await mon.ping_all()
        assert mon.health("gun") is Health.UP
    messages = [r.getMessage() for r in caplog.records if r.name == "swarmmesh.mesh.health"]
    assert messages == [
        "transport gun health: up -> degraded",
        "transport gun health: degraded -> down",
        "transport gun health: down -> degraded",
        "transport gun health: degraded -> up",
    ]
    failures = [r for r in net.results if not r[2]]
    assert len(failures) == 3 + 15
    assert all(rtt == 0.0 for *_, rtt in failures)  # failed at once, on the clock


async def test_pings_of_a_round_run_concurrently_each_within_the_timeout() -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, timeout_s=2.0)
    for peer in ("a", "b", "c"):
        mon.track(peer, "gun")
    mon.track("d", "gun")
    net.hang = {("a", "gun"), ("b", "gun"), ("c", "gun")}
    round_ = asyncio.create_task(mon.ping_all())
    await clock.advance(1.999)
    assert not round_.done()
    assert net.results == [("d", "gun", True, 10.0)]
    await clock.advance(0.001)
    assert await round_ == 4  # three hangs of 2 s each took 2 s in all, not 6
    assert sorted(net.results[1:]) == [
        ("a", "gun", False, 2000.0),
        ("b", "gun", False, 2000.0),
        ("c", "gun", False, 2000.0),
    ]
    assert mon.stats()["timeouts"] == 3


async def test_concurrency_is_bounded() -> None:
    clock = ManualClock()
    in_flight = 0
    peak = 0

    async def ping(peer_id: str, transport: str) -> float:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await clock.sleep(0.1)
        in_flight -= 1
        return 1.0

    results: list[bool] = []
    mon = HealthMonitor(HealthConfig(max_concurrent=3), clock, ping, lambda p, t, ok, r: results.append(ok))
    for i in range(10):
        mon.track(f"p{i}", "gun")
    round_ = asyncio.create_task(mon.ping_all())
    await clock.advance(1.0, step=0.05)
    assert await round_ == 10
    assert peak == 3
    assert results == [True] * 10


async def test_untrack_stops_pings_and_the_table_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, max_tracked=3)
    mon.track("a", "gun")
    mon.track("a", "peerjs")
    mon.track("b", "gun")
    with caplog.at_level(logging.WARNING, logger="swarmmesh.mesh.health"):
        mon.track("c", "gun")
    assert "health monitor full" in caplog.text
    assert mon.tracked() == [("a", "gun"), ("a", "peerjs"), ("b", "gun")]
    assert mon.stats()["tracks_refused"] == 1
    mon.untrack("a")
    assert mon.tracked() == [("b", "gun")]
    mon.untrack("b", "peerjs")  # not tracked: no-op
    mon.untrack("zzz")
    await mon.ping_all()
    assert [c[1:] for c in net.calls] == [("b", "gun")]
    mon.untrack("b", "gun")
    assert mon.tracked() == []
    assert mon.stats()["health"] == {}
    assert await mon.ping_all() == 0


async def test_a_pair_untracked_while_its_ping_is_in_flight_reports_nothing() -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, timeout_s=1.0)
    mon.track("a", "gun")
    net.hang = {("a", "gun")}
    round_ = asyncio.create_task(mon.ping_all())
    await clock.advance(0.5)
    mon.untrack("a")
    await clock.advance(0.5)
    await round_
    assert net.results == []


async def test_errors_bad_rtts_and_a_failing_callback_are_failures_not_crashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    seen: list[tuple[str, bool]] = []

    async def ping(peer_id: str, transport: str) -> float:
        if peer_id == "boom":
            raise RuntimeError("boom")
        return float("nan") if peer_id == "nan" else -1.0 if peer_id == "neg" else 5.0

    def on_result(peer_id: str, transport: str, ok: bool, rtt_ms: float) -> None:
        seen.append((peer_id, ok))
        if peer_id == "ok":
            raise ValueError("callback bug")

    mon = HealthMonitor(HealthConfig(), clock, ping, on_result)
    for peer in ("boom", "nan", "neg", "ok"):
        mon.track(peer, "gun")
    with caplog.at_level(logging.WARNING, logger="swarmmesh.mesh.health"):
        assert await mon.ping_all() == 4
    assert sorted(seen) == [("boom", False), ("nan", False), ("neg", False), ("ok", True)]
    stats = mon.stats()
    assert (stats["errors"], stats["bad_rtts"], stats["failures"]) == (1, 2, 3)
    assert "health on_result callback failed" in caplog.text


async def test_stop_cancels_a_round_in_flight() -> None:
    clock = ManualClock()
    net = Net(clock)
    mon = monitor(clock, net, interval_s=1.0, jitter=0.0, timeout_s=30.0)
    mon.track("a", "gun")
    net.hang = {("a", "gun")}
    await mon.start()
    await mon.start()  # idempotent
    await clock.advance(1.5)
    assert len(net.calls) == 1
    await mon.stop()
    await mon.stop()
    await clock.advance(60.0)
    assert len(net.calls) == 1
    assert net.results == []
