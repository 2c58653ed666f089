"""Model-based test: BreakerRegistry against a small pure-Python reference model.

The model re-states the documented state machine (docs/breakers.md) with jitter 0,
so every open period is exact; hypothesis drives random sequences of allow /
success (with latency) / failure / time advance / force_open / force_reset /
set_mode / due_for_recovery and compares every answer, state, snapshot and event.
Eviction is disabled here (huge idle_evict_ms and max_entries); it has its own
unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from swarmmesh import BreakerConfig, BreakerRegistry

KEYS = ("a", "b|gun", "c")
BUCKETS = 8


@dataclass
class ModelBreaker:
    created_ms: int
    state: str = "closed"
    consecutive_failures: int = 0
    consecutive_openings: int = 0
    open_until: int = 0
    in_flight: int = 0
    last_change_ms: int = 0
    window: dict[int, list[int]] = field(default_factory=dict)  # bucket -> [calls, failures]


class Model:
    """The reference state machine (one instance per registry)."""

    def __init__(self, cfg: BreakerConfig, mode: str) -> None:
        self.cfg = cfg
        self.mode = mode
        self.bucket_ms = -(-cfg.window_ms // BUCKETS)
        self.breakers: dict[str, ModelBreaker] = {}
        self.events: list[tuple[str, str, str, int, str]] = []
        self.latest = 0

    # -- helpers
    def observe(self, now: int) -> None:
        self.latest = max(self.latest, now)

    def nominal(self, k: int) -> int:
        period = float(self.cfg.base_backoff_ms)
        cap = float(self.cfg.max_backoff_ms)
        for _ in range(1, k):
            if period >= cap:
                break
            period = min(period * self.cfg.backoff_multiplier, cap)
        return int(min(period, cap))

    def counts(self, b: ModelBreaker, now: int) -> tuple[int, int]:
        nb = now // self.bucket_ms
        calls = fails = 0
        for bucket, (c, f) in b.window.items():
            if nb - BUCKETS < bucket <= nb:
                calls += c
                fails += f
        return calls, fails

    def move(self, key: str, b: ModelBreaker, to: str, now: int, reason: str) -> None:
        self.events.append((key, b.state, to, now, reason))
        b.state = to
        b.last_change_ms = now

    def open(self, key: str, b: ModelBreaker, now: int, reason: str) -> None:
        b.consecutive_openings = min(b.consecutive_openings + 1, 255)
        b.open_until = now + max(1, self.nominal(b.consecutive_openings))
        b.in_flight = 0
        b.consecutive_failures = 0
        self.move(key, b, "open", now, reason)

    def refresh(self, key: str, b: ModelBreaker, now: int) -> None:
        if b.state == "open" and now >= b.open_until:
            b.in_flight = 0
            self.move(key, b, "half_open", now, "open_elapsed")
        elif (
            b.state == "closed"
            and b.consecutive_openings > 0
            and now - b.last_change_ms >= self.cfg.reset_after_ms
        ):
            b.consecutive_openings = 0

    def get(self, key: str, now: int) -> ModelBreaker:
        if key not in self.breakers:
            self.breakers[key] = ModelBreaker(created_ms=now, last_change_ms=now)
        return self.breakers[key]

    # -- operations
    def allow(self, key: str, now: int) -> bool:
        self.observe(now)
        if self.mode == "disabled" or key not in self.breakers:
            return True
        b = self.breakers[key]
        self.refresh(key, b, now)
        if b.state == "closed":
            return True
        if b.state == "half_open" and b.in_flight < self.cfg.half_open_probes:
            b.in_flight += 1
            return True
        return self.mode == "metrics_only"

    def would_allow(self, key: str, now: int) -> bool:
        if self.mode != "enabled" or key not in self.breakers:
            return True
        b = self.breakers[key]
        if b.state == "closed":
            return True
        if b.state == "open":
            return now >= b.open_until
        if b.state == "half_open":
            return b.in_flight < self.cfg.half_open_probes
        return False

    def add(self, b: ModelBreaker, now: int, failed: bool) -> None:
        slot = b.window.setdefault(now // self.bucket_ms, [0, 0])
        slot[0] += 1
        slot[1] += int(failed)

    def success(self, key: str, now: int, latency: int | None) -> None:
        slow = self.cfg.slow_call_ms
        if slow is not None and latency is not None and latency > slow:
            self.failure(key, now)
            return
        self.observe(now)
        if self.mode == "disabled":
            return
        b = self.get(key, now)
        self.refresh(key, b, now)
        if b.state == "closed":
            self.add(b, now, failed=False)
            b.consecutive_failures = max(0, b.consecutive_failures - self.cfg.success_decrement)
        elif b.state == "half_open" and b.in_flight > 0:
            b.in_flight = 0
            b.consecutive_failures = 0
            b.window.clear()
            self.move(key, b, "closed", now, "probe_succeeded")

    def failure(self, key: str, now: int) -> None:
        self.observe(now)
        if self.mode == "disabled":
            return
        b = self.get(key, now)
        self.refresh(key, b, now)
        if b.state == "closed":
            self.add(b, now, failed=True)
            b.consecutive_failures += 1
            calls, fails = self.counts(b, now)
            if b.consecutive_failures >= self.cfg.failure_threshold:
                self.open(key, b, now, "failure_threshold")
            elif calls >= self.cfg.min_calls and fails >= self.cfg.failure_rate_threshold * calls:
                self.open(key, b, now, "failure_rate")
        elif b.state == "half_open" and b.in_flight > 0:
            self.open(key, b, now, "probe_failed")

    def force_open(self, key: str, now: int) -> None:
        self.observe(now)
        b = self.get(key, now)
        if b.state != "forced_open":
            b.in_flight = 0
            self.move(key, b, "forced_open", now, "forced_open")

    def force_reset(self, key: str, now: int) -> None:
        self.observe(now)
        b = self.breakers.get(key)
        if b is None:
            return
        b.consecutive_failures = 0
        b.consecutive_openings = 0
        b.in_flight = 0
        b.window.clear()
        if b.state == "closed":
            b.last_change_ms = now
        else:
            self.move(key, b, "closed", now, "forced_reset")

    def due(self, now: int) -> list[str]:
        self.observe(now)
        if self.mode == "disabled":
            return []
        out = []
        for key, b in self.breakers.items():
            self.refresh(key, b, now)
            if b.state == "half_open" and b.in_flight < self.cfg.half_open_probes:
                out.append(key)
        return sorted(out)

    def snapshot(self, key: str) -> dict[str, object]:
        b = self.breakers[key]
        calls, fails = self.counts(b, self.latest)
        openings = b.consecutive_openings
        if b.state == "closed" and self.latest - b.last_change_ms >= self.cfg.reset_after_ms:
            openings = 0
        backoff = self.nominal(max(openings, 1) if b.state in ("open", "half_open") else openings + 1)
        return {
            "state": b.state,
            "consecutive_failures": b.consecutive_failures,
            "calls_in_window": calls,
            "failures_in_window": fails,
            "consecutive_openings": openings,
            "backoff_ms": backoff,
            "open_until_ms": b.open_until if b.state == "open" else None,
            "half_open_in_flight": b.in_flight,
            "last_change_ms": b.last_change_ms,
        }


configs = st.builds(
    BreakerConfig,
    failure_threshold=st.integers(1, 6),
    success_decrement=st.integers(0, 2),
    window_ms=st.sampled_from([8, 800, 4_000, 10_000]),
    failure_rate_threshold=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    min_calls=st.integers(1, 6),
    slow_call_ms=st.none() | st.integers(0, 300),
    base_backoff_ms=st.sampled_from([1, 500, 1_000]),
    backoff_multiplier=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    max_backoff_ms=st.sampled_from([1_000, 4_000, 20_000]),
    jitter=st.just(0.0),
    half_open_probes=st.integers(1, 3),
    reset_after_ms=st.sampled_from([0, 3_000, 30_000]),
    idle_evict_ms=st.just(10**15),
    max_entries=st.just(1_000),
    max_events=st.just(10_000),
)


class BreakerMachine(RuleBasedStateMachine):
    """Drives the registry and the model with the same operations."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.model: Model | None = None
        self.real: BreakerRegistry | None = None

    @initialize(
        cfg=configs,
        mode=st.sampled_from(["enabled", "enabled", "metrics_only"]),
        seed=st.integers(0, 9),
    )
    def setup(self, cfg: BreakerConfig, mode: str, seed: int) -> None:
        self.model = Model(cfg, mode)
        self.real = BreakerRegistry(cfg, seed=seed, mode=mode)  # type: ignore[arg-type]

    @property
    def m(self) -> Model:
        assert self.model is not None
        return self.model

    @property
    def r(self) -> BreakerRegistry:
        assert self.real is not None
        return self.real

    @rule(dt=st.one_of(st.just(0), st.integers(1, 50), st.integers(100, 5_000), st.integers(10_000, 40_000)))
    def advance(self, dt: int) -> None:
        self.now += dt

    @rule(key=st.sampled_from(KEYS))
    def allow(self, key: str) -> None:
        peek = self.r.would_allow(key, self.now)
        assert peek == self.m.would_allow(key, self.now)
        got = self.r.allow(key, self.now)
        assert got == self.m.allow(key, self.now)
        if self.m.mode == "enabled":
            assert got == peek

    @rule(key=st.sampled_from(KEYS), latency=st.none() | st.integers(0, 400))
    def success(self, key: str, latency: int | None) -> None:
        self.r.record_success(key, self.now, latency)
        self.m.success(key, self.now, latency)

    @rule(key=st.sampled_from(KEYS))
    def failure(self, key: str) -> None:
        self.r.record_failure(key, self.now)
        self.m.failure(key, self.now)

    @rule(key=st.sampled_from(KEYS), explicit=st.booleans())
    def force_open(self, key: str, explicit: bool) -> None:
        self.r.force_open(key, self.now if explicit else None)
        self.m.force_open(key, self.now if explicit else self.m.latest)

    @rule(key=st.sampled_from(KEYS), explicit=st.booleans())
    def force_reset(self, key: str, explicit: bool) -> None:
        self.r.force_reset(key, self.now if explicit else None)
        self.m.force_reset(key, self.now if explicit else self.m.latest)

    @rule(mode=st.sampled_from(["enabled", "metrics_only", "disabled"]))
    def set_mode(self, mode: str) -> None:
        self.r.set_mode(mode)  # type: ignore[arg-type]
        self.m.mode = mode

    @rule()
    def due_for_recovery(self) -> None:
        assert self.r.due_for_recovery(self.now) == self.m.due(self.now)

    @rule()
    def drain(self) -> None:
        got = [(e.key, e.from_state, e.to_state, e.at_ms, e.reason) for e in self.r.drain_events()]
        assert got == self.m.events
        self.m.events.clear()

    @invariant()
    def same_state(self) -> None:
        if self.model is None:
            return
        assert len(self.r) == len(self.m.breakers)
        assert self.r.latest_now_ms == self.m.latest
        assert self.r.mode == self.m.mode
        for key in KEYS:
            assert (key in self.r) == (key in self.m.breakers)
            if key not in self.m.breakers:
                assert self.r.state(key) == "closed"
                continue
            expected = self.m.snapshot(key)
            snap = self.r.snapshot(key)
            got = {name: getattr(snap, name) for name in expected}
            assert got == expected, key
            assert self.r.state(key) == expected["state"]


BreakerMachine.TestCase.settings = settings(max_examples=250, stateful_step_count=60, deadline=None)
TestBreakerModel = BreakerMachine.TestCase
