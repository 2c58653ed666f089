"""A bounded waiting room for blocks that cannot be judged yet.

The chain keeps two: *orphans* (the parent is unknown; they connect when it
arrives) and *deferred* blocks (timestamp too far ahead of the local clock;
re-checked later, never cached as invalid). Both are bounded by count and by
bytes, oldest evicted first when full (the newest entry always stays, so one
block larger than the byte bound can still wait alone), and by age.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from swarmmesh.errors import ConfigError

__all__ = ["BlockBuffer"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    parent: bytes
    received_ms: int
    item: T
    size: int


class BlockBuffer(Generic[T]):
    """Blocks keyed by id, indexed by parent, bounded by ``max_count``, ``max_bytes`` and ``max_age_ms``."""

    __slots__ = ("_by_parent", "_bytes", "_entries", "_max_age_ms", "_max_bytes", "_max_count", "_name")

    def __init__(self, name: str, *, max_count: int, max_age_ms: int, max_bytes: int | None = None) -> None:
        """An empty buffer (``name`` appears in log lines; ``max_bytes`` ``None``: no byte bound)."""
        if max_count < 1:
            raise ConfigError("max_count", "must be at least 1")
        if max_age_ms < 1:
            raise ConfigError("max_age_ms", "must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ConfigError("max_bytes", "must be at least 1")
        self._name = name
        self._max_count = max_count
        self._max_age_ms = max_age_ms
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[bytes, _Entry[T]] = OrderedDict()
        self._by_parent: dict[bytes, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._entries

    @property
    def total_bytes(self) -> int:
        """The summed ``size`` of the entries held."""
        return self._bytes

    def add(self, block_id: bytes, parent: bytes, item: T, now_ms: int, *, size: int = 0) -> bool:
        """Keep ``item`` (``size`` bytes); evicts the oldest entries when full. False if already held."""
        if block_id in self._entries:
            return False
        self.expire(now_ms)
        while self._entries and (
            len(self._entries) >= self._max_count
            or (self._max_bytes is not None and self._bytes + size > self._max_bytes)
        ):
            oldest = next(iter(self._entries))
            log.info("%s buffer full: evicting %s", self._name, oldest.hex()[:16])
            self._discard(oldest)
        self._entries[block_id] = _Entry(parent, now_ms, item, size)
        self._bytes += size
        self._by_parent.setdefault(parent, set()).add(block_id)
        return True

    def expire(self, now_ms: int) -> list[bytes]:
        """Drop entries older than ``max_age_ms``; return their ids."""
        dropped: list[bytes] = []
        while self._entries:
            block_id, entry = next(iter(self._entries.items()))
            if now_ms - entry.received_ms <= self._max_age_ms:
                break
            self._discard(block_id)
            dropped.append(block_id)
        if dropped:
            log.info("%s buffer: %d entries expired", self._name, len(dropped))
        return dropped

    def pop_children(self, parent: bytes) -> list[T]:
        """Remove and return the entries waiting for ``parent``, oldest first."""
        ids = self._by_parent.get(parent)
        if not ids:
            return []
        ordered = [i for i in self._entries if i in ids]
        items = [self._entries[i].item for i in ordered]
        for block_id in ordered:
            self._discard(block_id)
        return items

    def items(self) -> list[tuple[bytes, T]]:
        """Every ``(id, entry)``, oldest first (a snapshot)."""
        return [(block_id, e.item) for block_id, e in self._entries.items()]

    def discard(self, block_id: bytes) -> bool:
        """Remove one entry; False if it was not held."""
        if block_id not in self._entries:
            return False
        self._discard(block_id)
        return True

    def pop_all(self) -> list[T]:
        """Remove and return every entry, oldest first."""
        items = [e.item for e in self._entries.values()]
        self._entries.clear()
        self._by_parent.clear()
        self._bytes = 0
        return items

    def _discard(self, block_id: bytes) -> None:
        entry = self._entries.pop(block_id)
        self._bytes -= entry.size
        siblings = self._by_parent.get(entry.parent)
        if siblings is not None:
            siblings.discard(block_id)
            if not siblings:
                del self._by_parent[entry.parent]
