"""Replay protection for broadcasts: a window of origin timestamps the mesh accepts.

The :class:`~swarmmesh.DedupFilter` remembers a broadcast's id for ``dedup_ttl_s`` after
it was first seen; a signed broadcast replayed later than that would look new. So a
broadcast carries its origin's wall-clock time (Unix ms, inside the signature), and a node
accepts it only while

    now - max_age_ms  <=  timestamp  <=  now + max_skew_ms

on its own wall clock. With ``max_age_ms + max_skew_ms < ttl_ms`` every replay is caught by
one of the two: a copy that arrives within ``ttl_ms`` of the first is a duplicate, and one
that arrives later is too old, because the first was accepted only if ``timestamp <= t +
max_skew_ms``, so at ``t' >= t + ttl_ms`` it is ``timestamp <= t' - ttl_ms + max_skew_ms <
t' - max_age_ms``. (Both readings are the receiver's, so the argument needs no agreement
between clocks; an origin whose clock is off by ``d`` only shortens its broadcasts' life by
``d``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from swarmmesh.errors import ConfigError

__all__ = ["FreshnessWindow", "Staleness"]

#: Why a timestamp falls outside the window.
Staleness = Literal["stale", "future"]

#: The largest window accepted, in milliseconds (one day).
_MAX_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class FreshnessWindow:
    """Accept origin timestamps at most ``max_age_ms`` old and ``max_skew_ms`` ahead.

    Built with :meth:`for_ttl` from the dedup TTL, which checks the inequality that makes
    replay protection complete; constructing one directly only checks the ranges.
    """

    max_age_ms: int
    max_skew_ms: int

    def __post_init__(self) -> None:
        for name in ("max_age_ms", "max_skew_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_MS:
                raise ConfigError(name, f"must be an int in (0, {_MAX_MS}] ms, got {value!r}")

    @classmethod
    def for_ttl(cls, ttl_ms: int, max_skew_ms: int) -> FreshnessWindow:
        """The widest window that a dedup TTL of ``ttl_ms`` still covers.

        ``max_age_ms = ttl_ms - max_skew_ms - 1``: one millisecond short of the bound, so a
        replay can never be both past the dedup memory and inside the window. Raises
        :class:`~swarmmesh.ConfigError` when the TTL leaves no room for any age.
        """
        max_age = ttl_ms - max_skew_ms - 1
        if max_age < 1:
            raise ConfigError(
                "max_clock_skew_s",
                f"must be well below the dedup TTL ({ttl_ms} ms), got {max_skew_ms} ms",
            )
        return cls(max_age, max_skew_ms)

    def check(self, timestamp_ms: int, now_ms: int) -> Staleness | None:
        """``None`` if ``timestamp_ms`` is acceptable at ``now_ms``, else why not."""
        if timestamp_ms < now_ms - self.max_age_ms:
            return "stale"
        if timestamp_ms > now_ms + self.max_skew_ms:
            return "future"
        return None
