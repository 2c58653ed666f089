"""``MeshConfig``: every interval, timeout and bound of a :class:`~swarmmesh.Mesh`, validated.

All times are seconds of the mesh's injected clock. A bad value raises
:class:`~swarmmesh.errors.ConfigError` naming the field. The breaker and discipline settings
live in the composed :class:`~swarmmesh.mesh.resilience.ResilienceConfig`, the ping settings
in :class:`~swarmmesh.mesh.health.HealthConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from swarmmesh.errors import ConfigError
from swarmmesh.mesh.freshness import FreshnessWindow
from swarmmesh.mesh.health import HealthConfig
from swarmmesh.mesh.resilience import ResilienceConfig

__all__ = ["DEFAULT_PRIORS", "MeshConfig"]

#: The seed design's transport priors (the router learns from there).
DEFAULT_PRIORS: Final[Mapping[str, float]] = MappingProxyType({"integrated": 1.0, "gun": 0.8, "peerjs": 0.6})

_INTS: Final = {
    # name: (lowest, highest)
    "max_parallel": (1, 16),
    "broadcast_ttl": (1, 255),
    "dedup_capacity": (1_000, 100_000_000),
    "verify_batch_size": (1, 65_536),
    "max_pending_sends": (1, 10_000_000),
    "max_inflight_per_peer": (1, 1_000_000),
    "gossip_queue_per_peer": (1, 10_000_000),
    "gossip_queue_per_transport": (1, 100_000_000),
    "verify_queue": (1, 10_000_000),
    "sign_queue": (1, 10_000_000),
    "subscription_queue": (1, 10_000_000),
    "legacy_attempts": (1, 1_000),
    "send_rounds": (1, 1_000),
    "max_peers": (1, 10_000_000),
    "reassembly_max_pending": (1, 1_000_000),
    "reassembly_max_bytes": (1 << 16, 1 << 40),
    "redials_per_round": (0, 1_000_000),
}
_SECONDS: Final = {
    # name: lowest (exclusive); all at most one day
    "send_timeout_s": 0.0,
    "attempt_timeout_s": 0.0,
    "min_attempt_timeout_s": 0.0,
    "dial_timeout_s": 0.0,
    "send_wait_s": 0.0,
    "dedup_ttl_s": 0.0,
    "max_clock_skew_s": 0.0,
    "reassembly_timeout_s": 0.0,
    "maintenance_interval_s": 0.0,
    "router_half_life_s": 0.0,
}


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """Parameters of a :class:`~swarmmesh.Mesh`.

    Sends: ``send_timeout_s`` bounds a whole ``send`` (unless its ``timeout`` says
    otherwise); one attempt waits for its ack the pair's RFC 6298 timeout (``srtt + 4
    rttvar`` of that peer over that transport), at least ``min_attempt_timeout_s`` and at
    most ``attempt_timeout_s``, the upper bound until the pair has an RTT sample;
    ``dial_timeout_s`` bounds a dial, ``max_parallel`` the transports a plan sends on at
    once (hedges included); when every route of a plan failed, the send plans again, up
    to ``send_rounds`` plans in all, within its deadline. ``legacy_attempts`` are the
    sequential tries of the legacy single-transport mode; ``legacy_transport`` names its
    transport (``None``: ``"peerjs"`` when present, else the first).

    Broadcasts: ``broadcast_ttl`` hops; ``dedup_capacity`` / ``dedup_fp_rate`` /
    ``dedup_ttl_s`` size the one :class:`~swarmmesh.DedupFilter`; a broadcast carries its
    origin's wall-clock time and is dropped when it is ahead of this node's clock by more
    than ``max_clock_skew_s``, or older than ``dedup_ttl_s - max_clock_skew_s``, so that a
    copy replayed after the dedup filter forgot its id is refused (see
    :mod:`swarmmesh.mesh.freshness`); incoming broadcasts
    are verified in batches of at most ``verify_batch_size`` (``verify_threads``: worker
    threads, ``None`` for every core), at most ``verify_queue`` waiting; a batch of at least
    ``verify_offload_min`` is verified on the core's verifier thread, overlapping the event
    loop, over ``verify_threads`` workers or every core but the loop's (``None``: always
    inline, on the loop's thread). A node's own broadcasts are signed inline, but once
    ``sign_offload_min`` were made in one loop iteration the rest of that burst is signed on
    the core's signer thread (over ``verify_threads`` workers, ``None``: every core but
    the loop's), in batches of ``verify_batch_size``, at most ``sign_queue`` waiting
    (``broadcast`` then waits); ``None``: always inline. With a single core to run on,
    both stay inline whatever these say.

    Bounds (backpressure): ``max_pending_sends`` sends in flight on the mesh and
    ``max_inflight_per_peer`` per peer (a send waits up to ``send_wait_s`` for a slot);
    ``gossip_queue_per_peer`` and ``gossip_queue_per_transport`` frames of gossip (acks,
    pongs, broadcast forwards) queued per link and per transport (full: the oldest is
    dropped and counted); ``subscription_queue`` messages per subscriber; ``max_peers``
    peers tracked by the router; ``reassembly_max_pending`` messages,
    ``reassembly_max_bytes`` bytes and ``reassembly_timeout_s`` seconds bound chunk
    reassembly.

    Maintenance: every ``maintenance_interval_s`` the mesh expires stale chunks and redials
    at most ``redials_per_round`` missing links to connected peers.

    Routing: ``priors`` (merged over :data:`DEFAULT_PRIORS`), ``router_half_life_s``,
    ``router_exploration``. ``seed`` (``None``: random) seeds message ids, the router, the
    breakers' jitter and the dedup hashing, for reproducible simulations. ``resilience``
    (a :class:`~swarmmesh.mesh.resilience.ResilienceConfig`) and ``health`` (a
    :class:`~swarmmesh.mesh.health.HealthConfig`) configure the breakers and the pings.
    """

    send_timeout_s: float = 10.0
    attempt_timeout_s: float = 2.0
    min_attempt_timeout_s: float = 0.2
    dial_timeout_s: float = 5.0
    send_wait_s: float = 5.0
    max_parallel: int = 2
    send_rounds: int = 3
    legacy_transport: str | None = None
    legacy_attempts: int = 3
    broadcast_ttl: int = 8
    dedup_capacity: int = 200_000
    dedup_fp_rate: float = 1e-7
    dedup_ttl_s: float = 300.0
    max_clock_skew_s: float = 30.0
    verify_batch_size: int = 256
    verify_threads: int | None = None
    verify_queue: int = 65_536
    verify_offload_min: int | None = 128
    sign_offload_min: int | None = 128
    sign_queue: int = 4_096
    max_pending_sends: int = 100_000
    max_inflight_per_peer: int = 1_024
    gossip_queue_per_peer: int = 4_096
    gossip_queue_per_transport: int = 1_000_000
    subscription_queue: int = 10_000
    max_peers: int = 100_000
    reassembly_max_pending: int = 1_024
    reassembly_max_bytes: int = 64 << 20
    reassembly_timeout_s: float = 30.0
    maintenance_interval_s: float = 1.0
    redials_per_round: int = 16
    priors: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIORS))
    router_half_life_s: float = 60.0
    router_exploration: float = 0.05
    seed: int | None = None
    resilience: ResilienceConfig = field(default_factory=ResilienceConfig)
    health: HealthConfig = field(default_factory=HealthConfig)

    def freshness(self) -> FreshnessWindow:
        """The window of broadcast timestamps this configuration accepts."""
        return FreshnessWindow.for_ttl(round(self.dedup_ttl_s * 1000), round(self.max_clock_skew_s * 1000))

    def __post_init__(self) -> None:
        for name, (lo, hi) in _INTS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ConfigError(name, f"must be an integer in [{lo}, {hi}], got {value!r}")
        for name, lo_s in _SECONDS.items():
            secs = getattr(self, name)
            if (
                isinstance(secs, bool)
                or not isinstance(secs, int | float)
                or not math.isfinite(secs)
                or not lo_s < secs <= 86_400.0
            ):
                raise ConfigError(name, f"must be a number of seconds in ({lo_s}, 86400], got {secs!r}")
        if not (isinstance(self.dedup_fp_rate, float) and 0.0 < self.dedup_fp_rate < 0.5):
            raise ConfigError("dedup_fp_rate", f"must be a float in (0, 0.5), got {self.dedup_fp_rate!r}")
        x = self.router_exploration
        if isinstance(x, bool) or not isinstance(x, int | float) or not 0.0 <= x <= 1.0:
            raise ConfigError("router_exploration", f"must be in [0, 1], got {x!r}")
        self.freshness()  # the skew must leave the dedup TTL room for an age
        if self.min_attempt_timeout_s > self.attempt_timeout_s:
            raise ConfigError(
                "min_attempt_timeout_s",
                f"must not exceed attempt_timeout_s ({self.attempt_timeout_s}),"
                f" got {self.min_attempt_timeout_s}",
            )
        if self.attempt_timeout_s > self.send_timeout_s:
            raise ConfigError(
                "attempt_timeout_s",
                f"must not exceed send_timeout_s ({self.send_timeout_s}), got {self.attempt_timeout_s}",
            )
        vt = self.verify_threads
        if vt is not None and (isinstance(vt, bool) or not isinstance(vt, int) or not 1 <= vt <= 1024):
            raise ConfigError("verify_threads", f"must be None or an integer in [1, 1024], got {vt!r}")
        for name in ("verify_offload_min", "sign_offload_min"):
            vo = getattr(self, name)
            if vo is not None and (isinstance(vo, bool) or not isinstance(vo, int) or not 1 <= vo <= 65_536):
                raise ConfigError(name, f"must be None or an integer in [1, 65536], got {vo!r}")
        lt = self.legacy_transport
        if lt is not None and (not isinstance(lt, str) or not lt):
            raise ConfigError("legacy_transport", f"must be None or a non-empty name, got {lt!r}")
        if not isinstance(self.priors, Mapping):
            raise ConfigError("priors", f"must be a mapping of transport name to prior, got {self.priors!r}")
        for key, value in self.priors.items():
            if not isinstance(key, str) or not key:
                raise ConfigError("priors", f"keys must be non-empty transport names, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError("priors", f"prior of {key!r} must be in [0, 1], got {value!r}")
        merged = dict(DEFAULT_PRIORS)
        merged.update(self.priors)
        object.__setattr__(self, "priors", MappingProxyType(merged))
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64
        ):
            raise ConfigError("seed", f"must be None or an integer in [0, 2**64), got {self.seed!r}")
        if not isinstance(self.resilience, ResilienceConfig):
            raise ConfigError("resilience", f"must be a ResilienceConfig, got {self.resilience!r}")
        if not isinstance(self.health, HealthConfig):
            raise ConfigError("health", f"must be a HealthConfig, got {self.health!r}")

    def replace(self, **changes: Any) -> MeshConfig:
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, f) for f in self.__dataclass_fields__ if f != "priors")) ^ hash(
            tuple(sorted(self.priors.items()))
        )
