"""Stubs of the private extension ``swarmmesh._core`` (hand-written; checked by stubtest)."""

from collections.abc import Iterable
from typing import Final, TypeAlias, final

import numpy as np
from numpy.typing import NDArray

__version__: Final[str]

#: What the core accepts as a message id or Bloom item: raw bytes, or text (hashed as UTF-8).
_Id: TypeAlias = bytes | bytearray | memoryview | str

# ---------------------------------------------------------------- errors

class SwarmMeshError(Exception):
    """Root of every error swarmmesh raises. `code` is a stable reason code."""

    code: str

class InvalidArgumentError(SwarmMeshError, ValueError):
    """An argument is outside its domain. `argument` names it."""

    argument: str

class ArgumentTypeError(SwarmMeshError, TypeError):
    """An argument has the wrong type. `argument` names it."""

    argument: str

class DecodeError(SwarmMeshError, ValueError):
    """Bytes could not be decoded. `reason` says why (e.g. 'truncated')."""

    reason: str
    what: str

# ---------------------------------------------------------------- bloom (section owner: bloom/dedup)

@final
class BloomFilter:
    """A seeded Bloom filter of id bytes, serialisable across processes and peers."""

    def __new__(cls, capacity: int, fp_rate: float, *, seed: int | None = None) -> BloomFilter: ...
    def add(self, item: _Id) -> bool:
        """Add `item`; return True when it was certainly not in the filter before."""
    def __contains__(self, item: _Id, /) -> bool: ...
    def update(self, items: Iterable[_Id] | NDArray[np.uint8]) -> None:
        """Add every item of an iterable of ids or of a 2-D uint8 array (one id per row)."""
    def union(self, other: BloomFilter) -> BloomFilter:
        """A new filter holding the items of both (same geometry and seed)."""
    def __or__(self, other: BloomFilter, /) -> BloomFilter: ...
    def __ror__(self, other: BloomFilter, /) -> BloomFilter: ...
    def __len__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def copy(self) -> BloomFilter:
        """A copy of the filter."""
    def clear(self) -> None:
        """Remove every item."""
    @property
    def capacity(self) -> int:
        """The number of items the filter is sized for."""
    @property
    def fp_rate(self) -> float:
        """The false-positive rate at `capacity` items."""
    @property
    def seed(self) -> int:
        """The hashing seed."""
    @property
    def num_bits(self) -> int:
        """The number of bits (m)."""
    @property
    def num_hashes(self) -> int:
        """The number of bit positions per item (k)."""
    @property
    def fill_ratio(self) -> float:
        """The fraction of bits set."""
    @property
    def estimated_fp_rate(self) -> float:
        """The false-positive rate at the current fill."""
    @property
    def memory_bytes(self) -> int:
        """Bytes of bit storage."""
    def to_bytes(self) -> bytes:
        """The canonical, versioned serialisation (parameters, seed and bits)."""
    @staticmethod
    def from_bytes(data: bytes) -> BloomFilter:
        """Decode `to_bytes()` output; raise DecodeError on anything else."""
    def __reduce__(self) -> tuple[object, tuple[bytes]]: ...

# ---------------------------------------------------------------- end bloom

# ---------------------------------------------------------------- dedup (section owner: bloom/dedup)

