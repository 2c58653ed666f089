"""Unit tests of the circuit breakers (swarmmesh.BreakerConfig / BreakerRegistry)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import swarmmesh
from swarmmesh import (
    BreakerConfig,
    BreakerEvent,
    BreakerRegistry,
    BreakerSnapshot,
    InvalidArgumentError,
)

NO_JITTER = BreakerConfig(jitter=0.0)


def registry(**changes: int | float | None) -> BreakerRegistry:
    return BreakerRegistry(NO_JITTER.replace(**changes))


def trip(r: BreakerRegistry, key: str, t0: int = 0, n: int = 5) -> None:
    for i in range(n):
        r.record_failure(key, t0 + i)


def events(r: BreakerRegistry) -> list[tuple[str, str, str, int, str]]:
    return [(e.key, e.from_state, e.to_state, e.at_ms, e.reason) for e in r.drain_events()]


# ---------------------------------------------------------------- config


def test_config_defaults_match_the_spec() -> None:
    c = BreakerConfig()
    assert c.failure_threshold == 5
    assert c.success_decrement == 1
    assert c.window_ms == 60_000
    assert c.failure_rate_threshold == 0.5
    assert c.min_calls == 5
    assert c.slow_call_ms is None
    assert c.base_backoff_ms == 1_000
    assert c.backoff_multiplier == 2.0
    assert c.max_backoff_ms == 300_000
    assert c.jitter == 0.2
    assert c.half_open_probes == 1
    assert c.reset_after_ms == 300_000
    assert c.idle_evict_ms == 600_000
    assert c.max_entries == 1_000_000
    assert c.max_events == 10_000


def test_config_is_an_immutable_value() -> None:
    a = BreakerConfig(failure_threshold=3, slow_call_ms=250)
    b = BreakerConfig(failure_threshold=3, slow_call_ms=250)
    assert a == b
    assert hash(a) == hash(b)
    assert a != BreakerConfig(failure_threshold=4, slow_call_ms=250)
    assert a != "not a config"
    assert len({a, b, BreakerConfig()}) == 2
    with pytest.raises(AttributeError):
        a.failure_threshold = 9  # type: ignore[misc]
    assert BreakerConfig(jitter=0.0) == BreakerConfig(jitter=-0.0)
    assert hash(BreakerConfig(jitter=0.0)) == hash(BreakerConfig(jitter=-0.0))


def test_config_repr_round_trips() -> None:
    c = BreakerConfig(slow_call_ms=100, jitter=0.1)
    text = repr(c)
    assert text.startswith("BreakerConfig(failure_threshold=5,")
    assert "slow_call_ms=100" in text
    assert eval(text, {"BreakerConfig": BreakerConfig}) == c


def test_config_replace() -> None:
    c = BreakerConfig()
    d = c.replace(failure_threshold=9, slow_call_ms=50)
    assert (d.failure_threshold, d.slow_call_ms) == (9, 50)
    assert c.failure_threshold == 5
    assert c.replace() == c
    assert d.replace(slow_call_ms=None).slow_call_ms is None
    with pytest.raises(TypeError):
        c.replace(no_such_field=1)
    with pytest.raises(InvalidArgumentError) as info:
        c.replace(jitter=1.0)
    assert info.value.argument == "jitter"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_threshold", 0),
        ("failure_threshold", 70_000),
        ("failure_threshold", -1),
        ("success_decrement", -1),
        ("window_ms", 7),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 1.5),
        ("failure_rate_threshold", float("nan")),
        ("min_calls", 0),
        ("slow_call_ms", -5),
        ("base_backoff_ms", 0),
        ("backoff_multiplier", 0.99),
        ("backoff_multiplier", float("inf")),
        ("max_backoff_ms", 999),
        ("max_backoff_ms", 3_000_000_000),
        ("jitter", 1.0),
        ("jitter", -0.1),
        ("half_open_probes", 0),
        ("reset_after_ms", -1),
        ("idle_evict_ms", -1),
        ("max_entries", 0),
        ("max_entries", 1 << 30),
        ("max_events", 0),
    ],
)
def test_config_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        BreakerConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.argument == field
    assert info.value.code == "invalid_argument"
    assert isinstance(info.value, ValueError)


def test_config_boundaries_accepted() -> None:
    c = BreakerConfig(
        failure_rate_threshold=1.0,
        backoff_multiplier=1.0,
        max_backoff_ms=1_000,
        jitter=0.0,
        success_decrement=0,
        window_ms=8,
    )
    assert c.max_backoff_ms == c.base_backoff_ms


# ---------------------------------------------------------------- registry basics


def test_registry_construction_and_properties() -> None:
    r = BreakerRegistry()
    assert r.config == BreakerConfig()
    assert r.mode == "enabled"
    assert len(r) == 0
    assert "x" not in r
    assert r.state("x") == "closed"
    assert r.latest_now_ms == 0
    r2 = BreakerRegistry(NO_JITTER, seed=7, mode="metrics_only")
    assert r2.mode == "metrics_only"
    assert r2.config.jitter == 0.0
    assert "BreakerRegistry" in repr(r2)
    with pytest.raises(InvalidArgumentError) as info:
        BreakerRegistry(mode="off")  # type: ignore[arg-type]
    assert info.value.argument == "mode"
    with pytest.raises(InvalidArgumentError) as info:
        BreakerRegistry(seed=-1)
    assert info.value.argument == "seed"


def test_public_exports() -> None:
    for name in ("BreakerConfig", "BreakerRegistry", "BreakerEvent", "BreakerSnapshot"):
        assert name in swarmmesh.__all__
        assert getattr(swarmmesh, name).__module__ == "swarmmesh"


def test_negative_times_are_rejected_naming_the_argument() -> None:
    r = BreakerRegistry()
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: r.allow("k", -1), "now_ms"),
        (lambda: r.would_allow("k", -1), "now_ms"),
        (lambda: r.record_success("k", -1), "now_ms"),
        (lambda: r.record_success("k", 0, latency_ms=-3), "latency_ms"),
        (lambda: r.record_failure("k", -1), "now_ms"),
        (lambda: r.force_open("k", -1), "now_ms"),
        (lambda: r.force_reset("k", -1), "now_ms"),
        (lambda: r.due_for_recovery(-1), "now_ms"),
        (lambda: r.evict_idle(-1), "now_ms"),
    ]
    for call, arg in calls:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.argument == arg


def test_overlong_keys_are_rejected() -> None:
    r = BreakerRegistry()
    key = "k" * 256
    assert r.allow(key, 0)
    calls: tuple[Callable[[], object], ...] = (
        lambda: r.record_failure(key, 0),
        lambda: r.record_success(key, 0),
        lambda: r.force_open(key),
    )
    for call in calls:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert info.value.argument == "key"
    r.record_failure("k" * 255, 0)
    assert "k" * 255 in r


def test_allow_on_unknown_key_tracks_nothing() -> None:
    r = BreakerRegistry()
    assert r.allow("peer-1|gun", 10)
    assert len(r) == 0
    assert r.latest_now_ms == 10
    r.record_success("peer-1|gun", 11)
    assert len(r) == 1
    assert "peer-1|gun" in r


# ---------------------------------------------------------------- transitions


def test_consecutive_failures_open_then_half_open_then_close() -> None:
    r = registry()
    for i in range(4):
        r.record_failure("p", i)
        assert r.state("p") == "closed"
        assert r.allow("p", i)
    r.record_failure("p", 4)
    assert r.state("p") == "open"
    assert not r.allow("p", 5)
    assert not r.allow("p", 1003)
    assert r.would_allow("p", 1004)
    assert r.state("p") == "open"  # would_allow changes nothing
    assert r.allow("p", 1004)
    assert r.state("p") == "half_open"
    assert not r.allow("p", 1005)  # one probe by default
    r.record_success("p", 1100)
    assert r.state("p") == "closed"
    assert events(r) == [
        ("p", "closed", "open", 4, "failure_threshold"),
        ("p", "open", "half_open", 1004, "open_elapsed"),
        ("p", "half_open", "closed", 1100, "probe_succeeded"),
    ]
    assert r.drain_events() == []


def test_success_decrements_the_failure_count() -> None:
    r = registry(success_decrement=2, failure_rate_threshold=1.0, min_calls=1000)
    for _ in range(3):
        r.record_failure("p", 0)
    r.record_success("p", 0)
    assert r.snapshot("p").consecutive_failures == 1
    r.record_success("p", 0)
    assert r.snapshot("p").consecutive_failures == 0
    for _ in range(4):
        r.record_failure("p", 0)
    assert r.state("p") == "closed"
    r.record_failure("p", 0)
    assert r.state("p") == "open"


def test_failure_rate_opens_with_min_calls() -> None:
    r = registry(failure_threshold=100, min_calls=6, failure_rate_threshold=0.5)
    for t in range(3):
        r.record_success("p", t)
    r.record_failure("p", 3)
    r.record_failure("p", 4)
    assert r.state("p") == "closed"  # 2/5 and below min_calls
    r.record_failure("p", 5)
    assert r.state("p") == "open"  # 3/6 = 0.5
    assert events(r) == [("p", "closed", "open", 5, "failure_rate")]
    snap = r.snapshot("p")
    assert (snap.calls_in_window, snap.failures_in_window) == (6, 3)
    assert snap.failure_rate == 0.5


def test_window_slides_out_old_calls() -> None:
    r = registry(failure_threshold=100, min_calls=4, window_ms=8_000)
    for t in range(3):
        r.record_failure("p", t)
    r.record_success("p", 100)
    r.record_success("p", 100)
    # 9 s later the old failures have left the 8 s window.
    r.record_failure("p", 9_100)
    snap = r.snapshot("p")
    assert (snap.calls_in_window, snap.failures_in_window) == (1, 1)
    assert r.state("p") == "closed"
    r.record_success("p", 30_000)
    assert r.snapshot("p").calls_in_window == 1


def test_slow_calls_count_as_failures() -> None:
    r = registry(slow_call_ms=200, failure_threshold=2)
    r.record_success("p", 0, latency_ms=200)
    assert r.snapshot("p").consecutive_failures == 0
    r.record_success("p", 1, latency_ms=201)
    assert r.snapshot("p").consecutive_failures == 1
    r.record_success("p", 2, latency_ms=5_000)
    assert r.state("p") == "open"
    assert r.stats()["slow_calls"] == 2
    # Without slow_call_ms, latency is ignored.
    r2 = registry()
    r2.record_success("p", 0, latency_ms=10**9)
    assert r2.snapshot("p").failures_in_window == 0


def test_probe_failure_reopens_with_growing_backoff() -> None:
    r = registry(max_backoff_ms=3_000)
    trip(r, "p")
    assert r.snapshot("p").open_until_ms == 1_004
    expected = [2_000, 3_000, 3_000]
    t = 1_004
    for period in expected:
        assert r.allow("p", t)
        r.record_failure("p", t + 1)
        snap = r.snapshot("p")
        assert snap.state == "open"
        assert snap.open_until_ms == t + 1 + period
        assert snap.backoff_ms == period
        t = t + 1 + period
    reasons = [e.reason for e in r.drain_events()]
    assert reasons == ["failure_threshold"] + ["open_elapsed", "probe_failed"] * 3
    assert r.snapshot("p").consecutive_openings == 4


def test_backoff_exponent_resets_after_staying_closed() -> None:
    r = registry(reset_after_ms=10_000)
    trip(r, "p")
    assert r.allow("p", 1_004)
    r.record_success("p", 1_005)
    snap = r.snapshot("p")
    assert (snap.consecutive_openings, snap.backoff_ms) == (1, 2_000)
    trip(r, "p", t0=2_000)  # re-opened soon: second step
    assert r.snapshot("p").open_until_ms == 2_004 + 2_000
    assert r.allow("p", 4_004)
    r.record_success("p", 4_005)
    trip(r, "p", t0=14_005)  # closed for 10 s: back to the first step
    snap = r.snapshot("p")
    assert snap.consecutive_openings == 1
    assert snap.open_until_ms == 14_009 + 1_000


def test_multiple_half_open_probes() -> None:
    r = registry(half_open_probes=2)
    trip(r, "p")
    assert r.allow("p", 2_000)
    assert r.allow("p", 2_000)
    assert not r.allow("p", 2_000)
    assert r.snapshot("p").half_open_in_flight == 2
    assert r.due_for_recovery(2_000) == []  # no free probe slot
    r.record_success("p", 2_001)
    assert r.state("p") == "closed"
    assert r.snapshot("p").half_open_in_flight == 0


def test_late_replies_never_close_an_open_breaker() -> None:
    r = registry()
    trip(r, "p")
    r.record_success("p", 10)
    r.record_failure("p", 11)
    snap = r.snapshot("p")
    assert snap.state == "open"
    assert snap.open_until_ms == 1_004
    # Half-open without an admitted probe: also a late reply.
    assert r.due_for_recovery(1_004) == ["p"]
    r.record_success("p", 1_005)
    assert r.state("p") == "half_open"
    assert r.stats()["late_outcomes"] == 3


def test_jitter_is_bounded_and_reproducible() -> None:
    def open_period(seed: int) -> int:
        r = BreakerRegistry(BreakerConfig(jitter=0.2), seed=seed)
        trip(r, "p")
        until = r.snapshot("p").open_until_ms
        assert until is not None
        return until - 4

    periods = [open_period(s) for s in range(50)]
    assert periods == [open_period(s) for s in range(50)]
    assert all(800 <= p <= 1_200 for p in periods)
    assert len(set(periods)) > 10


# ---------------------------------------------------------------- operator


def test_force_open_and_reset() -> None:
    r = registry()
    r.record_success("p", 100)
    r.force_open("p")  # defaults to the latest time seen
    assert r.state("p") == "forced_open"
    assert not r.allow("p", 10**9)
    assert not r.would_allow("p", 10**9)
    assert r.due_for_recovery(10**9) == []
    r.record_success("p", 10**9)
    assert r.state("p") == "forced_open"
    r.force_open("p", 10**9)  # idempotent: no second event
    r.force_reset("p", 10**9 + 1)
    assert r.state("p") == "closed"
    snap = r.snapshot("p")
    assert (snap.consecutive_failures, snap.consecutive_openings, snap.calls_in_window) == (0, 0, 0)
    assert events(r) == [
        ("p", "closed", "forced_open", 100, "forced_open"),
        ("p", "forced_open", "closed", 10**9 + 1, "forced_reset"),
    ]


def test_force_open_creates_and_force_reset_clears_backoff() -> None:
    r = registry()
    r.force_open("new", 5)
    assert "new" in r
    trip(r, "p")
    r.allow("p", 1_004)
    r.record_failure("p", 1_005)
    assert r.snapshot("p").consecutive_openings == 2
    r.force_reset("p")
    snap = r.snapshot("p")
    assert (snap.state, snap.consecutive_openings, snap.backoff_ms) == ("closed", 0, 1_000)
    r.force_reset("unknown")
    assert "unknown" not in r


def test_metrics_only_records_but_refuses_nothing() -> None:
    r = BreakerRegistry(NO_JITTER, mode="metrics_only")
    trip(r, "p")
    assert r.state("p") == "open"
    assert r.allow("p", 10)
    assert r.would_allow("p", 10)
    stats = r.stats()
    assert stats["refusals_suppressed"] == 1
    assert stats["refused"] == 0
    r.force_open("q", 10)
    assert r.allow("q", 10)
    r.set_mode("enabled")
    assert not r.allow("p", 11)
    assert not r.allow("q", 11)


def test_disabled_records_nothing_and_refuses_nothing() -> None:
    r = registry()
    trip(r, "p")
    r.set_mode("disabled")
    assert r.mode == "disabled"
    assert r.allow("p", 2_000)
    assert r.would_allow("p", 10)
    trip(r, "q")
    assert "q" not in r
    assert r.due_for_recovery(5_000) == []
    r.set_mode("enabled")
    assert r.state("p") == "open"  # kept while disabled, moves on lazily
    assert r.due_for_recovery(5_000) == ["p"]
    with pytest.raises(InvalidArgumentError) as info:
        r.set_mode("paused")  # type: ignore[arg-type]
    assert info.value.argument == "mode"


def test_due_for_recovery_is_sorted_and_moves_to_half_open() -> None:
    r = registry()
    for key in ("c", "a", "b"):
        trip(r, key)
    r.force_open("z", 0)
    assert r.due_for_recovery(1_003) == []
    assert r.due_for_recovery(1_004) == ["a", "b", "c"]
    assert {r.state(k) for k in "abc"} == {"half_open"}
    assert [e.reason for e in r.drain_events()][-3:] == ["open_elapsed"] * 3


# ---------------------------------------------------------------- values


def test_snapshot_fields() -> None:
    r = registry()
    r.record_failure("p", 10)
    r.record_success("p", 20)
    r.record_failure("p", 30)
    s = r.snapshot("p")
    assert isinstance(s, BreakerSnapshot)
    assert s.key == "p"
    assert s.state == "closed"
    assert s.consecutive_failures == 1
    assert (s.calls_in_window, s.failures_in_window) == (3, 2)
    assert s.failure_rate == pytest.approx(2 / 3)
    assert s.consecutive_openings == 0
    assert s.backoff_ms == 1_000
    assert s.open_until_ms is None
    assert s.half_open_in_flight == 0
    assert s.last_change_ms == 10
    assert s == r.snapshot("p")
    assert "BreakerSnapshot(" in repr(s)
    unknown = r.snapshot("nobody")
    assert (unknown.key, unknown.state, unknown.calls_in_window) == ("nobody", "closed", 0)


def test_events_are_values_and_bounded() -> None:
    r = registry(max_events=3)
    for i in range(5):
        r.force_open(f"k{i}", i)
    evs = r.drain_events()
    assert all(isinstance(e, BreakerEvent) for e in evs)
    assert [e.key for e in evs] == ["k2", "k3", "k4"]
    assert r.stats()["events_dropped"] == 2
    a, b = evs[0], evs[0]
    assert a == b
    assert hash(a) == hash(b)
    assert a != evs[1]
    assert "forced_open" in repr(a)
    r.force_open("k9", 9)
    assert r.stats()["pending_events"] == 1


# ---------------------------------------------------------------- bounds


def test_evict_idle_removes_only_idle_closed_entries() -> None:
    r = registry(idle_evict_ms=10_000)
    r.record_success("idle", 0)
    r.record_success("busy", 0)
    trip(r, "open")
    r.record_success("busy", 15_000)
    assert r.evict_idle(10_500) == 0  # last seen during second 0: idle for >= 9.5 s only
    assert r.evict_idle(20_000) == 1
    assert "idle" not in r
    assert "busy" in r
    assert "open" in r
    assert len(r) == 2
    assert r.stats()["evicted"] == 1


def test_capacity_evicts_closed_entries_first() -> None:
    r = registry(max_entries=3)
    r.record_success("old", 0)
    r.force_open("f1", 0)
    r.force_open("f2", 0)
    r.record_success("new", 1_000)
    assert len(r) == 3
    assert "old" not in r
    assert all(k in r for k in ("f1", "f2", "new"))


def test_full_of_non_closed_entries_leaves_new_keys_untracked() -> None:
    r = registry(max_entries=2)
    r.force_open("a", 0)
    r.force_open("b", 0)
    r.record_failure("c", 0)
    assert "c" not in r
    assert r.allow("c", 0)  # untracked keys are allowed
    assert r.stats()["untracked"] == 1
    r.force_open("d", 0)  # operator commands always take effect
    assert r.state("d") == "forced_open"
    assert len(r) == 3


def test_new_keys_sweep_idle_entries_out() -> None:
    r = registry(idle_evict_ms=1_000)
    for i in range(1_000):
        r.record_success(f"old-{i}", 0)
    for i in range(1_000):
        r.record_success(f"new-{i}", 60_000)
    assert len(r) < 2_000
    assert all(f"new-{i}" in r for i in range(1_000))


def test_many_breakers_and_memory_estimate() -> None:
    r = BreakerRegistry()
    for i in range(20_000):
        r.record_success(f"peer-{i:08d}|gun", i)
    assert len(r) == 20_000
    assert all(f"peer-{i:08d}|gun" in r for i in range(0, 20_000, 97))
    per_entry = r.memory_bytes() / len(r)
    assert per_entry < 160
