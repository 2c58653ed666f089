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

# ---------------------------------------------------------------- end breaker

# ---------------------------------------------------------------- routing (section owner: routing)

# ---------------------------------------------------------------- end routing
