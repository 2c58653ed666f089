"""The values the chain API returns and takes: verdicts, pool and token views, local settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from swarmmesh.chain.mempool import PoolLimits
from swarmmesh.errors import ConfigError

__all__ = ["AcceptResult", "ChainConfig", "RewardPool", "Status", "TokenInfo"]

#: The status of an :class:`AcceptResult`.
Status = Literal["accepted", "duplicate", "orphan", "deferred", "rejected"]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, init=False)
class AcceptResult:
    """The verdict on a submitted block or transaction."""

    __slots__ = {
        "id": "the id of the block or transaction judged",
        "reason": 'the reason code of a rejection ("time-too-new" for a deferral), else None',
        "status": (
            '"accepted", "duplicate", "orphan" (parent unknown, kept until it arrives), '
            '"deferred" (timestamp too far ahead, kept and re-checked) or "rejected"'
        ),
        "tx_index": 'for "bad-tx": the failing transaction\'s index in the block',
        "tx_reason": 'for "bad-tx": the failing transaction\'s reason code',
    }
    status: Status
    reason: str | None
    tx_reason: str | None
    tx_index: int | None
    id: bytes | None

    def __init__(
        self,
        status: Status,
        reason: str | None = None,
        tx_reason: str | None = None,
        tx_index: int | None = None,
        id: bytes | None = None,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "tx_reason", tx_reason)
        object.__setattr__(self, "tx_index", tx_index)
        object.__setattr__(self, "id", id)

    @property
    def accepted(self) -> bool:
        """Whether the status is ``"accepted"``."""
        return self.status == "accepted"


@dataclass(frozen=True)
class RewardPool:
    """The reward pool: its balance and what each contributor gave in total."""

    __slots__ = {
        "balance": "coins in the pool",
        "contributors": "address -> total ever donated",
    }
    balance: int
    contributors: dict[str, int]


@dataclass(frozen=True)
class TokenInfo:
    """A profile token."""

    __slots__ = {
        "owner": "the creator's address",
        "supply": "the total supply, fixed at creation",
        "symbol": "1-12 characters of [A-Z0-9]",
        "token_id": "the 32-byte token id (see swarmmesh.token_id)",
    }
    token_id: bytes
    owner: str
    symbol: str
    supply: int


@dataclass(frozen=True, init=False)
class ChainConfig:
    """Local (non-consensus) settings of a :class:`Chain`; every argument is keyword-only."""

    __slots__ = {
        "deferred_max_age_ms": "how long a deferred block may wait",
        "max_deferred": "most blocks waiting because their timestamp is too far ahead",
        "max_deferred_bytes": "most encoded bytes of deferred blocks (oldest evicted)",
        "max_fork_depth": "deepest reorganisation followed: deeper side branches are refused and pruned",
        "max_invalid": "most invalid block content hashes remembered",
        "max_orphan_bytes": "most encoded bytes of orphan blocks (oldest evicted)",
        "max_orphans": "most blocks waiting for an unknown parent (oldest evicted)",
        "now_ms": "the wall clock, a callable returning Unix milliseconds (inject one in tests)",
        "orphan_max_age_ms": "how long an orphan may wait",
        "pool": "the transaction pool's bounds (PoolLimits)",
        "threads": "signature-verification threads (None: all cores)",
    }
    pool: PoolLimits
    max_orphans: int
    orphan_max_age_ms: int
    max_orphan_bytes: int
    max_deferred: int
    deferred_max_age_ms: int
    max_deferred_bytes: int
    max_fork_depth: int
    max_invalid: int
    threads: int | None
    now_ms: Callable[[], int]

    def __init__(
        self,
        *,
        pool: PoolLimits | None = None,
        max_orphans: int = 256,
        orphan_max_age_ms: int = 3_600_000,
        max_orphan_bytes: int = 64 * 1024 * 1024,
        max_deferred: int = 256,
        deferred_max_age_ms: int = 3 * 3_600_000,
        max_deferred_bytes: int = 64 * 1024 * 1024,
        max_fork_depth: int = 100,
        max_invalid: int = 4096,
        threads: int | None = None,
        now_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        values = {
            "max_orphans": max_orphans,
            "orphan_max_age_ms": orphan_max_age_ms,
            "max_orphan_bytes": max_orphan_bytes,
            "max_deferred": max_deferred,
            "deferred_max_age_ms": deferred_max_age_ms,
            "max_deferred_bytes": max_deferred_bytes,
            "max_fork_depth": max_fork_depth,
            "max_invalid": max_invalid,
        }
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, "must be a positive integer")
            object.__setattr__(self, name, value)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ConfigError("threads", "must be a positive integer or None")
        if not callable(now_ms):
            raise ConfigError("now_ms", "must be a callable returning Unix milliseconds")
        if pool is not None and not isinstance(pool, PoolLimits):
            raise ConfigError("pool", "must be a PoolLimits")
        object.__setattr__(self, "pool", pool or PoolLimits())
        object.__setattr__(self, "threads", threads)
        object.__setattr__(self, "now_ms", now_ms)
