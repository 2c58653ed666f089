"""Stubs of the private extension ``swarmmesh._core`` (hand-written; checked by stubtest)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Final, Literal, TypeAlias, final

import numpy as np
from numpy.typing import NDArray

from swarmmesh.identity import Keypair

__version__: Final[str]

__all__ = [
    "CHUNK_HEADER_LEN",
    "FRAME_CHUNK",
    "FRAME_ENVELOPE",
    "HEADER_VERSION",
    "MAX_CONTROL_PAYLOAD",
    "MAX_ENVELOPE_LEN",
    "MAX_PAYLOAD",
    "MAX_TOPIC",
    "ArgumentTypeError",
    "Block",
    "BlockHeader",
    "BloomFilter",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerRegistry",
    "BreakerSnapshot",
    "ChainParams",
    "ConnectResult",
    "DecodeError",
    "DedupFilter",
    "DedupStats",
    "Envelope",
    "EnvelopeSigner",
    "EnvelopeVerifier",
    "InvalidArgumentError",
    "Ledger",
    "Reassembler",
    "RoutePlan",
    "RouteStats",
    "Router",
    "SigningKey",
    "SwarmMeshError",
    "Transaction",
    "Verdict",
    "__version__",
    "address_of",
    "key_cache_stats",
    "merkle_root",
    "mine",
    "public_key_of",
    "reset_key_cache",
    "sha256",
    "split_frame",
    "token_id",
    "verify",
    "verify_batch",
    "verify_envelopes",
]

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

_BreakerState: TypeAlias = Literal["closed", "open", "half_open", "forced_open"]
_BreakerMode: TypeAlias = Literal["enabled", "metrics_only", "disabled"]

@final
class BreakerConfig:
    """Immutable parameters of every breaker of a registry.

    Validation raises `InvalidArgumentError` naming the field.
    """

    def __new__(
        cls,
        *,
        failure_threshold: int = 5,
        success_decrement: int = 1,
        window_ms: int = 60000,
        failure_rate_threshold: float = 0.5,
        min_calls: int = 5,
        slow_call_ms: int | None = None,
        base_backoff_ms: int = 1000,
        backoff_multiplier: float = 2.0,
        max_backoff_ms: int = 300000,
        jitter: float = 0.2,
        half_open_probes: int = 1,
        reset_after_ms: int = 300000,
        idle_evict_ms: int = 600000,
        max_entries: int = 1000000,
        max_events: int = 10000,
    ) -> BreakerConfig: ...
    @property
    def failure_threshold(self) -> int:
        """Consecutive failures that open a closed breaker."""
    @property
    def success_decrement(self) -> int:
        """How much a success lowers the consecutive-failure count."""
    @property
    def window_ms(self) -> int:
        """Length of the sliding failure-rate window, in ms."""
    @property
    def failure_rate_threshold(self) -> float:
        """Failure rate in (0, 1] that opens a closed breaker."""
    @property
    def min_calls(self) -> int:
        """Calls needed in the window before the rate is considered."""
    @property
    def slow_call_ms(self) -> int | None:
        """Successes slower than this (ms) count as failures; None disables it."""
    @property
    def base_backoff_ms(self) -> int:
        """Nominal length of the first open period, in ms."""
    @property
    def backoff_multiplier(self) -> float:
        """Growth factor of the open period per consecutive opening."""
    @property
    def max_backoff_ms(self) -> int:
        """Cap of the nominal open period, in ms."""
    @property
    def jitter(self) -> float:
        """Relative jitter of the open period, in [0, 1)."""
    @property
    def half_open_probes(self) -> int:
        """Trial calls admitted in half-open."""
    @property
    def reset_after_ms(self) -> int:
        """Closed time after which the backoff exponent resets, in ms."""
    @property
    def idle_evict_ms(self) -> int:
        """Closed entries idle this long (ms) may be evicted."""
    @property
    def max_entries(self) -> int:
        """Upper bound on tracked breakers."""
    @property
    def max_events(self) -> int:
        """Upper bound on buffered events."""
    def replace(self, **changes: int | float | None) -> BreakerConfig:
        """Return a copy with the given fields changed (validated like the constructor)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BreakerEvent:
    """One state change of one breaker (immutable; equal when all fields are)."""

    @property
    def key(self) -> str:
        """The breaker's key."""
    @property
    def from_state(self) -> _BreakerState:
        """State before the change."""
    @property
    def to_state(self) -> _BreakerState:
        """State after the change."""
    @property
    def at_ms(self) -> int:
        """The `now_ms` of the call that caused the change."""
    @property
    def reason(self) -> str:
        """Stable reason code (e.g. `"failure_threshold"`, `"probe_failed"`)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BreakerSnapshot:
    """A read-only view of one breaker (immutable)."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def key(self) -> str:
        """The breaker's key."""
    @property
    def state(self) -> _BreakerState:
        """`"closed"`, `"open"`, `"half_open"` or `"forced_open"`."""
    @property
    def consecutive_failures(self) -> int:
        """Consecutive-failure count (lowered by successes)."""
    @property
    def calls_in_window(self) -> int:
        """Outcomes recorded in the window ending at the latest time seen."""
    @property
    def failures_in_window(self) -> int:
        """Failures among `calls_in_window`."""
    @property
    def failure_rate(self) -> float:
        """`failures_in_window / calls_in_window` (0.0 with no calls)."""
    @property
    def consecutive_openings(self) -> int:
        """Consecutive openings (the backoff exponent)."""
    @property
    def backoff_ms(self) -> int:
        """Nominal open period: the current one when open/half-open, else the next."""
    @property
    def open_until_ms(self) -> int | None:
        """End of the open period when open, else None."""
    @property
    def half_open_in_flight(self) -> int:
        """Probes admitted and not yet answered."""
    @property
    def last_change_ms(self) -> int:
        """Time of the last state change (or of creation)."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class BreakerRegistry:
    """Circuit breakers keyed by string (peer id, `peer|transport`, endpoint).

    Thread-safe; time is always passed in as `now_ms`.
    """

    def __new__(
        cls, config: BreakerConfig | None = None, *, seed: int = 0, mode: _BreakerMode = "enabled"
    ) -> BreakerRegistry: ...
    def allow(self, key: str, now_ms: int) -> bool:
        """Return whether a call for `key` may proceed at `now_ms`.

        In half-open this takes a probe slot; the next recorded outcome frees it.
        """
    def would_allow(self, key: str, now_ms: int) -> bool:
        """Return True iff `allow` would admit a call now; change nothing."""
    def record_success(self, key: str, now_ms: int, latency_ms: int | None = None) -> None:
        """Record a successful call.

        With `slow_call_ms` configured, a `latency_ms` above it records a failure instead.
        """
    def record_failure(self, key: str, now_ms: int) -> None:
        """Record a failed call."""
    def state(self, key: str) -> _BreakerState:
        """Return the state: `"closed"`, `"open"`, `"half_open"` or `"forced_open"` (unknown: `"closed"`)."""
    def force_open(self, key: str, now_ms: int | None = None) -> None:
        """Force `key` open until `force_reset` (`now_ms` None: the latest time seen)."""
    def force_reset(self, key: str, now_ms: int | None = None) -> None:
        """Reset `key` to closed, clearing counters and backoff (`now_ms` None: latest seen)."""
    def due_for_recovery(self, now_ms: int) -> list[str]:
        """Return the sorted keys the recovery loop should probe (open period passed)."""
    def snapshot(self, key: str) -> BreakerSnapshot:
        """Return a read-only view of `key` (unknown keys read as a fresh closed breaker)."""
    def drain_events(self) -> list[BreakerEvent]:
        """Take every buffered state-change event, oldest first."""
    def evict_idle(self, now_ms: int) -> int:
        """Evict every closed breaker idle for `idle_evict_ms`; return how many."""
    def set_mode(self, mode: _BreakerMode) -> None:
        """Set the mode: `"enabled"`, `"metrics_only"` or `"disabled"`."""
    @property
    def config(self) -> BreakerConfig:
        """The configuration."""
    @property
    def mode(self) -> _BreakerMode:
        """The mode: `"enabled"`, `"metrics_only"` or `"disabled"`."""
    @property
    def latest_now_ms(self) -> int:
        """The largest `now_ms` the registry has seen."""
    def stats(self) -> dict[str, int]:
        """Return the registry's counters.

        Keys: `allowed`, `refused`, `refusals_suppressed`, `late_outcomes`, `slow_calls`,
        `openings`, `evicted`, `untracked`, `events_dropped`, `pending_events`.
        """
    def memory_bytes(self) -> int:
        """Return the estimated heap bytes held by the registry."""
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...

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

    def rto_ms(self, peer: str, transport: str, floor_ms: float, ceil_ms: float) -> float:
        """RFC 6298 timeout `srtt + 4 rttvar` clamped to `[floor_ms, ceil_ms]`; `ceil_ms` before a sample."""
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

# ---------------------------------------------------------------- crypto (keys, signatures, addresses)

@final
class SigningKey:
    """An Ed25519 signing key (the secret half of a `swarmmesh.Keypair`)."""

    def __new__(cls, seed: _Id) -> SigningKey: ...
    @property
    def public_key(self) -> bytes:
        """The 32-byte public key."""
    def seed(self) -> bytes:
        """The 32-byte secret seed."""
    def sign(self, data: _Id) -> bytes:
        """The 64-byte signature of `data`."""

def sha256(data: _Id) -> bytes:
    """SHA-256 of `data`."""

def verify(public_key: _Id, data: _Id, signature: _Id) -> bool:
    """Whether `signature` is a valid Ed25519 signature of `data` by `public_key`."""

def verify_batch(
    public_keys: Sequence[_Id],
    messages: Sequence[_Id],
    signatures: Sequence[_Id],
    *,
    threads: int | None = None,
) -> list[bool]:
    """One verdict per triple, by batch verification over `threads` workers (default: every core)."""

def key_cache_stats() -> dict[str, int]:
    """Size and counters of the decompressed-key cache: entries, capacity, hits, misses."""

def reset_key_cache(capacity: int | None = None) -> None:
    """Empty the decompressed-key cache and bound it to `capacity` keys (0: off; None: 16 384)."""

def address_of(public_key: _Id) -> str:
    """The address (`sw1...`, bech32m with a checksum) of a 32-byte public key."""

def public_key_of(address: str) -> bytes:
    """The 32-byte public key an address encodes."""

# ---------------------------------------------------------------- chain values (section owner: chain-core)

#: An account argument: an ``sw1...`` address or a 32-byte public key.
_Account: TypeAlias = str | bytes | bytearray | memoryview
#: A signer: a :class:`swarmmesh.Keypair` or its :class:`SigningKey`.
_Signer: TypeAlias = Keypair | SigningKey

#: The header version this build produces and the ledger accepts.
HEADER_VERSION: Final[int]

@final
class Transaction:
    """A signed transaction (frozen, hashable; equal when the ids are)."""

    @classmethod
    def transfer(
        cls, kp: _Signer, to: _Account, amount: int, *, nonce: int, fee: int, chain_id: str
    ) -> Transaction:
        """Coins from the signer to `to` (an address or a 32-byte key)."""
    @classmethod
    def donate(cls, kp: _Signer, amount: int, *, nonce: int, fee: int, chain_id: str) -> Transaction:
        """Coins from the signer into the reward pool."""
    @classmethod
    def create_token(
        cls, kp: _Signer, symbol: str, supply: int, *, nonce: int, fee: int, chain_id: str
    ) -> Transaction:
        """A new profile token `symbol` owned by the signer, `supply` units credited to it."""
    @classmethod
    def transfer_token(
        cls,
        kp: _Signer,
        token_id: _Id,
        to: _Account,
        amount: int,
        *,
        nonce: int,
        fee: int,
        chain_id: str,
    ) -> Transaction:
        """Token units from the signer to `to`."""
    @classmethod
    def distribute_token(
        cls,
        kp: _Signer,
        token_id: _Id,
        recipients: Iterable[tuple[_Account, int]],
        *,
        nonce: int,
        fee: int,
        chain_id: str,
    ) -> Transaction:
        """Token units from the owner to many `(address, amount)` recipients."""
    @classmethod
    def reward(cls, kp: _Signer, amount: int, *, height: int, chain_id: str) -> Transaction:
        """The reward transaction of the block at `height` (nonce = height, fee = 0)."""
    @staticmethod
    def from_bytes(data: _Id) -> Transaction:
        """Decodes canonical bytes; `DecodeError` (with `reason`) on anything else."""
    @property
    def id(self) -> bytes:
        """The id: SHA-256 of `to_bytes()` (32 bytes)."""
    @property
    def kind(
        self,
    ) -> Literal["reward", "transfer", "donate", "create_token", "transfer_token", "distribute_token"]:
        """The kind: the name of the classmethod that built it."""
    @property
    def chain_id(self) -> str:
        """The chain id (replay protection)."""
    @property
    def sender(self) -> str:
        """The signer's address."""
    @property
    def sender_key(self) -> bytes:
        """The signer's 32-byte public key."""
    @property
    def nonce(self) -> int:
        """The sender's sequence number (the height for a reward)."""
    @property
    def fee(self) -> int:
        """Coins paid to the block producer."""
    @property
    def amount(self) -> int | None:
        """The amount, for `reward`, `transfer`, `donate`, `transfer_token`; else None."""
    @property
    def to(self) -> str | None:
        """The recipient's address, for `transfer` and `transfer_token`; else None."""
    @property
    def token_id(self) -> bytes | None:
        """The token id, for `transfer_token` and `distribute_token`; else None."""
    @property
    def symbol(self) -> str | None:
        """The symbol, for `create_token`; else None."""
    @property
    def supply(self) -> int | None:
        """The supply, for `create_token`; else None."""
    @property
    def recipients(self) -> tuple[tuple[str, int], ...] | None:
        """`(address, amount)` pairs, for `distribute_token`; else None."""
    @property
    def signature(self) -> bytes:
        """The 64-byte Ed25519 signature of `signing_bytes()`."""
    @property
    def size(self) -> int:
        """The encoded length in bytes."""
    def signing_bytes(self) -> bytes:
        """The bytes the signature covers (domain separator + encoding without it)."""
    def to_bytes(self) -> bytes:
        """The canonical bytes, signature included."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[object, tuple[bytes]]: ...

@final
class BlockHeader:
    """A block header (frozen, hashable; equal when the ids are)."""

    def __new__(
        cls,
        version: int,
        chain_id: str,
        height: int,
        prev_id: _Id,
        merkle_root: _Id,
        timestamp_ms: int,
        target: _Id,
        nonce: int,
        producer: _Id,
    ) -> BlockHeader: ...
    @staticmethod
    def from_bytes(data: _Id) -> BlockHeader:
        """Decodes canonical bytes; `DecodeError` (with `reason`) on anything else."""
    @property
    def id(self) -> bytes:
        """The block id: SHA-256 of `to_bytes()` (32 bytes, cached)."""
    @property
    def version(self) -> int:
        """The consensus version (1)."""
    @property
    def chain_id(self) -> str:
        """The chain id."""
    @property
    def height(self) -> int:
        """The height (genesis is 0)."""
    @property
    def prev_id(self) -> bytes:
        """The parent's id (32 bytes; all zero for genesis)."""
    @property
    def merkle_root(self) -> bytes:
        """The Merkle root of the transaction ids."""
    @property
    def timestamp_ms(self) -> int:
        """Production time, ms since the Unix epoch."""
    @property
    def target(self) -> bytes:
        """The proof-of-work target (32 bytes, big-endian)."""
    @property
    def nonce(self) -> int:
        """The nonce."""
    @property
    def producer(self) -> bytes:
        """The producer's 32-byte public key."""
    @property
    def producer_address(self) -> str:
        """The producer's address."""
    @property
    def work(self) -> int:
        """Expected hashes to meet the target: `floor(2**256 / (target + 1))`, saturating at `2**128 - 1`."""
    def meets_target(self) -> bool:
        """Whether the id, as a big-endian integer, is at most the target."""
    def to_bytes(self) -> bytes:
        """The canonical bytes."""
    def replace(self, **changes: int | str | bytes) -> BlockHeader:
        """A copy with the given fields changed (validated like the constructor)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[object, tuple[bytes]]: ...

@final
class Block:
    """A block: a header and its transactions (frozen, hashable; equal when the contents are)."""

    def __new__(cls, header: BlockHeader, txs: Iterable[Transaction]) -> Block: ...
    @staticmethod
    def from_bytes(data: _Id) -> Block:
        """Decodes canonical bytes; `DecodeError` (with `reason`) on anything else."""
    @property
    def header(self) -> BlockHeader:
        """The header."""
    @property
    def txs(self) -> tuple[Transaction, ...]:
        """The transactions, in order (a tuple)."""
    @property
    def id(self) -> bytes:
        """The block id (the header's id)."""
    @property
    def content_hash(self) -> bytes:
        """SHA-256 of the full block bytes: invalid blocks are remembered by it."""
    @property
    def size(self) -> int:
        """The encoded length in bytes."""
    def tx_ids(self) -> list[bytes]:
        """The transaction ids, in order."""
    def to_bytes(self) -> bytes:
        """The canonical bytes."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> tuple[object, tuple[bytes]]: ...

def merkle_root(tx_ids: Iterable[_Id], *, threads: int | None = None) -> bytes:
    """The Merkle root of 32-byte transaction ids (domain-separated leaves and nodes)."""

def mine(
    header: BlockHeader, *, max_iters: int | None = None, start_nonce: int | None = None
) -> BlockHeader | None:
    """Search nonces for a header whose id meets its target, with the GIL released."""

def token_id(creator_address: _Account, symbol: str) -> bytes:
    """The id of the token `symbol` created by `creator_address`."""

# ---------------------------------------------------------------- end chain values

# ---------------------------------------------------------------- envelope (section owner: envelope)

#: The first byte of an envelope frame.
FRAME_ENVELOPE: Final[int]
#: The first byte of a chunk frame.
FRAME_CHUNK: Final[int]
#: The largest payload, in bytes (16 MiB).
MAX_PAYLOAD: Final[int]
#: The longest topic, in UTF-8 bytes.
MAX_TOPIC: Final[int]
#: The largest payload of an ack, nack, ping or pong.
MAX_CONTROL_PAYLOAD: Final[int]
#: The longest envelope frame.
MAX_ENVELOPE_LEN: Final[int]
#: Bytes of a chunk frame before its data.
CHUNK_HEADER_LEN: Final[int]

_Kind: TypeAlias = Literal["data", "ack", "nack", "broadcast", "ping", "pong"]
_Bytes: TypeAlias = bytes | bytearray | memoryview

@final
class Envelope:
    """One mesh message: the frame every transport carries (immutable)."""

    def __new__(
        cls,
        kind: str,
        message_id: _Id,
        origin: _Id,
        topic: str,
        payload: _Bytes,
        *,
        ttl: int = 8,
        hops: int = 0,
        timestamp_ms: int = 0,
        target: _Id | None = None,
        signature: _Id | None = None,
    ) -> Envelope: ...
    @property
    def kind(self) -> _Kind:
        """`"data"`, `"ack"`, `"nack"`, `"broadcast"`, `"ping"` or `"pong"`."""
    @property
    def message_id(self) -> bytes:
        """The 16-byte message id (for ack, nack and pong: the id answered)."""
    @property
    def origin(self) -> bytes:
        """The originator's 32-byte public key."""
    @property
    def origin_id(self) -> str:
        """The originator's address (`sw1...`): its peer id."""
    @property
    def target(self) -> bytes | None:
        """The final recipient's 32-byte public key, None for a broadcast."""
    @property
    def ttl(self) -> int:
        """Hops left (relays decrement it; not covered by the signature)."""
    @property
    def hops(self) -> int:
        """Hops travelled (relays increment it; not covered by the signature)."""
    @property
    def timestamp_ms(self) -> int:
        """The originator's clock when it made the envelope, in ms."""
    @property
    def topic(self) -> str:
        """The topic."""
    @property
    def payload(self) -> bytes:
        """The payload."""
    @property
    def signature(self) -> bytes | None:
        """The origin's 64-byte Ed25519 signature, or None."""
    def to_bytes(self) -> bytes:
        """The canonical frame. `InvalidArgumentError` for an unsigned broadcast."""
    @staticmethod
    def from_bytes(data: bytes) -> Envelope:
        """Decode a frame; `DecodeError` (with `.reason`) on anything malformed."""
    def signing_bytes(self) -> bytes:
        """The bytes the origin signs: a domain separator and every field but ttl, hops and signature."""
    def signed(self, key: _Signer) -> Envelope:
        """A copy signed by `key` (a `Keypair` or `SigningKey`), which must be the origin's key."""
    def verify(self) -> bool:
        """Whether the envelope carries a valid signature by its origin (unsigned is not valid)."""
    def forwarded(self) -> Envelope:
        """The envelope as a relay sends it on: `ttl - 1`, `hops + 1`, the signature still valid."""
    def __eq__(self, value: object, /) -> bool: ...
    def __ne__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def verify_envelopes(envelopes: Sequence[Envelope], *, threads: int | None = None) -> list[bool]:
    """One verdict per envelope: valid signature by its origin (batch, GIL released)."""

@final
class EnvelopeVerifier:
    """Verifies batches of envelopes on its own thread, which never takes the GIL (Unix only)."""

    def __new__(cls, *, threads: int | None = None, max_jobs: int = 4) -> EnvelopeVerifier: ...
    def fileno(self) -> int:
        """The descriptor that becomes readable when a job is done (`loop.add_reader`)."""
    @property
    def pending(self) -> int:
        """Jobs submitted and not collected by `results()` yet."""
    def submit(self, envelopes: Sequence[Envelope]) -> int | None:
        """Copy `envelopes` and queue them as one job; its id, or None when `max_jobs` are pending."""
    def results(self) -> list[tuple[int, list[bool] | None]]:
        """The `(id, verdicts)` of every job done since the last call, in order (None: the job failed)."""
    def close(self) -> None:
        """Stop taking jobs; the thread ends after its current batch. Idempotent."""

@final
class EnvelopeSigner:
    """Signs and encodes batches of envelopes with one key on its own thread, without the GIL (Unix only)."""

    def __new__(cls, key: SigningKey, *, threads: int | None = None, max_jobs: int = 4) -> EnvelopeSigner: ...
    def fileno(self) -> int:
        """The descriptor that becomes readable when a job is done (`loop.add_reader`)."""
    @property
    def pending(self) -> int:
        """Jobs submitted and not collected by `results()` yet."""
    def submit(self, envelopes: Sequence[Envelope]) -> int | None:
        """Copy `envelopes` (origin: the key's) and queue them as one job; its id, or None when full."""
    def results(self) -> list[tuple[int, list[bytes] | None]]:
        """The `(id, frames)` of the jobs done since the last call, in order (None: the job failed)."""
    def close(self) -> None:
        """Stop taking jobs; the thread ends after its current batch. Idempotent."""

def split_frame(frame: _Bytes, max_frame: int, chunk_id: _Id) -> list[bytes]:
    """Cut `frame` into chunk frames of at most `max_frame` bytes, or `[frame]` if it fits."""

@final
class Reassembler:
    """Reassembles chunk frames per (peer, chunk id), within fixed bounds (sans-I/O)."""

    def __new__(
        cls,
        *,
        max_pending: int = 1024,
        max_bytes: int = 67108864,
        timeout_ms: int = 30000,
        max_message: int | None = None,
        max_pending_per_peer: int = 64,
    ) -> Reassembler: ...
    def push(self, peer_id: str, frame: bytes, now_ms: int) -> bytes | None:
        """Add one chunk frame; the whole frame once complete, else None. `DecodeError` if malformed."""
    def expire(self, now_ms: int) -> int:
        """Drop the messages that did not complete in time; how many."""
    def forget(self, peer_id: str) -> int:
        """Drop every message in progress from `peer_id`; how many."""
    def stats(self) -> dict[str, int]:
        """pending, bytes, completed, expired, evicted, rejected, duplicates."""

# ---------------------------------------------------------------- end envelope
# ---------------------------------------------------------------- ledger (section owner: chain-ledger)

@final
class ChainParams:
    """Consensus parameters of a chain (frozen). Every node of a chain must use the same values."""

    def __new__(
        cls,
        chain_id: str = "swarm-devnet",
        *,
        min_fee: int = 1,
        block_subsidy: int = 50,
        pool_payout_divisor: int = 100,
        target: _Id | None = None,
        max_future_ms: int = 7_200_000,
        median_span: int = 11,
        max_block_txs: int = 10_000,
        max_block_bytes: int = 4_194_304,
    ) -> ChainParams: ...
    @property
    def chain_id(self) -> str:
        """The chain id every transaction and header must carry."""
    @property
    def min_fee(self) -> int:
        """The smallest fee of a transaction."""
    @property
    def block_subsidy(self) -> int:
        """Coins created by each block."""
    @property
    def pool_payout_divisor(self) -> int:
        """Each block pays `pool_balance // pool_payout_divisor` from the pool."""
    @property
    def target(self) -> bytes:
        """The proof-of-work target (32 bytes, big-endian)."""
    @property
    def max_future_ms(self) -> int:
        """How far ahead of the local clock a block timestamp may be, in ms."""
    @property
    def median_span(self) -> int:
        """How many previous timestamps the median time past spans."""
    @property
    def max_block_txs(self) -> int:
        """The most transactions of a block (reward included)."""
    @property
    def max_block_bytes(self) -> int:
        """The most bytes of an encoded block."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Verdict:
    """The outcome of a header check: `ok`, or a `reason` code (and for `bad-tx` the inner reason)."""

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
    @property
    def reason(self) -> str | None:
        """The block reason code, or `None` when ok."""
    @property
    def tx_reason(self) -> str | None:
        """The inner transaction reason of `bad-tx`."""
    @property
    def tx_index(self) -> int | None:
        """The index of the failing transaction of `bad-tx`."""
    @property
    def deferred(self) -> bool:
        """Whether the block should be deferred (`time-too-new`) rather than remembered as invalid."""
    def __bool__(self) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ConnectResult:
    """The outcome of `Ledger.connect`: the verdict and, when ok, the undo record and the changes."""

    @property
    def ok(self) -> bool:
        """Whether the block was valid and is now connected."""
    @property
    def reason(self) -> str | None:
        """The block reason code, or `None` when ok."""
    @property
    def tx_reason(self) -> str | None:
        """The inner transaction reason of `bad-tx`."""
    @property
    def tx_index(self) -> int | None:
        """The index of the failing transaction of `bad-tx`."""
    @property
    def deferred(self) -> bool:
        """Whether the block should be deferred (`time-too-new`)."""
    @property
    def undo(self) -> bytes | None:
        """The encoded undo record (for `Ledger.disconnect`), `None` when rejected."""
    @property
    def changes(self) -> list[tuple[bytes, bytes | None]]:
        """`(key, new value or None)` for every changed key, sorted by key (empty when rejected)."""
    def __bool__(self) -> bool: ...

@final
class Ledger:
    """The ledger state of one chain tip, with the parameters it validates by (internal)."""

    def __new__(cls, params: ChainParams, allocations: Sequence[tuple[_Id, int]]) -> Ledger: ...
    @staticmethod
    def from_entries(params: ChainParams, entries: Sequence[tuple[bytes, bytes]]) -> Ledger:
        """The state whose canonical entries are `entries`; `DecodeError` on a bad entry."""
    @property
    def params(self) -> ChainParams:
        """The parameters this ledger validates by."""
    def check_header(
        self, header: BlockHeader, parent: BlockHeader, median_time_past: int, now_ms: int
    ) -> Verdict:
        """The header checks that need no state (version, chain id, PoW, link, height, time)."""
    def connect(
        self,
        block: Block | bytes,
        parent: BlockHeader,
        median_time_past: int,
        now_ms: int,
        *,
        threads: int | None = None,
    ) -> ConnectResult:
        """Validate `block` on this state (tip `parent`) and connect it when valid; atomic."""
    def disconnect(self, undo: _Id) -> list[tuple[bytes, bytes | None]]:
        """Undo a connected block; returns `(key, restored value or None)` per touched key."""
    def apply_sequence(
        self, txs: Iterable[Transaction | bytes], *, threads: int | None = None
    ) -> list[str | None]:
        """One verdict per transaction applied in order to a scratch state (None = applies)."""
    def apply_chains(
        self, chains: Iterable[Iterable[Transaction | bytes]], *, threads: int | None = None
    ) -> list[list[str | None]]:
        """`apply_sequence` of each chain on its own scratch state, signatures in one batch."""
    def reward_amount(self, fees: int) -> int:
        """The exact reward of a block on this state whose fees sum to `fees`."""
    def balance(self, public_key: _Id) -> int:
        """The balance of a 32-byte public key."""
    def nonce(self, public_key: _Id) -> int:
        """The nonce the next transaction of a 32-byte public key must carry."""
    @property
    def pool_balance(self) -> int:
        """The reward pool balance."""
    def contributors(self) -> dict[bytes, int]:
        """Every contributor's public key with the total it donated."""
    def token(self, token_id: _Id) -> tuple[bytes, str, int] | None:
        """`(owner public key, symbol, supply)` of a token, or `None`."""
    def token_balance(self, token_id: _Id, public_key: _Id) -> int:
        """What a 32-byte public key holds of a token."""
    def state_hash(self) -> bytes:
        """SHA-256 of the whole state (its sorted canonical entries)."""
    def entries(self) -> list[tuple[bytes, bytes]]:
        """Every canonical `(key, value)` entry, sorted by key."""
    def copy(self) -> Ledger:
        """An independent copy (same parameters)."""

# ---------------------------------------------------------------- end ledger
