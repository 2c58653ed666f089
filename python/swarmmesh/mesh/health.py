"""The health monitor: periodic pings per (peer, transport) and a health verdict per transport.

Idle pairs get no traffic, so the router's estimates and the breakers would go stale exactly
where a fallback is needed. :class:`HealthMonitor` pings every tracked (peer, transport) pair
every ``interval_s`` (spread by ``jitter``), all pairs of one round at once (at most
``max_concurrent`` in flight), each within ``timeout_s``, and hands every result to
``on_result(peer_id, transport, ok, rtt_ms)``, which the mesh feeds to ``Router.observe`` and
the breakers. From the last ``window`` results of each transport it judges the transport (a
change of verdict is logged once per round):

* ``down`` when every tracked pair of the transport failed its last ``down_after`` pings;
* ``degraded`` when the share of failures among its recent results is at least ``degraded_loss``;
* ``up`` otherwise (also before any result).

All time comes from the injected clock, so a test drives many rounds with a ManualClock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from swarmmesh.clock import Clock
from swarmmesh.errors import ConfigError
from swarmmesh.mesh._deadline import within
from swarmmesh.mesh._loop import BackgroundLoop
from swarmmesh.transports.base import Health

__all__ = ["HealthConfig", "HealthMonitor"]

logger = logging.getLogger(__name__)

PingFn = Callable[[str, str], Awaitable[float]]
ResultFn = Callable[[str, str, bool, float], None]


def _number(name: str, value: object, lo: float, hi: float, *, lo_open: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(name, f"must be a number, got {value!r}")
    if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
        raise ConfigError(
            name, f"must be a finite number in {'(' if lo_open else '['}{lo}, {hi}], got {value}"
        )


def _integer(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, f"must be an int, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be in [{lo}, {hi}], got {value}")


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Parameters of :class:`HealthMonitor` (validated: a bad value raises ``ConfigError`` naming it).

    ``interval_s``: time between rounds, spread by ``jitter`` (relative, in [0, 1)).
    ``timeout_s``: how long one ping may take. ``degraded_loss``: failure share of the recent
    results that makes a transport degraded. ``down_after``: consecutive failures that make a
    pair down (a transport is down when all its pairs are). ``window``: recent results kept per
    transport. ``max_tracked``: the bound on tracked pairs. ``max_concurrent``: pings in flight.
    """

    interval_s: float = 5.0
    timeout_s: float = 2.0
    degraded_loss: float = 0.2
    down_after: int = 3
    window: int = 32
    jitter: float = 0.1
    max_tracked: int = 10_000
    max_concurrent: int = 64

    def __post_init__(self) -> None:
        _number("interval_s", self.interval_s, 0.0, 86_400.0, lo_open=True)
        _number("timeout_s", self.timeout_s, 0.0, 3_600.0, lo_open=True)
        _number("degraded_loss", self.degraded_loss, 0.0, 1.0, lo_open=True)
        _integer("down_after", self.down_after, 1, 1_000_000)
        _integer("window", self.window, 1, 1_000_000)
        _number("jitter", self.jitter, 0.0, 1.0)
        if self.jitter >= 1.0:
            raise ConfigError("jitter", f"must be below 1, got {self.jitter}")
        _integer("max_tracked", self.max_tracked, 1, 16_777_216)
        _integer("max_concurrent", self.max_concurrent, 1, 1_000_000)


class _Pair:
    __slots__ = ("consecutive_failures", "failures", "last_ok_ms", "last_rtt_ms", "pings")

    def __init__(self) -> None:
        self.consecutive_failures = 0
        self.failures = 0
        self.pings = 0
        self.last_rtt_ms: float | None = None
        self.last_ok_ms: int | None = None


