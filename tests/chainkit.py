"""Shared helpers for the chain tests: keys, a devnet genesis, a manual wall clock, block crafting."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from swarmmesh import Block, BlockHeader, Chain, ChainConfig, Genesis, Keypair, Transaction, merkle_root, mine

T0 = 1_700_000_000_000
CHAIN_ID = "swarm-devnet"

ALICE = Keypair.from_seed(bytes([1]) * 32)
BOB = Keypair.from_seed(bytes([2]) * 32)
CAROL = Keypair.from_seed(bytes([3]) * 32)
MINER = Keypair.from_seed(bytes([4]) * 32)
MINER2 = Keypair.from_seed(bytes([5]) * 32)


class WallClock:
    """A settable Unix-milliseconds clock."""

    def __init__(self, now: int = T0 + 3_600_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def devnet(**kw: object) -> Genesis:
    allocations = {ALICE.address: 1_000_000, BOB.address: 1_000}
    return Genesis.devnet(allocations, timestamp_ms=T0, **kw)  # type: ignore[arg-type]


def open_chain(
    path: Path | None = None, genesis: Genesis | None = None, clock: WallClock | None = None, **cfg: object
) -> Chain:
    config = ChainConfig(now_ms=clock or WallClock(), **cfg)  # type: ignore[arg-type]
    return Chain.open(path, genesis or devnet(), config=config)


def transfer(
    kp: Keypair, to: Keypair, amount: int, nonce: int, fee: int = 1, chain_id: str = CHAIN_ID
) -> Transaction:
    return Transaction.transfer(kp, to.address, amount, nonce=nonce, fee=fee, chain_id=chain_id)


def mined(header: BlockHeader) -> BlockHeader:
    found = mine(header)
    assert found is not None
    return found


def craft(
    parent: BlockHeader,
    txs: Sequence[Transaction] = (),
    *,
    producer: Keypair = MINER,
    reward: int | None = None,
    timestamp_ms: int | None = None,
    pool_payout: int = 0,
    subsidy: int = 50,
    **fields: object,
) -> Block:
    """A mined block on ``parent``: a reward (subsidy + fees + ``pool_payout`` unless given) then ``txs``."""
    height = parent.height + 1
    if reward is None:
        reward = subsidy + sum(tx.fee for tx in txs) + pool_payout
    all_txs = [Transaction.reward(producer, reward, height=height, chain_id=CHAIN_ID), *txs]
    header = BlockHeader(
        1,
        CHAIN_ID,
        height,
        parent.id,
        merkle_root([tx.id for tx in all_txs]),
        parent.timestamp_ms + 1000 if timestamp_ms is None else timestamp_ms,
        parent.target,
        0,
        producer.public_key,
    )
    if fields:
        header = header.replace(**fields)  # type: ignore[arg-type]
    return Block(mined(header), all_txs)
