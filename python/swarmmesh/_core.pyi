"""Stubs of the private extension ``swarmmesh._core`` (hand-written; checked by stubtest)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar, Final, Literal, TypeAlias, final

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

# ---------------------------------------------------------------- end routing