@final
class DedupFilter:
    """The seen-message filter of the mesh: rotating generations of Bloom filters."""

    def __new__(
        cls,
        capacity: int,
        fp_rate: float,
        ttl_ms: int,
        *,
        generations: int = 2,
        seed: int | None = None,
    ) -> DedupFilter: ...
    def check_and_insert(self, msg_id: _Id, now_ms: int) -> bool:
        """True the first time `msg_id` is seen within the TTL; records it."""
    def contains(self, msg_id: _Id, now_ms: int) -> bool:
        """Whether `msg_id` is still remembered at `now_ms` (no state change)."""
    def __contains__(self, msg_id: _Id, /) -> bool: ...
    def check_and_insert_many(self, ids: NDArray[np.uint8] | Iterable[_Id], now_ms: int) -> NDArray[np.bool_]:
        """The batch form of `check_and_insert`; returns one bool per id."""
    def stats(self) -> DedupStats:
        """Counters and gauges."""
    def clear(self) -> None:
        """Forget every id and counter and restart the rotation schedule."""
    @property
    def capacity(self) -> int:
        """Ids per generation span the filter is rated for."""
    @property
    def fp_rate(self) -> float:
        """The false-positive rate of one full generation."""
    @property
    def ttl_ms(self) -> int:
        """The minimum time an id is remembered."""
    @property
    def span_ms(self) -> int:
        """The length of one generation's span."""
    @property
    def generations(self) -> int:
        """The number of generations."""
    @property
    def seed(self) -> int:
        """The hashing seed."""
    @property
    def generation_bits(self) -> int:
        """Bits of one generation."""
    def to_bytes(self) -> bytes:
        """The canonical, versioned serialisation."""
    @staticmethod
    def from_bytes(data: bytes) -> DedupFilter:
        """Decode `to_bytes()` output; raise DecodeError on anything else."""
    def __reduce__(self) -> tuple[object, tuple[bytes]]: ...

@final
class DedupStats:
    """Counters and gauges of a DedupFilter at one moment."""

    @property
    def inserted(self) -> int:
        """Ids seen for the first time."""
    @property
    def duplicates(self) -> int:
        """Ids answered as already seen."""
    @property
    def rotations(self) -> int:
        """Generation rotations, on schedule or early."""
    @property
    def early_rotations(self) -> int:
        """Rotations forced by a full generation before its span ended."""
    @property
    def generations(self) -> int:
        """The number of generations."""
    @property
    def current_count(self) -> int:
        """Distinct ids in the current generation."""
    @property
    def live_count(self) -> int:
        """Distinct ids over all live generations."""
    @property
    def fill_ratio(self) -> float:
        """The fraction of bits set in the current generation."""
    @property
    def estimated_fp_rate(self) -> float:
        """The false-positive rate of a lookup right now."""
    @property
    def memory_bytes(self) -> int:
        """Bytes of bit storage over all generations."""
    def to_dict(self) -> dict[str, int | float]:
        """The stats as a plain dict."""
    def __eq__(self, other: object, /) -> bool: ...

# ---------------------------------------------------------------- end dedup

# ---------------------------------------------------------------- breaker (section owner: breaker)

@final
class BreakerRegistry:
    """Shim of the circuit-breaker registry: only `force_open`, `force_reset` and `allow`."""

    # TEMPORARY SHIM from the routing branch; the breaker branch's section replaces it.
    def __new__(
        cls, config: object | None = None, *, seed: int = 0, mode: str = "enabled"
    ) -> BreakerRegistry: ...
    def force_open(self, key: str, now_ms: int | None = None) -> None:
        """Refuse `key` until `force_reset`."""

    def force_reset(self, key: str, now_ms: int | None = None) -> None:
        """Admit `key` again."""

    def allow(self, key: str, now_ms: int) -> bool:
        """Return whether a call on `key` would be admitted at `now_ms`."""

# ---------------------------------------------------------------- end breaker

# ---------------------------------------------------------------- routing (section owner: routing)

