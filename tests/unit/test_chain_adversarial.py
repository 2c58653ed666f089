"""Adversarial cases found in review: each one was a consensus, money or DoS bug (or guards one)."""

from __future__ import annotations

from swarmmesh import Block
from tests.chainkit import ALICE, BOB, T0, WallClock, craft, open_chain, transfer


def mutated(block: Block) -> Block:
    """The same header (so the same id) with a transaction list that no longer matches its Merkle root."""
    return Block(block.header, [block.txs[0], transfer(ALICE, BOB, 1, 0)])


def test_a_mutated_orphan_does_not_shadow_the_real_block_with_the_same_id() -> None:
    with open_chain() as chain:
        b1 = craft(chain.tip)
        b2 = craft(b1.header)
        bad = mutated(b2)
        assert bad.id == b2.id
        first = chain.submit_block(bad)
        assert (first.status, first.reason) == ("rejected", "bad-merkle")
        assert chain.orphan_count == 0
        assert chain.submit_block(b2).status == "orphan"
        assert chain.submit_block(b1).accepted
        assert chain.tip == b2.header


def test_a_mutated_deferred_block_does_not_shadow_the_real_one() -> None:
    clock = WallClock(T0)
    with open_chain(clock=clock) as chain:
        ahead = craft(chain.tip, timestamp_ms=T0 + 3 * 3_600_000)
        assert chain.submit_block(mutated(ahead)).reason == "bad-merkle"
        assert chain.deferred_count == 0
        assert chain.submit_block(ahead).status == "deferred"
        clock.now = T0 + 3 * 3_600_000
        assert chain.retry_deferred() == 1
        assert chain.tip == ahead.header


def test_a_duplicate_tx_orphan_is_rejected_before_it_waits() -> None:
    with open_chain() as chain:
        b1 = craft(chain.tip)
        tx = transfer(ALICE, BOB, 1, 0)
        dup = craft(b1.header, [tx, tx])
        assert chain.submit_block(dup).reason == "duplicate-tx"
        assert chain.orphan_count == 0
        assert chain.submit_block(b1).accepted
        assert chain.height == 1
