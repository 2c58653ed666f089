"""Adversarial cases found in review: each one was a consensus, money or DoS bug (or guards one)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmmesh import Block, Chain, ChainConfig, Genesis, PoolLimits, Transaction, token_id
from swarmmesh.chain.mempool import Mempool
from swarmmesh.chain.orphans import BlockBuffer
from swarmmesh.errors import ConfigError
from tests.chainkit import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    MINER,
    MINER2,
    T0,
    WallClock,
    craft,
    devnet,
    open_chain,
    transfer,
)
from tests.unit.test_chain_mempool import FakeLedger, FakeTx


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


def test_one_sender_cannot_queue_an_unbounded_nonce_chain() -> None:
    # Each admission re-checks the sender's whole pending chain (signatures included), so an
    # unbounded chain made one sender's flood quadratic: 1000 queued transfers took ~15 s.
    limits = PoolLimits(max_per_sender=4)
    with open_chain(pool=limits) as chain:
        for n in range(4):
            assert chain.submit_tx(transfer(ALICE, BOB, 1, n)).accepted
        fifth = chain.submit_tx(transfer(ALICE, BOB, 1, 4))
        assert (fifth.status, fifth.reason) == ("rejected", "sender-limit")
        assert chain.submit_tx(transfer(ALICE, BOB, 1, 3, fee=2)).accepted  # replacing is not adding
        assert chain.submit_tx(transfer(BOB, CAROL, 1, 0)).accepted  # other senders are unaffected
        assert len(chain.pending()) == 5


def test_a_reorg_returning_a_long_chain_keeps_the_sender_bound() -> None:
    with open_chain(pool=PoolLimits(max_per_sender=2)) as chain:
        txs = [transfer(ALICE, BOB, 1, n) for n in range(5)]
        side = craft(chain.tip, txs)
        assert chain.submit_block(side).accepted
        b1 = craft(chain.genesis.header, producer=MINER2)
        b2 = craft(b1.header, producer=MINER2)
        assert chain.submit_block(b1).accepted
        assert chain.submit_block(b2).accepted
        assert chain.tip == b2.header
        assert [tx.nonce for tx in chain.pending()] == [0, 1]


def test_pool_limits_validate_max_per_sender() -> None:
    with pytest.raises(ConfigError):
        PoolLimits(max_per_sender=0)
    assert PoolLimits().max_per_sender == 64


def test_orphans_and_deferred_blocks_are_bounded_by_bytes() -> None:
    # By count alone, 256 orphans + 256 deferred blocks of 4 MiB each could hold 2 GiB.
    clock = WallClock(T0)
    with open_chain(clock=clock) as probe:
        size = craft(probe.tip).size
    limit = 2 * size + size // 2
    with open_chain(clock=clock, max_orphan_bytes=limit, max_deferred_bytes=limit) as chain:
        blocks = [craft(chain.tip)]
        for _ in range(4):
            blocks.append(craft(blocks[-1].header))
        for b in blocks[1:]:
            assert chain.submit_block(b).status == "orphan"
        assert chain.orphan_count == 2  # the oldest were evicted
        for i in range(4):
            ahead = craft(chain.tip, timestamp_ms=T0 + 3 * 3_600_000 + i, producer=MINER2)
            assert chain.submit_block(ahead).status == "deferred"
        assert chain.deferred_count == 2


def test_a_buffer_always_holds_at_least_one_block() -> None:
    buf: BlockBuffer[str] = BlockBuffer("orphan", max_count=4, max_age_ms=1000, max_bytes=10)
    assert buf.add(b"a", b"p", "a", 0, size=4)
    assert buf.add(b"b", b"p", "b", 0, size=50)  # too big for the bound, yet the newest stays
    assert len(buf) == 1
    assert b"b" in buf
    assert buf.total_bytes == 50
    assert buf.pop_children(b"p") == ["b"]
    assert buf.total_bytes == 0
    with pytest.raises(ConfigError):
        BlockBuffer("x", max_count=1, max_age_ms=1, max_bytes=0)
    with pytest.raises(ConfigError):
        ChainConfig(max_orphan_bytes=0)


def test_the_genesis_id_commits_to_the_parameters_and_allocations() -> None:
    # The id names the chain and is what block 1 links to: two genesis blocks with the same
    # chain id and timestamp but other rules or coins must not share it, or their nodes would
    # take each other's blocks for the same chain and split on every reward and balance.
    base = devnet()
    variants = [
        devnet(min_fee=2),
        devnet(block_subsidy=51),
        devnet(pool_payout_divisor=99),
        Genesis.devnet({ALICE.address: 5}, timestamp_ms=T0),
        Genesis.devnet({ALICE.address: 1_000_000, BOB.address: 1_001}, timestamp_ms=T0),
    ]
    ids = {base.id, *(g.id for g in variants)}
    assert len(ids) == 1 + len(variants)
    assert devnet().id == base.id
    with open_chain(genesis=base) as a, open_chain(genesis=devnet(block_subsidy=51)) as b:
        block = a.produce_block(MINER, now_ms=T0 + 1000)
        assert a.submit_block(block).accepted
        assert b.submit_block(block).status == "orphan"  # another chain's block: unknown parent


def test_a_block_is_connected_by_the_clock_it_was_judged_by() -> None:
    # retry_deferred(now_ms) judged the header at now_ms but connected it by the chain's clock:
    # the block was stored as the best block yet never connected ("1 accepted", height 0), and
    # a valid competitor at the same height was then "accepted" without becoming the tip.
    clock = WallClock(T0)
    with open_chain(clock=clock) as chain:
        later = T0 + 3 * 3_600_000
        ahead = craft(chain.tip, timestamp_ms=later)
        assert chain.submit_block(ahead).status == "deferred"
        assert chain.retry_deferred(later) == 1
        assert chain.tip == ahead.header
        assert chain.integrity_check() == []


def test_templates_count_the_block_framing_of_every_transaction() -> None:
    # A block spends 4 bytes of length prefix per transaction: 10 000 transactions are 40 kB
    # the template did not count (it kept 4 kB of room), so produce_block could build a block
    # over max_block_bytes that every node, itself included, rejects as oversize.
    ledger = FakeLedger({f"s{i}": (1000, 0) for i in range(10)})
    pool = Mempool(ledger.apply_sequence)
    for i in range(10):
        assert pool.add(FakeTx(f"s{i}", 0, 5)).status == "accepted"
    assert len(pool.template(max_txs=100, max_bytes=1000)) == 10
    assert len(pool.template(max_txs=100, max_bytes=1000, per_tx_overhead=4)) == 9
    with open_chain() as chain:
        assert chain.submit_tx(transfer(ALICE, BOB, 1, 0)).accepted
        block = chain.produce_block(MINER, now_ms=T0 + 1000)
        framing = block.size - len(block.header.to_bytes()) - 4 - sum(tx.size for tx in block.txs)
        assert framing == 4 * len(block.txs)  # the constant the chain passes as per_tx_overhead


def _contest() -> tuple[list[Block], list[Block], Block]:
    """A valid chain of 4, mutated copies of each of its blocks, and a longer branch bad at height 2."""
    genesis = devnet().header
    main = [craft(genesis, [transfer(ALICE, BOB, 1, 0)])]
    for n in range(1, 4):
        main.append(craft(main[-1].header, [transfer(ALICE, BOB, 1, n)]))
    copies = [Block(b.header, [b.txs[0], transfer(BOB, CAROL, 1, 0)]) for b in main]
    side = [craft(genesis, producer=MINER2)]
    side.append(craft(side[-1].header, producer=MINER2, reward=999))  # bad-reward at height 2
    for _ in range(3):
        side.append(craft(side[-1].header, producer=MINER2))
    return main + side, copies, main[-1]


CONTEST = _contest()


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(len(CONTEST[0]) + len(CONTEST[1]))))
def test_any_submission_order_with_mutated_copies_ends_on_the_valid_chain(order: list[int]) -> None:
    blocks, copies, tip = CONTEST
    every = blocks + copies
    with open_chain() as chain:
        for i in order:
            chain.submit_block(every[i])
        assert chain.tip == tip.header
        with open_chain() as replay:
            for b in blocks[:4]:
                assert replay.submit_block(b).accepted
            assert chain.state_hash() == replay.state_hash()


def test_self_payments_and_duplicate_recipients_conserve_coins_and_tokens() -> None:
    keys = (ALICE, BOB, CAROL, MINER, MINER2)
    tid = token_id(ALICE.address, "AAA")

    def coins(chain: Chain) -> int:
        return sum(chain.balance(k.address) for k in keys) + chain.reward_pool().balance

    def tokens(chain: Chain) -> int:
        return sum(chain.token_balance(tid, k.address) for k in keys)

    with open_chain() as chain:
        start = coins(chain)
        for tx in (
            Transaction.create_token(ALICE, "AAA", 100, nonce=0, fee=1, chain_id=CHAIN_ID),
            transfer(BOB, BOB, 5, 0, fee=3),
            Transaction.donate(BOB, 77, nonce=1, fee=1, chain_id=CHAIN_ID),
        ):
            assert chain.submit_tx(tx).accepted
        assert chain.submit_block(chain.produce_block(MINER, now_ms=T0 + 1000)).accepted
        assert coins(chain) == start + 50  # only the subsidy is new
        assert chain.balance(BOB.address) == 1_000 - 3 - 77 - 1
        pays = [(BOB.address, 10), (BOB.address, 10), (ALICE.address, 5)]
        for tx in (
            Transaction.distribute_token(ALICE, tid, pays, nonce=1, fee=1, chain_id=CHAIN_ID),
            Transaction.transfer_token(ALICE, tid, ALICE.address, 50, nonce=2, fee=1, chain_id=CHAIN_ID),
        ):
            assert chain.submit_tx(tx).accepted
        over = Transaction.distribute_token(
            ALICE,
            tid,
            [(BOB.address, 50), (BOB.address, 50)],
            nonce=3,
            fee=1,
            chain_id=CHAIN_ID,
        )
        assert chain.submit_tx(over).reason == "token-insufficient"  # 100 > the 80 ALICE holds
        assert chain.submit_block(chain.produce_block(MINER, now_ms=T0 + 2000)).accepted
        assert coins(chain) == start + 100
        assert (chain.token_balance(tid, ALICE.address), chain.token_balance(tid, BOB.address)) == (80, 20)
        assert tokens(chain) == 100


def test_a_block_too_new_at_connect_time_is_deferred_and_the_best_connectable_branch_wins() -> None:
    # The clock stepped back (a restart, NTP) after a side-branch block was stored: when a later
    # child (timestamps need only beat the median) made that branch the best, connecting the block
    # failed with time-too-new and the tip stayed put with the unconnectable block still "best", so
    # a competitor with equal work was "accepted" without ever becoming the tip.
    clock = WallClock(T0 + 3_600_000)
    with open_chain(clock=clock) as chain:
        main = [craft(chain.tip)]
        for _ in range(2):
            main.append(craft(main[-1].header))
        for b in main:
            assert chain.submit_block(b).accepted
        s1 = craft(chain.genesis.header, producer=MINER2)
        ahead = craft(s1.header, producer=MINER2, timestamp_ms=clock.now + 7_200_000 - 1)
        s3 = craft(ahead.header, producer=MINER2, timestamp_ms=T0 + 5_000)  # only beats the median
        s4 = craft(s3.header, producer=MINER2, timestamp_ms=T0 + 6_000)
        assert chain.submit_block(s1).accepted
        assert chain.submit_block(ahead).accepted  # stored on the side branch, not connected
        clock.now -= 3_600_000  # the clock steps back: `ahead` is now too far ahead
        assert chain.submit_block(s3).accepted
        waiting = chain.submit_block(s4)  # the side branch has the most work, but cannot connect
        assert waiting.status == "orphan"  # its ancestor waits in the deferred buffer
        assert chain.tip == main[-1].header
        assert chain.deferred_count == 1
        assert chain.block(ahead.id) is None
        assert chain.integrity_check() == []
        rival = craft(main[-1].header)
        assert chain.submit_block(rival).accepted
        assert chain.tip == rival.header  # equal work to s4, and it does connect
        clock.now += 3_600_000
        assert chain.retry_deferred() == 1  # never remembered as invalid: it comes back
        assert chain.block(ahead.id) is not None
        s5 = craft(s4.header, producer=MINER2, timestamp_ms=T0 + 7_000)
        assert chain.submit_block(s5).accepted
        assert chain.tip == s5.header
        assert chain.integrity_check() == []
