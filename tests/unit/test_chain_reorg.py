"""Reorg property: random block trees in random orders end where a replay of the winning branch does."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmmesh import Block, BlockHeader
from tests.chainkit import ALICE, BOB, CAROL, MINER, MINER2, craft, devnet, open_chain, transfer

PRODUCERS = (MINER, MINER2, CAROL)


@dataclass(frozen=True)
class Spec:
    parent: int  # index into the blocks made so far; -1 is genesis
    producer: int
    with_tx: bool
    bad: bool


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[Spec], list[int]]:
    n = draw(st.integers(1, 10))
    specs = [
        Spec(
            parent=draw(st.integers(-1, i - 1)),
            producer=draw(st.integers(0, len(PRODUCERS) - 1)),
            with_tx=draw(st.booleans()),
            bad=draw(st.integers(0, 9)) == 0,
        )
        for i in range(n)
    ]
    order = draw(st.permutations(range(n)))
    return specs, list(order)


def build(specs: list[Spec], genesis: BlockHeader) -> tuple[list[Block], list[bool], list[int]]:
    """The blocks, whether each is valid (itself and its ancestors), and each one's height."""
    blocks: list[Block] = []
    valid: list[bool] = []
    alice_nonce: list[int] = []
    for i, spec in enumerate(specs):
        parent = genesis if spec.parent < 0 else blocks[spec.parent].header
        nonce = 0 if spec.parent < 0 else alice_nonce[spec.parent]
        txs = [transfer(ALICE, BOB, 1 + i, nonce, fee=1 + spec.producer)] if spec.with_tx else []
        reward = None
        if spec.bad:
            reward = 50 + sum(t.fee for t in txs) + 1
        blocks.append(
            craft(
                parent,
                txs,
                producer=PRODUCERS[spec.producer],
                reward=reward,
                timestamp_ms=parent.timestamp_ms + 1000 + i,
            )
        )
        valid.append(not spec.bad and (spec.parent < 0 or valid[spec.parent]))
        alice_nonce.append(nonce + len(txs))
    heights = [b.header.height for b in blocks]
    return blocks, valid, heights


@settings(max_examples=80)
@given(trees())
def test_any_submission_order_ends_like_a_replay_of_the_winner(case: tuple[list[Spec], list[int]]) -> None:
    specs, order = case
    with open_chain() as chain:
        blocks, valid, heights = build(specs, chain.tip)
        for i in order:
            chain.submit_block(blocks[i])
        best_height = max([0, *(h for h, ok in zip(heights, valid, strict=True) if ok)])
        assert chain.height == best_height  # every block has the same work: most work = highest
        assert chain.orphan_count == 0 or not all(valid)
        tip, state = chain.tip, chain.state_hash()
        branch = [chain.block_at(h) for h in range(1, chain.height + 1)]
        assert chain.integrity_check() == []
        assert chain.reindex() == state
        # the pool took back what the losing branches held and still fits on the tip: a block
        # made from it carries every pending transaction and is accepted
        pending = chain.pending()
        confirmed = {tx.id for b in branch if b is not None for tx in b.txs}
        assert not confirmed & {tx.id for tx in pending}
        nonces = sorted(tx.nonce for tx in pending)
        assert nonces == list(range(chain.nonce(ALICE.address), chain.nonce(ALICE.address) + len(nonces)))
        block = chain.produce_block(MINER, now_ms=tip.timestamp_ms + 1000)
        assert sorted(tx.id for tx in block.txs[1:]) == sorted(tx.id for tx in pending)
        assert chain.submit_block(block).accepted
        assert chain.pending() == []
    with open_chain() as replay:
        for block in branch:
            assert block is not None
            assert replay.submit_block(block).accepted
        assert replay.tip == tip
        assert replay.state_hash() == state


def test_genesis_of_the_property_is_the_default() -> None:
    with open_chain() as chain:
        assert devnet().id == chain.tip.id
