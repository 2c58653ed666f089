"""The Chain API: queries, production, orphans, deferral, fork choice, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

import swarmmesh
from swarmmesh import ChainConfig, Genesis, PoolLimits, StoreError, StoreLockedError, Transaction, token_id
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


def test_genesis_is_deterministic_and_validated() -> None:
    a, b = devnet(), devnet()
    assert a == b
    assert a.id == b.id == a.header.id
    assert a.header.height == 0
    assert a.header.prev_id == b"\0" * 32
    assert a.header.merkle_root == swarmmesh.merkle_root([])
    assert devnet(min_fee=2).fingerprint != a.fingerprint
    assert Genesis.devnet({ALICE.address: 5}, timestamp_ms=T0).fingerprint != a.fingerprint
    assert devnet(chain_id="other-net").id != a.id
    with pytest.raises(swarmmesh.ConfigError, match="chain_id"):
        devnet(chain_id="Bad_Id")
    with pytest.raises(swarmmesh.ConfigError, match="allocations"):
        Genesis.devnet({"sw1nope": 5})
    with pytest.raises(swarmmesh.ConfigError, match="allocations"):
        Genesis.devnet({ALICE.address: 0})
    with pytest.raises(swarmmesh.ConfigError, match="pool_payout_divisor"):
        devnet(pool_payout_divisor=0)


def test_fresh_chain_state() -> None:
    with open_chain() as chain:
        assert chain.height == 0
        assert chain.tip.id == devnet().id
        assert chain.balance(ALICE.address) == 1_000_000
        assert chain.balance(CAROL.address) == 0
        assert chain.nonce(ALICE.address) == 0
        assert chain.reward_pool() == swarmmesh.RewardPool(0, {})
        assert chain.pending() == []
        assert chain.block_at(0) == devnet().block
        assert chain.block_at(1) is None
        assert chain.integrity_check() == []


def test_transfers_donations_and_tokens_flow_through_blocks() -> None:
    with open_chain() as chain:
        tid = token_id(ALICE.address, "ALC")
        txs = [
            transfer(ALICE, CAROL, 500, 0, fee=3),
            Transaction.donate(ALICE, 1000, nonce=1, fee=1, chain_id=CHAIN_ID),
            Transaction.create_token(ALICE, "ALC", 100, nonce=2, fee=1, chain_id=CHAIN_ID),
            Transaction.distribute_token(
                ALICE, tid, [(BOB.address, 10), (CAROL.address, 20)], nonce=3, fee=1, chain_id=CHAIN_ID
            ),
        ]
        for tx in txs:
            assert chain.submit_tx(tx).status == "accepted", tx.kind
        assert chain.submit_tx(txs[0]).status == "duplicate"
        assert chain.pending() == txs
        block = chain.produce_block(MINER, now_ms=T0 + 1000)
        assert list(block.txs[1:]) == txs
        assert block.txs[0].kind == "reward"
        assert block.txs[0].amount == 50 + 6  # empty pool: no payout yet
        assert chain.pending() == txs  # produced, not submitted
        result = chain.submit_block(block)
        assert result.status == "accepted"
        assert result.accepted
        assert chain.submit_block(block).status == "duplicate"
        assert chain.height == 1
        assert chain.tip == block.header
        assert chain.block(block.id) == block
        assert chain.block_at(1) == block
        assert chain.pending() == []
        assert chain.balance(CAROL.address) == 500
        assert chain.balance(MINER.address) == 56
        assert chain.nonce(ALICE.address) == 4
        assert chain.reward_pool() == swarmmesh.RewardPool(1000, {ALICE.address: 1000})
        info = chain.token(tid)
        assert info is not None
        assert (info.owner, info.symbol, info.supply) == (ALICE.address, "ALC", 100)
        assert chain.token_balance(tid, ALICE.address) == 70
        assert chain.token_balance(tid, CAROL.address) == 20
        assert chain.token(b"\1" * 32) is None
        # the next block pays out 1000 // 100 from the pool
        nxt = chain.produce_block(MINER2, now_ms=T0 + 2000)
        assert nxt.txs[0].amount == 50 + 10
        assert chain.submit_block(nxt).accepted
        assert chain.reward_pool().balance == 990
        assert chain.integrity_check() == []


def test_produce_block_respects_max_txs_and_the_median_time() -> None:
    with open_chain() as chain:
        for n in range(3):
            assert chain.submit_tx(transfer(ALICE, BOB, 1, n)).accepted
        block = chain.produce_block(MINER, now_ms=0, max_txs=2)  # clock far behind genesis
        assert len(block.txs) == 3
        assert block.header.timestamp_ms == T0 + 1
        assert chain.submit_block(block).accepted
        assert len(chain.pending()) == 1


def test_orphans_wait_for_their_parent() -> None:
    with open_chain() as chain:
        b1 = craft(chain.tip)
        b2 = craft(b1.header)
        b3 = craft(b2.header)
        assert chain.submit_block(b3).status == "orphan"
        assert chain.submit_block(b2).status == "orphan"
        assert chain.submit_block(b3).status == "duplicate"
        assert chain.orphan_count == 2
        assert chain.submit_block(b1).accepted
        assert chain.tip == b3.header
        assert chain.orphan_count == 0


def test_orphan_pool_is_bounded_by_count_and_age() -> None:
    clock = WallClock()
    with open_chain(clock=clock, max_orphans=2, orphan_max_age_ms=1000) as chain:
        b1 = craft(chain.tip)
        chain_blocks = [b1]
        for _ in range(3):
            chain_blocks.append(craft(chain_blocks[-1].header))
        for b in chain_blocks[1:]:
            assert chain.submit_block(b).status == "orphan"
        assert chain.orphan_count == 2  # the oldest was evicted
        clock.now += 5000
        other = craft(chain.tip, producer=MINER2)
        assert chain.submit_block(other).accepted  # expiry runs on every submission
        assert chain.orphan_count == 0


def test_time_too_new_is_deferred_then_accepted_when_the_clock_catches_up() -> None:
    clock = WallClock(T0)
    with open_chain(clock=clock) as chain:
        ahead = craft(chain.tip, timestamp_ms=T0 + 3 * 3_600_000)
        before = chain.state_hash()
        result = chain.submit_block(ahead)
        assert (result.status, result.reason) == ("deferred", "time-too-new")
        assert chain.deferred_count == 1
        assert chain.state_hash() == before
        assert chain.submit_block(ahead).status == "duplicate"
        clock.now = T0 + 3_600_000 - 1  # still too far ahead
        assert chain.retry_deferred() == 0
        assert chain.deferred_count == 1
        clock.now = T0 + 3 * 3_600_000
        assert chain.retry_deferred() == 1
        assert chain.tip == ahead.header
        assert chain.deferred_count == 0


def test_deferred_blocks_expire_by_arrival_time() -> None:
    clock = WallClock(T0)
    with open_chain(clock=clock, deferred_max_age_ms=1000) as chain:
        assert chain.submit_block(craft(chain.tip, timestamp_ms=T0 + 100 * 3_600_000)).status == "deferred"
        for _ in range(3):  # re-checks do not refresh the arrival time
            clock.now += 400
            assert chain.retry_deferred() == 0
        assert chain.submit_block(craft(chain.tip)).accepted
        assert chain.deferred_count == 0


def test_most_work_wins_ties_go_to_the_first_seen_and_reorgs_return_txs() -> None:
    with open_chain() as chain:
        genesis = chain.tip
        tx = transfer(ALICE, CAROL, 100, 0)
        a1 = craft(genesis, [tx])
        b1 = craft(genesis, producer=MINER2)
        assert chain.submit_block(a1).accepted
        assert chain.submit_block(b1).accepted  # equal work: a1 was first
        assert chain.tip == a1.header
        assert chain.balance(CAROL.address) == 100
        b2 = craft(b1.header, producer=MINER2)
        assert chain.submit_block(b2).accepted  # more work: reorganise
        assert chain.tip == b2.header
        assert chain.block_at(1) == b1
        assert chain.balance(CAROL.address) == 0
        assert chain.balance(MINER2.address) == 100
        assert chain.balance(MINER.address) == 0
        assert chain.pending() == [tx]  # back in the pool
        a2 = craft(a1.header)
        a3 = craft(a2.header)
        assert chain.submit_block(a2).accepted
        assert chain.tip == b2.header
        assert chain.submit_block(a3).accepted
        assert chain.tip == a3.header
        assert chain.pending() == []
        assert chain.balance(CAROL.address) == 100
        assert chain.integrity_check() == []
        assert chain.reindex() == chain.state_hash()


def test_a_branch_failing_mid_way_leaves_the_old_chain() -> None:
    with open_chain() as chain:
        genesis = chain.tip
        a1 = craft(genesis)
        assert chain.submit_block(a1).accepted
        b1 = craft(genesis, producer=MINER2)
        bad = craft(b1.header, producer=MINER2, reward=999)  # valid header and body, bad state
        assert chain.submit_block(b1).accepted
        before = chain.state_hash()
        result = chain.submit_block(bad)
        assert (result.status, result.reason) == ("rejected", "bad-reward")
        assert chain.tip == a1.header
        assert chain.state_hash() == before
        child = craft(bad.header, producer=MINER2)
        assert chain.submit_block(child).reason == "bad-prev"
        assert chain.submit_block(bad).reason == "bad-reward"  # remembered
        assert chain.integrity_check() == []


def test_clean_restart_keeps_blocks_pool_and_donations(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    donation = Transaction.donate(ALICE, 400, nonce=1, fee=2, chain_id=CHAIN_ID)
    with open_chain(path) as chain:
        assert chain.submit_block(chain.produce_block(MINER, now_ms=T0 + 10)).accepted
        assert chain.submit_tx(transfer(ALICE, BOB, 5, 0)).accepted
        assert chain.submit_tx(donation).accepted
        pending = chain.pending()
        tip, state = chain.tip, chain.state_hash()
    with open_chain(path) as chain:
        assert chain.tip == tip
        assert chain.state_hash() == state
        assert chain.pending() == pending
        assert chain.submit_block(chain.produce_block(MINER, now_ms=T0 + 20)).accepted
        assert chain.reward_pool().contributors == {ALICE.address: 400}
    with open_chain(path) as chain:
        assert chain.reward_pool().balance == 400
        assert chain.pending() == []
        assert chain.integrity_check() == []
        assert chain.reindex() == chain.state_hash()


def test_store_refuses_another_genesis_and_a_second_opener(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    with open_chain(path), pytest.raises(StoreLockedError):
        open_chain(path)
    with pytest.raises(StoreError) as info:
        open_chain(path, devnet(block_subsidy=51))
    assert info.value.code == "genesis_mismatch"
    open_chain(path).close()


def test_pool_limits_apply_through_the_chain() -> None:
    with open_chain(pool=PoolLimits(max_count=2)) as chain:
        assert chain.submit_tx(transfer(ALICE, BOB, 1, 0, fee=1)).accepted
        assert chain.submit_tx(transfer(BOB, ALICE, 1, 0, fee=1)).accepted
        assert chain.submit_tx(transfer(ALICE, BOB, 1, 1, fee=1)).reason == "pool-full"
        assert chain.submit_tx(transfer(BOB, ALICE, 2, 0, fee=1)).reason == "replace-fee-too-low"
        replaced = transfer(BOB, ALICE, 2, 0, fee=5)
        assert chain.submit_tx(replaced).accepted
        assert replaced in chain.pending()


def test_config_is_validated() -> None:
    with pytest.raises(swarmmesh.ConfigError, match="max_orphans"):
        ChainConfig(max_orphans=0)
    with pytest.raises(swarmmesh.ConfigError, match="threads"):
        ChainConfig(threads=0)


def test_orphans_of_a_block_found_invalid_are_rejected_with_it() -> None:
    with open_chain() as chain:
        bad = craft(chain.tip, reward=999)
        child = craft(bad.header)
        grandchild = craft(child.header)
        assert chain.submit_block(grandchild).status == "orphan"
        assert chain.submit_block(child).status == "orphan"
        assert chain.submit_block(bad).reason == "bad-reward"
        assert chain.orphan_count == 0
        assert chain.submit_block(grandchild).reason == "bad-prev"
        assert chain.submit_block(craft(child.header, producer=MINER2)).reason == "bad-prev"
        assert chain.height == 0


def test_orphans_survive_a_mutated_copy_of_their_parent() -> None:
    with open_chain() as chain:
        parent = craft(chain.tip, [transfer(ALICE, BOB, 1, 0)])
        child = craft(parent.header)
        assert chain.submit_block(child).status == "orphan"
        mutated = swarmmesh.Block(parent.header, [parent.txs[0]])
        assert chain.submit_block(mutated).reason == "bad-merkle"
        assert chain.orphan_count == 1  # the id may still come with its real content
        assert chain.submit_block(parent).accepted
        assert chain.tip == child.header