@final
class RoutePlan:
    """A send decision: what to send on now, what to hedge with, what to fall back to.

    `now` are sent at once, each of `hedges` after its `delay_ms` unless a reply
    came first, `fallbacks` only if all those failed. `explored` says exploration
    promoted a non-best transport to the front.
    """

    def __new__(
        cls,
        peer: str,
        now: Sequence[str],
        hedges: Sequence[tuple[str, int]],
        fallbacks: Sequence[str],
        explored: bool = False,
    ) -> RoutePlan: ...
    @property
    def peer(self) -> str:
        """The destination peer."""

    @property
    def now(self) -> list[str]:
        """Transports to send on immediately, best first."""

    @property
    def hedges(self) -> list[tuple[str, int]]:
        """`(transport, delay_ms)` hedges, in increasing delay."""

    @property
    def fallbacks(self) -> list[str]:
        """Transports to try in order once everything above failed."""

    @property
    def explored(self) -> bool:
        """Whether exploration reordered this plan."""

    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RouteStats:
    """The estimates of one (peer, transport) pair, as `Router.snapshot` reports them."""

    @property
    def peer(self) -> str:
        """The peer id."""

    @property
    def transport(self) -> str:
        """The transport name."""

    @property
    def reliability(self) -> float:
        """Posterior mean of the delivery probability, in [0, 1]."""

    @property
    def successes(self) -> float:
        """Decayed success pseudo-count."""

    @property
    def failures(self) -> float:
        """Decayed failure pseudo-count."""

    @property
    def srtt_ms(self) -> float | None:
        """Smoothed RTT (RFC 6298), None before the first RTT sample."""

    @property
    def rttvar_ms(self) -> float | None:
        """RTT mean deviation (RFC 6298), None before the first RTT sample."""

    @property
    def observations(self) -> int:
        """Observations recorded (not decayed)."""

    @property
    def last_observed_ms(self) -> int:
        """Time of the latest observation, ms."""

    def __eq__(self, value: object, /) -> bool: ...

@final
class Router:
    """Per-(peer, transport) reliability and latency estimates.

    Ranks transports and plans sends with hedging. Thread-safe; every method is
    one locked call.
    """

    def __new__(
        cls,
        priors: Mapping[str, float] | None = None,
        *,
        half_life_ms: int = 60_000,
        max_evidence: float = 50.0,
        default_prior: float = 0.5,
        prior_weight: float = 2.0,
        exploration: float = 0.05,
        seed: int = 0,
        breakers: BreakerRegistry | None = None,
        max_peers: int = 100_000,
        latency_scale_ms: float = 1_000.0,
        default_rtt_ms: float = 100.0,
        hedge_k: float = 2.0,
        min_hedge_ms: int = 10,
        max_hedge_ms: int = 2_000,
        parallel_below: float = 0.5,
    ) -> Router: ...
    def observe(self, peer: str, transport: str, ok: bool, rtt_ms: float | None, now_ms: int) -> None:
        """Record one delivery attempt on (peer, transport) at `now_ms`."""

    def score(self, peer: str, transport: str, now_ms: int) -> float:
        """Return the score of (peer, transport) at `now_ms`, in [0, 1]."""

    def rank(self, peer: str, transports: Sequence[str], now_ms: int) -> list[tuple[str, float]]:
        """`[(transport, score), ...]`, best first; refused transports left out. Pure."""

    def plan(self, peer: str, transports: Sequence[str], now_ms: int, max_parallel: int = 2) -> RoutePlan:
        """Decide a send to `peer`: now, hedges with delays, fallbacks."""

    def rank_many(
        self, peers: Sequence[str], transports: Sequence[str], now_ms: int
    ) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """Rank `transports` for every peer: `(order, scores)`, shaped `(len(peers), len(transports))`."""

    def snapshot(self, peer: str | None = None, now_ms: int | None = None) -> list[RouteStats]:
        """Return the estimates of `peer` (or of every peer, most recently observed first)."""

    def forget(self, peer: str) -> bool:
        """Forget everything about `peer`; False if it was not tracked."""

    def __len__(self) -> int:
        """Return the number of tracked peers."""

    @property
    def pair_count(self) -> int:
        """Number of tracked (peer, transport) pairs."""

    @property
    def evictions(self) -> int:
        """Peers evicted so far because `max_peers` was reached."""

    @property
    def priors(self) -> dict[str, float]:
        """A copy of the merged priors: defaults overridden by the given ones."""

    @property
    def breakers(self) -> BreakerRegistry | None:
        """The attached breaker registry, or None."""

    @property
    def max_peers(self) -> int:
        """Peers tracked at most."""

    @property
    def half_life_ms(self) -> int:
        """Half-life of the success/failure pseudo-counts, ms."""

# ---------------------------------------------------------------- end routing
