"""The genesis of a chain: its parameters, initial allocations and block 0.

A :class:`Genesis` identifies a chain. Its header (height 0, an all-zero
previous id, the Merkle root of no transactions, a fixed timestamp, the
chain's target and, in the producer field, :attr:`Genesis.commitment` to the
parameters and allocations) is deterministic, so every node that starts from
the same genesis agrees on :attr:`Genesis.id`, and two genesis blocks that
differ in any rule or coin have different ids (block 1 of one chain is an
orphan on the other, not a block to split on). :attr:`Genesis.fingerprint`
also commits to the parameters and allocations, and a store made for one
genesis refuses to open with another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from swarmmesh._core import Block, BlockHeader, ChainParams, Ledger, merkle_root
from swarmmesh.errors import ConfigError
from swarmmesh.identity import public_key_of

__all__ = ["BLOCK_VERSION", "Genesis"]

#: The block header version this code produces.
BLOCK_VERSION = 1

_CHAIN_ID = re.compile(r"[a-z0-9-]{1,32}")
_U64 = (1 << 64) - 1
_ZERO = b"\0" * 32


@dataclass(frozen=True)
class Genesis:
    """A chain's identity: id, rules and the coins that exist at height 0 (build with :meth:`devnet`)."""

    __slots__ = {
        "allocations": "(address, amount) pairs sorted by address: the coins at height 0",
        "block_subsidy": "new coins in every block's reward",
        "chain_id": "1-32 characters of [a-z0-9-], in every transaction and header",
        "min_fee": "the smallest fee a transaction may pay",
        "pool_payout_divisor": "each block pays out floor(pool balance / divisor) from the reward pool",
        "target": "the proof-of-work target, 32 bytes big-endian",
        "timestamp_ms": "the genesis timestamp (Unix milliseconds)",
    }

    chain_id: str
    allocations: tuple[tuple[str, int], ...]
    min_fee: int
    block_subsidy: int
    pool_payout_divisor: int
    target: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, str) or not _CHAIN_ID.fullmatch(self.chain_id):
            raise ConfigError("chain_id", "must be 1-32 characters of [a-z0-9-]")
        for name in ("min_fee", "block_subsidy", "timestamp_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= _U64:
                raise ConfigError(name, "must be an integer in 0..2^64-1")
        if not isinstance(self.pool_payout_divisor, int) or not 1 <= self.pool_payout_divisor <= _U64:
            raise ConfigError("pool_payout_divisor", "must be an integer in 1..2^64-1")
        if not isinstance(self.target, bytes) or len(self.target) != 32:
            raise ConfigError("target", "must be 32 bytes (a big-endian 256-bit integer)")
        total = 0
        for address, amount in self.allocations:
            try:
                public_key_of(address)
            except (ValueError, TypeError) as exc:
                raise ConfigError("allocations", f"{address!r} is not an address: {exc}") from exc
            if not isinstance(amount, int) or not 0 < amount <= _U64:
                raise ConfigError("allocations", f"amount for {address} must be in 1..2^64-1")
            total += amount
        if total > _U64:
            raise ConfigError("allocations", "the allocations add up to more than 2^64-1")
        if list(self.allocations) != sorted(dict(self.allocations).items()):
            raise ConfigError("allocations", "must be sorted by address, one entry per address")

    @classmethod
    def devnet(
        cls,
        allocations: Mapping[str, int],
        *,
        chain_id: str = "swarm-devnet",
        min_fee: int = 1,
        block_subsidy: int = 50,
        pool_payout_divisor: int = 100,
        target: bytes | None = None,
        timestamp_ms: int = 0,
    ) -> Genesis:
        """A development chain: ``allocations`` maps ``sw1...`` addresses to coins.

        ``target`` defaults to the devnet target (a block mines in a few
        milliseconds).
        """
        if target is None:
            target = ChainParams().target
        return cls(
            chain_id=chain_id,
            allocations=tuple(sorted(dict(allocations).items())),
            min_fee=min_fee,
            block_subsidy=block_subsidy,
            pool_payout_divisor=pool_payout_divisor,
            target=target,
            timestamp_ms=timestamp_ms,
        )

    def params(self) -> ChainParams:
        """The consensus parameters for the Rust ledger."""
        return ChainParams(
            chain_id=self.chain_id,
            min_fee=self.min_fee,
            block_subsidy=self.block_subsidy,
            pool_payout_divisor=self.pool_payout_divisor,
            target=self.target,
        )

    @property
    def header(self) -> BlockHeader:
        """Block 0's header (never validated, identical on every node)."""
        return BlockHeader(
            BLOCK_VERSION,
            self.chain_id,
            0,
            _ZERO,
            merkle_root([]),
            self.timestamp_ms,
            self.target,
            0,
            self.commitment,
        )

    @property
    def block(self) -> Block:
        """Block 0: the genesis header and no transactions."""
        return Block(self.header, [])

    @property
    def id(self) -> bytes:
        """The genesis block id: it names the chain."""
        return self.header.id

    @property
    def commitment(self) -> bytes:
        """SHA-256 over the consensus parameters and allocations: the genesis header's producer field."""
        h = hashlib.sha256(b"swarmmesh/genesis-commitment/v1")
        params = self.params()
        for value in (
            self.min_fee,
            self.block_subsidy,
            self.pool_payout_divisor,
            int(params.max_future_ms),
            int(params.median_span),
            int(params.max_block_txs),
            int(params.max_block_bytes),
        ):
            h.update(value.to_bytes(8, "little"))
        h.update(len(self.allocations).to_bytes(8, "little"))
        for address, amount in self.allocations:
            h.update(public_key_of(address))
            h.update(amount.to_bytes(8, "little"))
        return h.digest()

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 over the genesis id, the parameters and the allocations."""
        h = hashlib.sha256(b"swarmmesh/genesis/v1")
        h.update(self.id)
        for value in (self.min_fee, self.block_subsidy, self.pool_payout_divisor):
            h.update(value.to_bytes(8, "little"))
        for address, amount in self.allocations:
            h.update(public_key_of(address))
            h.update(amount.to_bytes(8, "little"))
        return h.digest()

    def ledger(self) -> Ledger:
        """The ledger state at height 0."""
        return Ledger(self.params(), [(public_key_of(a), amount) for a, amount in self.allocations])
