"""Connection resilience (swarmmesh.mesh.resilience): breakers per pair and endpoint, recovery, discipline."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmmesh import BreakerConfig, ConfigError
from swarmmesh.clock import ManualClock
from swarmmesh.mesh.resilience import Resilience, ResilienceConfig, ResilienceEvent

P, Q = "sw1peerp", "sw1peerq"


class Prober:
    """A probe callback whose answers the test sets per (peer, transport); records every call."""

    def __init__(self, clock: ManualClock, reachable: bool = False) -> None:
        self.clock = clock
        self.reachable = reachable
        self.answers: dict[tuple[str, str], bool] = {}
        self.calls: list[tuple[int, str, str]] = []

    async def __call__(self, peer_id: str, transport: str) -> bool:
        self.calls.append((self.clock.now_ms(), peer_id, transport))
        return self.answers.get((peer_id, transport), self.reachable)


def make(clock: ManualClock, **changes: object) -> tuple[Resilience, Prober]:
    prober = Prober(clock)
    enabled = bool(changes.pop("enabled", True))
    seed = int(changes.pop("seed", 7))  # type: ignore[call-overload]
    config = ResilienceConfig(**changes)  # type: ignore[arg-type]
    return Resilience(config, clock, enabled=enabled, seed=seed, probe=prober), prober


def trip(res: Resilience, peer: str, transport: str, n: int = 5, reason: str = "timeout") -> None:
    for _ in range(n):
        res.record_failure(peer, transport, reason)


def transitions(res: Resilience) -> list[tuple[str, str, str, str]]:
    return [(e.key, e.from_state, e.to_state, e.reason) for e in res.events()]


# ---------------------------------------------------------------- config


def test_config_defaults_follow_the_seed_design() -> None:
    c = ResilienceConfig()
    assert (c.failure_threshold, c.base_open_s, c.max_open_s) == (5, 1.0, 300.0)
    assert (c.recovery_interval_s, c.recovery_jitter, c.half_open_probes) == (30.0, 0.2, 1)
    assert (c.max_entries, c.ban_s, c.misbehaviour_threshold) == (100_000, 600.0, 3)
    b = c.breaker_config()
    assert isinstance(b, BreakerConfig)
    assert (b.base_backoff_ms, b.max_backoff_ms, b.backoff_multiplier, b.jitter) == (1000, 300_000, 2.0, 0.2)
    assert (b.failure_threshold, b.half_open_probes, b.max_entries) == (5, 1, 100_000)
    with pytest.raises(FrozenInstanceError):
        c.ban_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_threshold", 0),
        ("failure_threshold", True),
        ("base_open_s", 0.0),
        ("base_open_s", float("nan")),
        ("max_open_s", 0.5),  # below base_open_s
        ("recovery_interval_s", -1.0),
        ("recovery_jitter", 1.0),
        ("half_open_probes", 0),
        ("max_entries", 0),
        ("ban_s", float("inf")),
        ("misbehaviour_threshold", 0),
        ("open_jitter", -0.1),
        ("probes_per_round", 0),
        ("probe_timeout_s", 0.0),
        ("max_events", 0),
        ("max_entries", "10"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        ResilienceConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.code == "config"


# ---------------------------------------------------------------- the breaker timeline


async def test_open_periods_double_from_1s_to_the_300s_cap_within_jitter() -> None:
    clock = ManualClock()
    res, prober = make(clock)
    trip(res, P, "gun")
    periods: list[int] = []
    for _ in range(12):
        snap = res.peer_breakers.snapshot(f"{P}|gun")
        assert snap.state == "open"
        assert snap.open_until_ms is not None
        opened_at = res.events()[-1].time_ms
        periods.append(snap.open_until_ms - opened_at)
        # Just before the period ends nothing is due and nothing is probed.
        await clock.advance((snap.open_until_ms - 1 - clock.now_ms()) / 1000.0)
        assert await res.probe_due() == 0
        await clock.advance(0.001)
        assert await res.probe_due() == 1  # the probe fails: re-opened, one step longer
    nominal = [min(1000 * 2**k, 300_000) for k in range(12)]
    assert nominal[:10] == [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000]
    for got, want in zip(periods, nominal, strict=True):
        assert want * 0.8 <= got < want * 1.2, (periods, nominal)
    assert len(set(periods)) == len(periods)  # jitter is applied: no two periods alike
    assert [c[1:] for c in prober.calls] == [(P, "gun")] * 12
    reasons = [e.reason for e in res.events()]
    assert reasons[:5] == [
        "failure_threshold",
        "open_elapsed",
        "probe_failed",
        "open_elapsed",
        "probe_failed",
    ]


async def test_the_same_seed_gives_the_same_timeline() -> None:
    async def timeline(seed: int) -> list[int | None]:
        clock = ManualClock()
        res, _ = make(clock, seed=seed)
        out: list[int | None] = []
        trip(res, P, "gun")
        for _ in range(5):
            until = res.peer_breakers.snapshot(f"{P}|gun").open_until_ms
            out.append(until)
            assert until is not None
            await clock.advance((until - clock.now_ms()) / 1000.0)
            await res.probe_due()
        return out

    assert await timeline(3) == await timeline(3)
    assert await timeline(3) != await timeline(4)


async def test_probe_success_half_opens_then_closes_and_everything_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="swarmmesh.mesh.resilience")
    clock = ManualClock()
    res, prober = make(clock, open_jitter=0.0)
    trip(res, P, "gun", reason="timeout")
    assert not res.allow(P, "gun")
    assert not res.would_allow(P, "gun")
    prober.reachable = True
    await clock.advance(1.0)
    assert res.would_allow(P, "gun")  # the period has passed (half-open on the next call)
    assert await res.probe_due() == 1
    assert res.state(P, "gun") == "closed"
    assert res.allow(P, "gun")
    key = f"{P}|gun"
    assert transitions(res) == [
        (key, "closed", "open", "failure_threshold"),
        (key, "open", "half_open", "open_elapsed"),
        (key, "half_open", "closed", "probe_succeeded"),
    ]
    first, _, last = res.events()
    assert first == ResilienceEvent(
        0, "pair", key, P, "gun", None, "closed", "open", "failure_threshold", "timeout"
    )
    assert last.detail == "probe_reachable"
    assert last.time_ms == 1000
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "swarmmesh.mesh.resilience"]
    assert lines[0] == (
        logging.WARNING,
        f"breaker {P} over gun: closed -> open (failure_threshold; timeout) at 0 ms",
    )
    assert (logging.INFO, f"breaker {P} over gun: open -> half_open (open_elapsed) at 1000 ms") in lines
    assert (
        logging.INFO,
        f"breaker {P} over gun: half_open -> closed (probe_succeeded; probe_reachable) at 1000 ms",
    ) in lines


async def test_a_half_open_breaker_admits_one_real_call_when_there_is_no_probe() -> None:
    clock = ManualClock()
    res = Resilience(ResilienceConfig(open_jitter=0.0), clock)
    trip(res, P, "gun")
    await clock.advance(1.0)
    assert await res.probe_due() == 0  # nothing to probe with; the breaker is half-open now
    assert res.state(P, "gun") == "half_open"
    assert res.allow(P, "gun")  # the trial call takes the slot
    assert not res.allow(P, "gun")
    res.record_success(P, "gun")
    assert res.state(P, "gun") == "closed"


async def test_recovery_loop_runs_on_a_jittered_interval_and_probes_only_due_breakers() -> None:
    clock = ManualClock()
    res, prober = make(clock, recovery_interval_s=10.0, recovery_jitter=0.2, open_jitter=0.0)
    trip(res, P, "gun")  # open 1 s: due at the first round
    trip(res, Q, "gun", n=4)  # one failure short: closed, never probed
    res.record_failure(Q, "peerjs", "timeout")
    async with res:
        await clock.advance(7.9, step=0.1)
        assert prober.calls == []  # no round before 10 s * (1 - 0.2)
        await clock.advance(4.2, step=0.1)
        assert [c[1:] for c in prober.calls] == [(P, "gun")]
        assert 8_000 <= prober.calls[0][0] <= 12_000
        trip(res, Q, "peerjs")  # opens now, 1 s
        await clock.advance(12.1, step=0.1)
    # Round two probed P (re-opened for 2 s, due again) and Q over peerjs, nothing else.
    assert sorted(c[1:] for c in prober.calls[1:]) == [(P, "gun"), (Q, "peerjs")]
    rounds = sorted({c[0] for c in prober.calls})
    assert len(rounds) == 2
    assert 8_000 <= rounds[1] - rounds[0] <= 12_000
    assert res.state(Q, "gun") == "closed"
    await res.stop()  # idempotent


async def test_recovery_rounds_are_bounded_and_rotate_through_the_due_breakers() -> None:
    clock = ManualClock()
    res, prober = make(clock, probes_per_round=8, open_jitter=0.0, failure_threshold=1)
    peers = [f"sw1peer{i:02d}" for i in range(20)]
    for peer in peers:
        res.record_failure(peer, "gun", "refused")
    prober.answers = {(peer, "gun"): True for peer in peers}
    await clock.advance(1.0)
    assert await res.probe_due() == 8
    assert await res.probe_due() == 8
    assert await res.probe_due() == 4
    assert await res.probe_due() == 0
    probed = [c[1] for c in prober.calls]
    assert sorted(probed) == peers  # each exactly once: the rounds continue where the last stopped
    assert probed[:8] == peers[:8]
    snap = res.snapshot()
    assert snap["pairs"] == {"closed": 20, "open": 0, "half_open": 0, "forced_open": 0, "tracked": 20}
    counters = snap["counters"]
    assert isinstance(counters, dict)
    assert counters["probes"] == 20
    assert counters["probe_successes"] == 20
    assert counters["probes_skipped"] == 12 + 4


async def test_a_probe_that_hangs_times_out_on_the_clock_and_re_opens() -> None:
    clock = ManualClock()
    never = asyncio.Event()

    async def hang(peer_id: str, transport: str) -> bool:
        await never.wait()
        return True

    res = Resilience(ResilienceConfig(open_jitter=0.0, probe_timeout_s=5.0), clock, probe=hang)
    trip(res, P, "gun")
    await clock.advance(1.0)
    round_ = asyncio.create_task(res.probe_due())
    await clock.advance(4.9)
    assert not round_.done()
    assert res.state(P, "gun") == "half_open"
    await clock.advance(0.1)
    assert await round_ == 1
    assert res.state(P, "gun") == "open"
    assert res.events()[-1].reason == "probe_failed"
    assert res.events()[-1].detail == "probe_timeout"
    snap = res.peer_breakers.snapshot(f"{P}|gun")
    assert snap.backoff_ms == 2000


async def test_stopping_the_loop_answers_the_probe_in_flight() -> None:
    clock = ManualClock()
    started = asyncio.Event()

    async def hang(peer_id: str, transport: str) -> bool:
        started.set()
        await asyncio.Event().wait()
        return True

    config = ResilienceConfig(open_jitter=0.0, recovery_interval_s=2.0, recovery_jitter=0.0)
    res = Resilience(config, clock, probe=hang)
    trip(res, P, "gun")
    await res.start()
    await clock.advance(2.0)
    assert started.is_set()
    await res.stop()
    # The slot was answered with a failure: open again, not stuck half-open forever.
    assert res.state(P, "gun") == "open"
    assert res.events()[-1].detail == "probe_cancelled"
    await clock.advance(10.0)
    assert res.allow(P, "gun")


async def test_a_probe_that_raises_is_a_failure() -> None:
    clock = ManualClock()

    async def broken(peer_id: str, transport: str) -> bool:
        raise RuntimeError("boom")

    res = Resilience(ResilienceConfig(open_jitter=0.0), clock, probe=broken)
    trip(res, P, "gun")
    await clock.advance(1.0)
    assert await res.probe_due() == 1
    assert res.state(P, "gun") == "open"
    assert res.events()[-1].detail == "probe_error"


def test_force_reset_closes_every_breaker_of_the_peer_and_only_those() -> None:
    clock = ManualClock()
    res, _ = make(clock)
    for transport in ("gun", "peerjs", "websocket"):
        trip(res, P, transport)
    trip(res, Q, "gun")
    res.record_failure(P, "integrated", "timeout")  # closed, but counted: reset too
    assert res.force_reset(P) == 4
    for transport in ("gun", "peerjs", "websocket", "integrated"):
        assert res.state(P, transport) == "closed"
        assert res.allow(P, transport)
        assert res.peer_breakers.snapshot(f"{P}|{transport}").consecutive_failures == 0
    assert res.state(Q, "gun") == "open"
    resets = [e for e in res.events() if e.reason == "forced_reset"]
    assert sorted(str(e.transport) for e in resets) == ["gun", "peerjs", "websocket"]
    assert {e.detail for e in resets} == {"force_reset"}
    assert res.force_reset("sw1unknown") == 0


def test_transport_names_must_not_contain_the_key_separator() -> None:
    res, _ = make(ManualClock())
    with pytest.raises(ConfigError) as info:
        res.record_failure(P, "gun|x", "timeout")
    assert info.value.field == "transport"


# ---------------------------------------------------------------- modes


def test_metrics_only_never_refuses_but_counts_and_switches_back_warm() -> None:
    clock = ManualClock()
    res, _ = make(clock, enabled=False)
    assert not res.enabled
    assert res.peer_breakers.mode == "metrics_only"
    assert res.endpoint_breakers.mode == "metrics_only"
    trip(res, P, "gun", n=10)
    assert res.state(P, "gun") == "open"
    assert res.would_allow(P, "gun")
    assert all(res.allow(P, "gun") for _ in range(3))
    assert res.peer_breakers.stats()["refusals_suppressed"] == 3
    assert [e.to_state for e in res.events()] == ["open"]
    res.enabled = True
    assert res.peer_breakers.mode == "enabled"
    assert not res.allow(P, "gun")  # the open state survived the switch
    assert res.peer_breakers.stats()["refusals_suppressed"] == 3  # and so did the counts
    assert res.peer_breakers.stats()["refused"] == 1
    res.enabled = False
    assert res.allow(P, "gun")
    snap = res.snapshot()
    assert snap["enabled"] is False
    assert snap["mode"] == "metrics_only"


# ---------------------------------------------------------------- endpoints


async def test_an_endpoint_outage_opens_one_endpoint_breaker_and_no_peer_breaker() -> None:
    clock = ManualClock()
    probed: list[str] = []

    async def probe_endpoint(endpoint: str) -> bool:
        probed.append(endpoint)
        return True

    res = Resilience(ResilienceConfig(open_jitter=0.0), clock, probe_endpoint=probe_endpoint)
    relay = "gun:ws://127.0.0.1:8765"
    for _ in range(40):  # 40 peers behind one relay, each send fails at the relay
        if res.endpoint_allow(relay):
            res.endpoint_failure(relay, "relay_down")
    assert res.endpoint_state(relay) == "open"
    assert not res.endpoint_would_allow(relay)
    assert len(res.peer_breakers) == 0
    snap = res.snapshot()
    assert snap["endpoints"] == {"closed": 0, "open": 1, "half_open": 0, "forced_open": 0, "tracked": 1}
    assert snap["pairs"] == {"closed": 0, "open": 0, "half_open": 0, "forced_open": 0, "tracked": 0}
    assert snap["failure_reasons"] == {"relay_down": 5}
    event = res.events()[0]
    assert (event.kind, event.endpoint, event.peer, event.transport) == ("endpoint", relay, None, None)
    await clock.advance(1.0)
    assert await res.probe_due() == 1
    assert probed == [relay]
    assert res.endpoint_state(relay) == "closed"
    res.endpoint_success(relay)
    assert res.force_reset_endpoint(relay)
    assert not res.force_reset_endpoint("tracker:ws://127.0.0.1:1")


# ---------------------------------------------------------------- discipline


def test_misbehaviour_bans_after_the_threshold_without_touching_breakers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    bans: list[tuple[str, str]] = []
    res = Resilience(ResilienceConfig(ban_s=60.0), clock, on_ban=lambda p, r: bans.append((p, r)))
    res.misbehaved(P, "bad_signature")
    res.misbehaved(P, "malformed_frame")
    assert not res.is_banned(P)
    assert bans == []
    with caplog.at_level(logging.WARNING, logger="swarmmesh.mesh.resilience"):
        res.misbehaved(P, "bad_signature")
    assert res.is_banned(P)
    assert bans == [(P, "bad_signature")]
    assert len(res.peer_breakers) == 0
    assert len(res.endpoint_breakers) == 0
    assert any("peer sw1peerp: allowed -> banned (bad_signature" in r.getMessage() for r in caplog.records)
    res.misbehaved(P, "bad_signature")  # while banned: counted, no second ban
    assert bans == [(P, "bad_signature")]
    assert res.banned() == {P: 60_000}
    ban = res.events()[-1]
    assert (ban.kind, ban.peer, ban.from_state, ban.to_state) == ("ban", P, "allowed", "banned")


async def test_bans_expire_by_the_clock_and_offences_are_forgotten() -> None:
    clock = ManualClock()
    res = Resilience(ResilienceConfig(ban_s=60.0, misbehaviour_threshold=2), clock)
    res.misbehaved(P, "bad_signature")
    res.misbehaved(P, "bad_signature")
    await clock.advance(59.999)
    assert res.is_banned(P)
    await clock.advance(0.001)
    assert not res.is_banned(P)
    assert res.events()[-1].reason == "ban_expired"
    # An offence is forgotten ban_s after the last one.
    res.misbehaved(Q, "malformed_frame")
    await clock.advance(60.0)
    res.misbehaved(Q, "malformed_frame")
    assert not res.is_banned(Q)
    res.misbehaved(Q, "malformed_frame")
    assert res.is_banned(Q)
    # The recovery round ends due bans too.
    await clock.advance(60.0)
    assert await res.probe_due() == 0
    assert res.banned() == {}
    counters = res.snapshot()["counters"]
    assert isinstance(counters, dict)
    assert (counters["bans"], counters["bans_expired"]) == (2, 2)


def test_pardon_and_a_failing_on_ban_callback(caplog: pytest.LogCaptureFixture) -> None:
    def explode(peer_id: str, reason: str) -> None:
        raise RuntimeError("cannot disconnect")

    res = Resilience(ResilienceConfig(misbehaviour_threshold=1), ManualClock(), on_ban=explode)
    with caplog.at_level(logging.ERROR, logger="swarmmesh.mesh.resilience"):
        res.misbehaved(P, "bad_signature")
    assert res.is_banned(P)
    assert any("on_ban callback failed" in r.getMessage() for r in caplog.records)
    assert res.pardon(P)
    assert not res.is_banned(P)
    assert not res.pardon(P)
    assert res.events()[-1].reason == "pardoned"


# ---------------------------------------------------------------- bounds


def test_tables_and_the_event_ring_are_bounded() -> None:
    clock = ManualClock()
    res = Resilience(
        ResilienceConfig(max_entries=4, max_events=5, misbehaviour_threshold=2, failure_threshold=1),
        clock,
    )
    for i in range(10):
        res.misbehaved(f"sw1bad{i}", "malformed_frame")  # one offence each
    snap = res.snapshot()
    assert snap["offenders"] == 4
    for i in range(10):
        res.misbehaved(f"sw1ban{i}", "x")
        res.misbehaved(f"sw1ban{i}", "x")
    assert len(res.banned()) == 4
    assert set(res.banned()) == {f"sw1ban{i}" for i in range(6, 10)}
    assert len(res.events()) == 5
    assert res.events()[-1].peer == "sw1ban9"
    for i in range(10):
        res.record_success(f"sw1peer{i}", "gun")
    assert len(res.peer_breakers) <= 4
    counters = res.snapshot()["counters"]
    assert isinstance(counters, dict)
    assert counters["bans_evicted"] == 6
    assert res.snapshot()["banned"] == 4
    assert counters["offences_evicted"] >= 6


# ---------------------------------------------------------------- invariants under random operations

PEERS = ["sw1a", "sw1b", "sw1c"]
TRANSPORTS = ["gun", "peerjs"]
KEYS = [f"{p}|{t}" for p in PEERS for t in TRANSPORTS]

operation = st.one_of(
    st.tuples(st.sampled_from(["fail", "ok", "allow"]), st.sampled_from(PEERS), st.sampled_from(TRANSPORTS)),
    st.tuples(st.just("advance"), st.floats(0.0, 400.0)),
    st.tuples(st.just("round"), st.integers(0, 2**32)),
    st.tuples(st.just("reset"), st.sampled_from(PEERS)),
    st.tuples(st.just("mode"), st.booleans()),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=60))
def test_invariants_hold_under_random_operations(ops: list[tuple[object, ...]]) -> None:
    asyncio.run(_run_ops(ops))


async def _run_ops(ops: list[tuple[object, ...]]) -> None:
    clock = ManualClock()
    answers: dict[str, bool] = {}
    probed: list[str] = []

    async def probe(peer_id: str, transport: str) -> bool:
        probed.append(f"{peer_id}|{transport}")
        return answers.get(f"{peer_id}|{transport}", False)

    config = ResilienceConfig(failure_threshold=2, probes_per_round=2, max_events=100_000)
    res = Resilience(config, clock, seed=5, probe=probe)
    for op in ops:
        kind = op[0]
        if kind in ("fail", "ok", "allow"):
            peer, transport = str(op[1]), str(op[2])
            if kind == "fail":
                res.record_failure(peer, transport, "x")
            elif kind == "ok":
                res.record_success(peer, transport)
            else:
                expected = res.would_allow(peer, transport)
                assert res.allow(peer, transport) == expected
                if not res.enabled:
                    assert expected
        elif kind == "advance":
            await clock.advance(float(op[1]))  # type: ignore[arg-type]
        elif kind == "round":
            rng = random.Random(int(op[1]))  # type: ignore[call-overload]
            answers = {key: rng.random() < 0.5 for key in KEYS}
            now = clock.now_ms()
            due = set()
            for key in KEYS:
                snap = res.peer_breakers.snapshot(key)
                if (
                    snap.state == "open" and snap.open_until_ms is not None and snap.open_until_ms <= now
                ) or (snap.state == "half_open" and snap.half_open_in_flight < config.half_open_probes):
                    due.add(key)
            probed.clear()
            ran = await res.probe_due()
            assert ran == len(probed) <= config.probes_per_round
            assert set(probed) <= due
            assert len(probed) == min(len(due), config.probes_per_round)
            for key in probed:  # a probe decides: closed if reachable, open again if not
                assert res.peer_breakers.state(key) == ("closed" if answers[key] else "open")
        elif kind == "reset":
            res.force_reset(str(op[1]))
            assert all(res.state(str(op[1]), t) == "closed" for t in TRANSPORTS)
        else:
            res.enabled = bool(op[1])
        # The counts per state agree with the registry.
        counts = res.snapshot()["pairs"]
        assert isinstance(counts, dict)
        for state in ("closed", "open", "half_open", "forced_open"):
            expected = sum(
                1 for key in KEYS if key in res.peer_breakers and res.peer_breakers.state(key) == state
            )
            assert counts[state] == expected, (state, counts)
    # Events chain: per key, each change starts where the previous ended, in time order.
    last: dict[str, str] = {}
    last_time = 0
    for event in res.events():
        assert event.time_ms >= last_time
        last_time = event.time_ms
        assert event.from_state == last.get(event.key, "closed")
        last[event.key] = event.to_state
        assert event.peer is not None
        assert event.key == f"{event.peer}|{event.transport}"