class HealthMonitor(BackgroundLoop):
    """Pings tracked (peer, transport) pairs periodically and judges each transport's health.

    ``ping(peer_id, transport)`` returns the round-trip time in ms or raises;
    ``on_result(peer_id, transport, ok, rtt_ms)`` receives every outcome (for a failure,
    ``rtt_ms`` is the time until it failed). ``seed`` makes the interval jitter reproducible.
    """

    __slots__ = (
        "_by_peer",
        "_by_transport",
        "_clock",
        "_config",
        "_counts",
        "_health",
        "_on_result",
        "_pairs",
        "_ping",
        "_rng",
        "_windows",
    )
    _task_name = "swarmmesh-health-monitor"

    def __init__(
        self,
        config: HealthConfig,
        clock: Clock,
        ping: PingFn,
        on_result: ResultFn,
        *,
        seed: int = 0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._ping = ping
        self._on_result = on_result
        self._rng = random.Random(seed)
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._by_peer: dict[str, set[str]] = {}
        self._by_transport: dict[str, set[str]] = {}
        self._windows: dict[str, deque[bool]] = {}
        self._health: dict[str, Health] = {}
        self._counts: dict[str, int] = dict.fromkeys(
            ("rounds", "pings", "failures", "timeouts", "errors", "bad_rtts", "tracks_refused"), 0
        )
        self._task = None

    @property
    def config(self) -> HealthConfig:
        """The configuration."""
        return self._config

    # ------------------------------------------------------------ tracking

    def track(self, peer_id: str, transport: str) -> None:
        """Ping ``peer_id`` over ``transport`` from the next round on (no-op if tracked).

        Beyond ``max_tracked`` pairs the pair is refused (logged, counted in ``tracks_refused``).
        """
        pair = (peer_id, transport)
        if pair in self._pairs:
            return
        if len(self._pairs) >= self._config.max_tracked:
            self._counts["tracks_refused"] += 1
            logger.warning(
                "health monitor full (%d pairs): %s over %s not tracked",
                self._config.max_tracked,
                peer_id,
                transport,
            )
            return
        self._pairs[pair] = _Pair()
        self._by_peer.setdefault(peer_id, set()).add(transport)
        self._by_transport.setdefault(transport, set()).add(peer_id)
        self._windows.setdefault(transport, deque(maxlen=self._config.window))

    def untrack(self, peer_id: str, transport: str | None = None) -> None:
        """Stop pinging ``peer_id`` over ``transport``, or over every transport when ``None``."""
        transports = self._by_peer.get(peer_id)
        if not transports:
            return
        for name in [transport] if transport is not None else list(transports):
            if self._pairs.pop((peer_id, name), None) is None:
                continue
            transports.discard(name)
            peers = self._by_transport.get(name)
            if peers is not None:
                peers.discard(peer_id)
                if not peers:
                    # No pair left: forget the transport's results with it.
                    del self._by_transport[name]
                    self._windows.pop(name, None)
                    self._health.pop(name, None)
        if not transports:
            del self._by_peer[peer_id]

    def tracked(self) -> list[tuple[str, str]]:
        """The tracked (peer, transport) pairs, in the order they were tracked."""
        return list(self._pairs)

    # ------------------------------------------------------------ verdicts

    def health(self, transport: str) -> Health:
        """``up``, ``degraded`` or ``down`` from the recent results of ``transport``."""
        window = self._windows.get(transport)
        if not window:
            return Health.UP
        down_after = self._config.down_after
        peers = self._by_transport.get(transport, ())
        if peers and all(self._pairs[(peer, transport)].consecutive_failures >= down_after for peer in peers):
            return Health.DOWN
        failures = len(window) - sum(window)
        if failures >= self._config.degraded_loss * len(window):
            return Health.DEGRADED
        return Health.UP

    def pair_health(self, peer_id: str, transport: str) -> Health:
        """``down`` after ``down_after`` consecutive failed pings, ``degraded`` after fewer, else ``up``."""
        pair = self._pairs.get((peer_id, transport))
        if pair is None or pair.consecutive_failures == 0:
            return Health.UP
        if pair.consecutive_failures >= self._config.down_after:
            return Health.DOWN
        return Health.DEGRADED

    def pair_stats(self, peer_id: str, transport: str) -> dict[str, object] | None:
        """What the monitor knows of one pair (``None`` if it is not tracked).

        ``pings``, ``failures``, ``consecutive_failures``, ``last_rtt_ms`` (of the last
        successful ping) and ``last_ok_ms`` (clock time of it), both ``None`` before one.
        """
        pair = self._pairs.get((peer_id, transport))
        if pair is None:
            return None
        return {
            "pings": pair.pings,
            "failures": pair.failures,
            "consecutive_failures": pair.consecutive_failures,
            "last_rtt_ms": pair.last_rtt_ms,
            "last_ok_ms": pair.last_ok_ms,
        }

    def stats(self) -> dict[str, object]:
        """Counters, the number of tracked pairs and the health of every tracked transport."""
        return {
            **self._counts,
            "tracked": len(self._pairs),
            "health": {name: self.health(name).value for name in sorted(self._by_transport)},
        }

    # ------------------------------------------------------------ the loop

    async def ping_all(self) -> int:
        """Run one round now: ping every tracked pair concurrently; return how many were pinged."""
        pairs = list(self._pairs)
        self._counts["rounds"] += 1
        if not pairs:
            return 0
        slots = asyncio.Semaphore(self._config.max_concurrent)
        async with asyncio.TaskGroup() as group:
            for peer_id, transport in pairs:
                group.create_task(self._ping_one(slots, peer_id, transport))
        self._log_verdicts()
        return len(pairs)

    def _log_verdicts(self) -> None:
        """Log every transport whose verdict changed since the last round (once per round, no flapping)."""
        for transport in self._by_transport:
            verdict = self.health(transport)
            before = self._health.get(transport, Health.UP)
            if verdict is not before:
                self._health[transport] = verdict
                level = logging.INFO if verdict is Health.UP else logging.WARNING
                logger.log(level, "transport %s health: %s -> %s", transport, before.value, verdict.value)

    async def _run(self) -> None:
        interval = self._config.interval_s
        jitter = self._config.jitter
        while True:
            await self._clock.sleep(interval * (1.0 + self._rng.uniform(-jitter, jitter)))
            try:
                await self.ping_all()
            except Exception:
                logger.exception("health round failed")

    async def _ping_one(self, slots: asyncio.Semaphore, peer_id: str, transport: str) -> None:
        async with slots:
            if (peer_id, transport) not in self._pairs:
                return  # untracked while waiting for a slot
            started = self._clock.now()
            ok = False
            rtt_ms = 0.0
            try:
                rtt_ms = float(
                    await within(self._clock, self._config.timeout_s, self._ping(peer_id, transport))
                )
            except TimeoutError:
                self._counts["timeouts"] += 1
            except Exception as exc:
                self._counts["errors"] += 1
                logger.debug("ping of %s over %s failed: %r", peer_id, transport, exc)
            else:
                ok = math.isfinite(rtt_ms) and rtt_ms >= 0.0
                if not ok:
                    self._counts["bad_rtts"] += 1
                    logger.warning("ping of %s over %s returned rtt %r", peer_id, transport, rtt_ms)
            if not ok:
                rtt_ms = max(0.0, (self._clock.now() - started) * 1000.0)
            self._observe(peer_id, transport, ok, rtt_ms)

    def _observe(self, peer_id: str, transport: str, ok: bool, rtt_ms: float) -> None:
        pair = self._pairs.get((peer_id, transport))
        if pair is None:
            return  # untracked while the ping was in flight
        self._counts["pings"] += 1
        pair.pings += 1
        if ok:
            pair.consecutive_failures = 0
            pair.last_rtt_ms = rtt_ms
            pair.last_ok_ms = self._clock.now_ms()
        else:
            self._counts["failures"] += 1
            pair.failures += 1
            pair.consecutive_failures += 1
        self._windows[transport].append(ok)
        try:
            self._on_result(peer_id, transport, ok, rtt_ms)
        except Exception:
            logger.exception("health on_result callback failed for %s over %s", peer_id, transport)
