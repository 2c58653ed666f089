"""Stubs of the private extension ``swarmmesh._core`` (hand-written; checked by stubtest)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, TypeAlias, final

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

# ---------------------------------------------------------------- end bloom

# ---------------------------------------------------------------- dedup (section owner: bloom/dedup)

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
