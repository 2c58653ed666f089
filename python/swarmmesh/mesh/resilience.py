"""Connection resilience: breakers per (peer, transport) and per endpoint, a recovery loop, discipline.

:class:`Resilience` composes two Rust :class:`~swarmmesh.BreakerRegistry` instances, it does not
reimplement a breaker:

* ``peer_breakers``, keyed ``f"{peer_id}|{transport}"``: one breaker per pair, so a peer that is
  unreachable over one transport is still tried over the others;
* ``endpoint_breakers``, keyed by endpoint name (``"gun:ws://127.0.0.1:8765"``, a signalling
  server, a tracker): one relay outage opens one breaker, not one per peer behind it.

Open periods start at ``base_open_s`` and double per consecutive opening up to ``max_open_s``,
spread by ``open_jitter`` (the registry's seeded jitter). A recovery loop wakes every
``recovery_interval_s`` (spread by ``recovery_jitter``), and probes the breakers whose open period
has passed through the ``probe`` callback, at most ``probes_per_round`` per round: a reachable
peer closes its breaker, an unreachable one re-opens it for the next, doubled, period.

Protocol violations (bad signatures, malformed frames) are not transport failures: they go to
:meth:`Resilience.misbehaved`, a separate :class:`~swarmmesh.mesh.discipline.Discipline` that
counts offences per peer and bans a peer after ``misbehaviour_threshold`` of them for ``ban_s``,
calling ``on_ban`` so the mesh disconnects that key on every transport. It never touches a breaker.

Every state change is a log line on ``swarmmesh.mesh.resilience`` and a :class:`ResilienceEvent`
in a bounded ring (:meth:`Resilience.events`). All time comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

from swarmmesh._core import BreakerConfig, BreakerEvent, BreakerRegistry
from swarmmesh.clock import Clock
from swarmmesh.errors import ConfigError
from swarmmesh.mesh._deadline import within
from swarmmesh.mesh._loop import BackgroundLoop
from swarmmesh.mesh.discipline import BanFn, Discipline

__all__ = ["EventKind", "Resilience", "ResilienceConfig", "ResilienceEvent"]

logger = logging.getLogger(__name__)

#: How many distinct transport names :meth:`Resilience.force_reset` remembers (a mesh has a handful).
MAX_TRANSPORT_NAMES: Final = 256
#: How many of the newest bans :meth:`Resilience.snapshot` lists.
SNAPSHOT_BANS: Final = 256
#: How many distinct failure reasons are counted by name; the rest count as ``"other"``.
MAX_FAILURE_REASONS: Final = 64
_SEED_MASK: Final = (1 << 63) - 1  # the registries take seeds in [0, 2**63)
_ENDPOINT_SEED_SALT: Final = 0x9E37_79B9_7F4A_7C15
_STATES: Final = ("closed", "open", "half_open", "forced_open")

EventKind = Literal["pair", "endpoint", "ban"]


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, f"must be an int, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {value}")


def _check_float(name: str, value: object, lo: float, hi: float, *, hi_open: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < lo or value > hi or (hi_open and value == hi):
        bracket = ")" if hi_open else "]"
        raise ConfigError(name, f"must be a finite number in [{lo}, {hi}{bracket}, got {value}")


@dataclass(frozen=True, slots=True)
class ResilienceConfig:
    """Parameters of :class:`Resilience` (validated: a bad value raises ``ConfigError`` naming it).

    ``failure_threshold``: consecutive failures that open a breaker. ``base_open_s`` /
    ``max_open_s``: the first open period and the cap of the doubling. ``open_jitter``: relative
    spread of each open period. ``recovery_interval_s`` / ``recovery_jitter``: how often the
    recovery loop runs and its relative spread. ``half_open_probes``: trial calls admitted at once
    in half-open. ``probes_per_round`` / ``probe_timeout_s``: the bound on probes of one recovery
    round and the time each may take. ``max_entries``: the bound on breakers per registry and on
    the discipline tables. ``ban_s`` / ``misbehaviour_threshold``: how long a ban lasts and how many
    offences (each forgotten ``ban_s`` after the last) earn one. ``max_events``: the event ring.
    """

    failure_threshold: int = 5
    base_open_s: float = 1.0
    max_open_s: float = 300.0
    recovery_interval_s: float = 30.0
    recovery_jitter: float = 0.2
    half_open_probes: int = 1
    max_entries: int = 100_000
    ban_s: float = 600.0
    misbehaviour_threshold: int = 3
    open_jitter: float = 0.2
    probes_per_round: int = 32
    probe_timeout_s: float = 5.0
    max_events: int = 1024

    def __post_init__(self) -> None:
        _check_int("failure_threshold", self.failure_threshold, 1, 65_535)
        _check_float("base_open_s", self.base_open_s, 0.001, 2_000_000.0)
        _check_float("max_open_s", self.max_open_s, 0.001, 2_000_000.0)
        if self.max_open_s < self.base_open_s:
            raise ConfigError(
                "max_open_s", f"must be at least base_open_s ({self.base_open_s}), got {self.max_open_s}"
            )
        _check_float("recovery_interval_s", self.recovery_interval_s, 0.001, 86_400.0)
        _check_float("recovery_jitter", self.recovery_jitter, 0.0, 1.0, hi_open=True)
        _check_int("half_open_probes", self.half_open_probes, 1, 65_535)
        _check_int("max_entries", self.max_entries, 1, 16_777_200)
        _check_float("ban_s", self.ban_s, 0.001, 31_536_000.0)
        _check_int("misbehaviour_threshold", self.misbehaviour_threshold, 1, 1_000_000)
        _check_float("open_jitter", self.open_jitter, 0.0, 1.0, hi_open=True)
        _check_int("probes_per_round", self.probes_per_round, 1, 1_000_000)
        _check_float("probe_timeout_s", self.probe_timeout_s, 0.001, 3_600.0)
        _check_int("max_events", self.max_events, 1, 1_000_000)

    def breaker_config(self) -> BreakerConfig:
        """The :class:`~swarmmesh.BreakerConfig` both registries are built with."""
        return BreakerConfig(
            failure_threshold=self.failure_threshold,
            base_backoff_ms=max(1, round(self.base_open_s * 1000.0)),
            max_backoff_ms=max(1, round(self.max_open_s * 1000.0)),
            backoff_multiplier=2.0,
            jitter=self.open_jitter,
            half_open_probes=self.half_open_probes,
            max_entries=self.max_entries,
            # One call can change every tracked breaker (due_for_recovery), so the core's
            # buffer holds that many: events are drained after every call and never dropped.
            max_events=self.max_entries + 1024,
        )


@dataclass(frozen=True, slots=True)
class ResilienceEvent:
    """One state change: of a pair breaker, an endpoint breaker, or a peer's ban.

    ``time_ms`` is the clock time of the change. ``kind`` is ``"pair"`` (``peer`` and
    ``transport`` set), ``"endpoint"`` (``endpoint`` set) or ``"ban"`` (``peer`` set; states
    ``"allowed"`` / ``"banned"``). ``from_state`` / ``to_state`` are breaker states otherwise.
    ``reason`` is the stable reason code (the breaker's, e.g. ``"failure_threshold"``,
    ``"probe_succeeded"``, or ``"ban_expired"``, ``"pardoned"``, or the misbehaviour reason);
    ``detail`` says what caused it where known (the last failure reason, ``"probe_timeout"``).
    """

    time_ms: int
    kind: EventKind
    key: str
    peer: str | None
    transport: str | None
    endpoint: str | None
    from_state: str
    to_state: str
    reason: str
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """The event as a plain dict (for ``stats()`` and JSON)."""
        return {
            "time_ms": self.time_ms,
            "kind": self.kind,
            "key": self.key,
            "peer": self.peer,
            "transport": self.transport,
            "endpoint": self.endpoint,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "detail": self.detail,
        }


ProbeFn = Callable[[str, str], Awaitable[bool]]
EndpointProbeFn = Callable[[str], Awaitable[bool]]


def _rotate(keys: list[str], cursor: str, limit: int) -> list[str]:
    """At most ``limit`` of the sorted ``keys``, starting after ``cursor`` and wrapping around."""
    start = bisect.bisect_right(keys, cursor)
    ordered = keys[start:] + keys[:start]
    return ordered[:limit]


class Resilience(BackgroundLoop):
    """Breakers per (peer, transport) and per endpoint, their recovery loop, and peer discipline.

    ``enabled=False`` runs both registries in metrics-only mode: every call is allowed, outcomes
    are still recorded and state changes still reported. ``probe(peer_id, transport)`` answers
    whether a peer is reachable over a transport (the recovery loop's probe); ``probe_endpoint``
    does the same for an endpoint. ``on_ban(peer_id, reason)`` is called once per ban. ``seed``
    makes the jitter of open periods and of the recovery interval reproducible.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_counts",
        "_cursor_endpoint",
        "_cursor_pair",
        "_discipline",
        "_enabled",
        "_endpoint",
        "_endpoint_states",
        "_events",
        "_failure_reasons",
        "_pair_states",
        "_peer",
        "_probe",
        "_probe_endpoint",
        "_rng",
        "_transports",
    )
    _task_name = "swarmmesh-resilience-recovery"

    def __init__(
        self,
        config: ResilienceConfig,
        clock: Clock,
        *,
        enabled: bool = True,
        seed: int = 0,
        probe: ProbeFn | None = None,
        on_ban: BanFn | None = None,
        probe_endpoint: EndpointProbeFn | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._enabled = bool(enabled)
        mode: Literal["enabled", "metrics_only"] = "enabled" if self._enabled else "metrics_only"
        breaker_config = config.breaker_config()
        self._peer = BreakerRegistry(breaker_config, seed=seed & _SEED_MASK, mode=mode)
        self._endpoint = BreakerRegistry(
            breaker_config, seed=(seed ^ _ENDPOINT_SEED_SALT) & _SEED_MASK, mode=mode
        )
        self._probe = probe
        self._probe_endpoint = probe_endpoint
        self._rng = random.Random(seed)
        # Non-closed breakers and their state, kept from the events (for the counts per state).
        self._pair_states: dict[str, str] = {}
        self._endpoint_states: dict[str, str] = {}
        self._transports: dict[str, None] = {}
        self._events: deque[ResilienceEvent] = deque(maxlen=config.max_events)
        self._failure_reasons: dict[str, int] = {}
        self._discipline = Discipline(
            clock,
            ban_s=config.ban_s,
            threshold=config.misbehaviour_threshold,
            max_entries=config.max_entries,
            emit=self._ban_event,
            on_ban=on_ban,
        )
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "events",
                "probes",
                "probe_successes",
                "probe_failures",
                "probe_timeouts",
                "probe_errors",
                "probes_skipped",
                "transport_names_dropped",
            ),
            0,
        )
        self._cursor_pair = ""
        self._cursor_endpoint = ""
        self._task = None

    # ------------------------------------------------------------ configuration and mode

    @property
    def config(self) -> ResilienceConfig:
        """The configuration."""
        return self._config

    @property
    def peer_breakers(self) -> BreakerRegistry:
        """The registry of (peer, transport) breakers, keyed ``f"{peer_id}|{transport}"``."""
        return self._peer

    @property
    def endpoint_breakers(self) -> BreakerRegistry:
        """The registry of endpoint breakers (relays, signalling servers, trackers)."""
        return self._endpoint

    @property
    def enabled(self) -> bool:
        """Whether breakers refuse calls; ``False`` is metrics-only mode (always allow, still count).

        Setting it switches both registries at once and keeps every state and counter.
        """
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        value = bool(value)
        if value == self._enabled:
            return
        self._enabled = value
        mode: Literal["enabled", "metrics_only"] = "enabled" if value else "metrics_only"
        self._peer.set_mode(mode)
        self._endpoint.set_mode(mode)
        logger.info("connection resilience %s (breakers %s)", "enabled" if value else "disabled", mode)

    # ------------------------------------------------------------ (peer, transport) breakers

    def allow(self, peer_id: str, transport: str) -> bool:
        """Whether a dial or send to ``peer_id`` over ``transport`` may proceed now.

        In half-open this takes a probe slot: record the outcome of the call. Metrics-only mode
        always answers ``True``.
        """
        ok = self._peer.allow(f"{peer_id}|{transport}", self._clock.now_ms())
        self._pump_pairs("")
        return ok

    def would_allow(self, peer_id: str, transport: str) -> bool:
        """Whether :meth:`allow` would admit a call now; changes nothing."""
        return self._peer.would_allow(f"{peer_id}|{transport}", self._clock.now_ms())

    def record_success(self, peer_id: str, transport: str) -> None:
        """Record a successful dial or acknowledged send."""
        if transport not in self._transports:
            self._note_transport(transport)
        self._peer.record_success(f"{peer_id}|{transport}", self._clock.now_ms())
        self._pump_pairs("")

    def record_failure(self, peer_id: str, transport: str, reason: str) -> None:
        """Record a failed dial or send; ``reason`` (e.g. ``"timeout"``) is counted and logged."""
        if transport not in self._transports:
            self._note_transport(transport)
        self._count_reason(reason)
        self._peer.record_failure(f"{peer_id}|{transport}", self._clock.now_ms())
        self._pump_pairs(reason)

    def state(self, peer_id: str, transport: str) -> str:
        """The breaker state of the pair (``"closed"`` when unknown)."""
        return self._peer.state(f"{peer_id}|{transport}")

    def force_reset(self, peer_id: str) -> int:
        """Reset every breaker of ``peer_id`` (on every transport) to closed; return how many.

        Counts, backoff and probe slots are cleared. Only breakers that exist are counted.
        """
        now = self._clock.now_ms()
        reset = 0
        for transport in self._transports:
            key = f"{peer_id}|{transport}"
            if key in self._peer:
                self._peer.force_reset(key, now)
                reset += 1
        self._pump_pairs("force_reset")
        logger.info("force_reset of %s: %d breaker(s)", peer_id, reset)
        return reset

    # ------------------------------------------------------------ endpoint breakers

    def endpoint_allow(self, endpoint: str) -> bool:
        """Whether a call to ``endpoint`` (a relay, signalling server, tracker) may proceed now."""
        ok = self._endpoint.allow(endpoint, self._clock.now_ms())
        self._pump_endpoints("")
        return ok

    def endpoint_would_allow(self, endpoint: str) -> bool:
        """Whether :meth:`endpoint_allow` would admit a call now; changes nothing."""
        return self._endpoint.would_allow(endpoint, self._clock.now_ms())

    def endpoint_success(self, endpoint: str) -> None:
        """Record a successful call to ``endpoint``."""
        self._endpoint.record_success(endpoint, self._clock.now_ms())
        self._pump_endpoints("")

    def endpoint_failure(self, endpoint: str, reason: str) -> None:
        """Record a failed call to ``endpoint``; ``reason`` is counted and logged."""
        self._count_reason(reason)
        self._endpoint.record_failure(endpoint, self._clock.now_ms())
        self._pump_endpoints(reason)

    def endpoint_state(self, endpoint: str) -> str:
        """The breaker state of ``endpoint`` (``"closed"`` when unknown)."""
        return self._endpoint.state(endpoint)

    def force_reset_endpoint(self, endpoint: str) -> bool:
        """Reset the breaker of ``endpoint`` to closed; ``False`` if it does not exist."""
        if endpoint not in self._endpoint:
            return False
        self._endpoint.force_reset(endpoint, self._clock.now_ms())
        self._pump_endpoints("force_reset")
        return True

    # ------------------------------------------------------------ discipline

    def misbehaved(self, peer_id: str, reason: str) -> None:
        """Record a protocol violation by ``peer_id`` (bad signature, malformed frame, ...).

        Never touches a breaker. Offences are forgotten ``ban_s`` after the last one; the
        ``misbehaviour_threshold``-th bans the peer for ``ban_s`` and calls ``on_ban``.
        """
        self._discipline.misbehaved(peer_id, reason)

    def is_banned(self, peer_id: str) -> bool:
        """Whether ``peer_id`` is banned now (a ban ends by itself ``ban_s`` after it began)."""
        return self._discipline.is_banned(peer_id)

    def pardon(self, peer_id: str) -> bool:
        """Lift the ban of ``peer_id`` and forget its offences; ``False`` if it was not banned."""
        return self._discipline.pardon(peer_id)

    def expire_bans(self) -> int:
        """End every ban whose time is up; return how many (the recovery loop calls this)."""
        return self._discipline.expire()

    def banned(self) -> dict[str, int]:
        """The banned peers and when each ban ends (clock ms)."""
        return self._discipline.banned()

    # ------------------------------------------------------------ reporting

    def events(self) -> list[ResilienceEvent]:
        """The latest state changes, oldest first (at most ``max_events``)."""
        return list(self._events)

    def snapshot(self) -> dict[str, object]:
        """Counts per state of both registries, the registries' counters, events, bans.

        ``bans`` lists the newest ``SNAPSHOT_BANS`` (256) bans; ``banned`` counts them all.
        """
        self._pump_pairs("")
        self._pump_endpoints("")
        self.expire_bans()
        return {
            "enabled": self._enabled,
            "mode": self._peer.mode,
            "pairs": self._state_counts(self._peer, self._pair_states),
            "endpoints": self._state_counts(self._endpoint, self._endpoint_states),
            "pair_stats": self._peer.stats(),
            "endpoint_stats": self._endpoint.stats(),
            "counters": {**self._counts, **self._discipline.counters()},
            "failure_reasons": dict(self._failure_reasons),
            "banned": self._discipline.ban_count,
            "bans": self._discipline.newest_bans(SNAPSHOT_BANS),
            "offenders": self._discipline.offender_count,
            "events": [event.as_dict() for event in self._events],
        }

    # ------------------------------------------------------------ recovery loop

    async def probe_due(self) -> int:
        """Run one recovery round now; return how many probes it ran.

        Moves every breaker whose open period has passed to half-open, then probes at most
        ``probes_per_round`` pairs (and as many endpoints), continuing where the last round
        stopped, concurrently, each within ``probe_timeout_s``. Without a probe callback the
        breakers are only moved to half-open (the next real call is the trial). Also ends
        the bans whose time is up.
        """
        now = self._clock.now_ms()
        self.expire_bans()
        pairs = self._peer.due_for_recovery(now)
        self._pump_pairs("")
        endpoints = self._endpoint.due_for_recovery(now)
        self._pump_endpoints("")
        limit = self._config.probes_per_round
        jobs: list[Awaitable[None]] = []
        if self._probe is not None and pairs:
            chosen = _rotate(pairs, self._cursor_pair, limit)
            self._cursor_pair = chosen[-1]
            self._counts["probes_skipped"] += len(pairs) - len(chosen)
            for key in chosen:
                if self._peer.allow(key, now):  # takes the probe slot
                    peer_id, _, transport = key.rpartition("|")
                    jobs.append(self._probe_pair(self._probe, key, peer_id, transport))
            self._pump_pairs("")
        if self._probe_endpoint is not None and endpoints:
            chosen = _rotate(endpoints, self._cursor_endpoint, limit)
            self._cursor_endpoint = chosen[-1]
            self._counts["probes_skipped"] += len(endpoints) - len(chosen)
            for endpoint in chosen:
                if self._endpoint.allow(endpoint, now):
                    jobs.append(self._probe_one_endpoint(self._probe_endpoint, endpoint))
            self._pump_endpoints("")
        if jobs:
            await asyncio.gather(*jobs)
        return len(jobs)

    async def _run(self) -> None:
        interval = self._config.recovery_interval_s
        jitter = self._config.recovery_jitter
        while True:
            await self._clock.sleep(interval * (1.0 + self._rng.uniform(-jitter, jitter)))
            try:
                await self.probe_due()
            except Exception:
                logger.exception("recovery round failed")

    async def _ask(self, check: Callable[[], Awaitable[bool]], what: str) -> tuple[bool, str]:
        """Run one probe within the timeout; return (reachable, detail)."""
        self._counts["probes"] += 1
        try:
            reachable = bool(await within(self._clock, self._config.probe_timeout_s, check()))
        except TimeoutError:
            self._counts["probe_timeouts"] += 1
            return False, "probe_timeout"
        except Exception:
            self._counts["probe_errors"] += 1
            logger.warning("probe of %s raised", what, exc_info=True)
            return False, "probe_error"
        return reachable, "probe_reachable" if reachable else "probe_unreachable"

    async def _probe_pair(self, probe: ProbeFn, key: str, peer_id: str, transport: str) -> None:
        try:
            ok, detail = await self._ask(lambda: probe(peer_id, transport), key)
        except asyncio.CancelledError:
            # The probe slot is taken: answer it, or the breaker would wait for it forever.
            self._peer.record_failure(key, self._clock.now_ms())
            self._pump_pairs("probe_cancelled")
            raise
        self._counts["probe_successes" if ok else "probe_failures"] += 1
        if ok:
            self._peer.record_success(key, self._clock.now_ms())
        else:
            self._peer.record_failure(key, self._clock.now_ms())
        self._pump_pairs(detail)

    async def _probe_one_endpoint(self, probe: EndpointProbeFn, endpoint: str) -> None:
        try:
            ok, detail = await self._ask(lambda: probe(endpoint), endpoint)
        except asyncio.CancelledError:
            self._endpoint.record_failure(endpoint, self._clock.now_ms())
            self._pump_endpoints("probe_cancelled")
            raise
        self._counts["probe_successes" if ok else "probe_failures"] += 1
        if ok:
            self._endpoint.record_success(endpoint, self._clock.now_ms())
        else:
            self._endpoint.record_failure(endpoint, self._clock.now_ms())
        self._pump_endpoints(detail)

    # ------------------------------------------------------------ internals

    def _note_transport(self, transport: str) -> None:
        if "|" in transport:
            raise ConfigError("transport", f"a transport name must not contain '|', got {transport!r}")
        if len(self._transports) >= MAX_TRANSPORT_NAMES:
            self._counts["transport_names_dropped"] += 1
            logger.warning("over %d transport names: %r is not remembered", MAX_TRANSPORT_NAMES, transport)
            return
        self._transports[transport] = None

    def _count_reason(self, reason: str) -> None:
        if reason not in self._failure_reasons and len(self._failure_reasons) >= MAX_FAILURE_REASONS:
            reason = "other"
        self._failure_reasons[reason] = self._failure_reasons.get(reason, 0) + 1

    def _pump_pairs(self, detail: str) -> None:
        events = self._peer.drain_events()
        if events:
            self._absorb(events, "pair", self._pair_states, detail)

    def _pump_endpoints(self, detail: str) -> None:
        events = self._endpoint.drain_events()
        if events:
            self._absorb(events, "endpoint", self._endpoint_states, detail)

    def _absorb(
        self, events: Iterable[BreakerEvent], kind: EventKind, states: dict[str, str], detail: str
    ) -> None:
        for e in events:
            if e.to_state == "closed":
                states.pop(e.key, None)
            else:
                states[e.key] = e.to_state
            if kind == "pair":
                peer_id, _, transport = e.key.rpartition("|")
                event = ResilienceEvent(
                    e.at_ms, kind, e.key, peer_id, transport, None, e.from_state, e.to_state, e.reason, detail
                )
                subject = f"breaker {peer_id} over {transport}"
            else:
                event = ResilienceEvent(
                    e.at_ms, kind, e.key, None, None, e.key, e.from_state, e.to_state, e.reason, detail
                )
                subject = f"endpoint breaker {e.key}"
            self._record(event, subject)

    def _record(self, event: ResilienceEvent, subject: str) -> None:
        self._events.append(event)
        self._counts["events"] += 1
        level = logging.WARNING if event.to_state in ("open", "forced_open", "banned") else logging.INFO
        if logger.isEnabledFor(level):
            cause = f"; {event.detail}" if event.detail else ""
            logger.log(
                level,
                "%s: %s -> %s (%s%s) at %d ms",
                subject,
                event.from_state,
                event.to_state,
                event.reason,
                cause,
                event.time_ms,
            )

    def _ban_event(self, now: int, peer_id: str, before: str, after: str, reason: str, detail: str) -> None:
        event = ResilienceEvent(now, "ban", peer_id, peer_id, None, None, before, after, reason, detail)
        self._record(event, f"peer {peer_id}")

    @staticmethod
    def _state_counts(registry: BreakerRegistry, states: dict[str, str]) -> dict[str, int]:
        counts = dict.fromkeys(_STATES, 0)
        for state in states.values():
            counts[state] += 1
        counts["closed"] = max(0, len(registry) - len(states))
        counts["tracked"] = len(registry)
        return counts
