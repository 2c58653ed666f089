"""The invalid corpus through Chain: every reason code, exact, with state and pool unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from swarmmesh import Block, Chain, Transaction, merkle_root, token_id
from tests.chainkit import ALICE, BOB, CAROL, CHAIN_ID, MINER, T0, craft, mined, open_chain, transfer

TID = token_id(ALICE.address, "ALC")


@pytest.fixture
def chain() -> Iterator[Chain]:
    """A chain at height 2 with ALICE's token ALC (supply 100) and one pending transfer."""
    with open_chain() as c:
        assert c.submit_tx(
            Transaction.create_token(ALICE, "ALC", 100, nonce=0, fee=1, chain_id=CHAIN_ID)
        ).accepted
        assert c.submit_block(c.produce_block(MINER, now_ms=T0 + 1000)).accepted
        assert c.submit_block(c.produce_block(MINER, now_ms=T0 + 2000)).accepted
        assert c.submit_tx(transfer(BOB, CAROL, 10, 0)).accepted
        yield c


def bad_signature(tx: Transaction) -> Transaction:
    raw = bytearray(tx.to_bytes())
    raw[-1] ^= 0x01
    return Transaction.from_bytes(bytes(raw))


def tx_opts(nonce: int = 1, fee: int = 1) -> dict[str, object]:
    return {"nonce": nonce, "fee": fee, "chain_id": CHAIN_ID}


TX_CORPUS: dict[str, Callable[[], Transaction]] = {
    "malformed": lambda: Transaction.reward(ALICE, 50, height=3, chain_id=CHAIN_ID),
    "bad-chain-id": lambda: transfer(ALICE, BOB, 1, 1, chain_id="other-net"),
    "bad-signature": lambda: bad_signature(transfer(ALICE, BOB, 1, 1)),
    "bad-nonce": lambda: transfer(ALICE, BOB, 1, 0),
    "insufficient-funds": lambda: transfer(ALICE, BOB, 10**9, 1),
    "zero-amount": lambda: transfer(ALICE, BOB, 0, 1),
    "amount-overflow": lambda: transfer(ALICE, BOB, 2**64 - 1, 1, fee=1),
    "fee-too-low": lambda: transfer(ALICE, BOB, 1, 1, fee=0),
    "unknown-token": lambda: Transaction.transfer_token(
        ALICE, token_id(ALICE.address, "NOPE"), BOB.address, 1, **tx_opts()
    ),
    "token-exists": lambda: Transaction.create_token(ALICE, "ALC", 5, **tx_opts()),
    "bad-token-symbol": lambda: Transaction.create_token(ALICE, "abc", 5, **tx_opts()),
    "token-insufficient": lambda: Transaction.transfer_token(ALICE, TID, BOB.address, 101, **tx_opts()),
    "too-many-recipients": lambda: Transaction.distribute_token(
        ALICE, TID, [(BOB.address, 1)] * 257, **tx_opts()
    ),
    "not-token-owner": lambda: Transaction.distribute_token(BOB, TID, [(CAROL.address, 1)], **tx_opts(1)),
}


@pytest.mark.parametrize("reason", sorted(TX_CORPUS))
def test_invalid_transaction(chain: Chain, reason: str) -> None:
    before, pending = chain.state_hash(), chain.pending()
    result = chain.submit_tx(TX_CORPUS[reason]())
    assert (result.status, result.reason) == ("rejected", reason)
    assert chain.state_hash() == before
    assert chain.pending() == pending


def test_duplicate_transaction(chain: Chain) -> None:
    tx = transfer(ALICE, BOB, 1, 1)
    assert chain.submit_tx(tx).accepted
    before, pending = chain.state_hash(), chain.pending()
    result = chain.submit_tx(tx)
    assert (result.status, result.reason) == ("duplicate", "duplicate")
    assert (chain.state_hash(), chain.pending()) == (before, pending)


def _bad_pow(c: Chain) -> Block:
    good = craft(c.tip)
    header = good.header
    while header.meets_target():
        header = header.replace(nonce=header.nonce + 1)
    return Block(header, list(good.txs))


def _oversize(c: Chain) -> Block:
    tx = transfer(ALICE, BOB, 1, 1)
    return craft(c.tip, [tx] * c.params.max_block_txs)


def _no_reward(c: Chain) -> Block:
    header = craft(c.tip).header.replace(merkle_root=merkle_root([]))
    return Block(mined(header), [])


def _truncated(c: Chain) -> bytes:
    return craft(c.tip).to_bytes()[:-1]


# case -> (the exact reason, a builder of the block or its bytes)
BLOCK_CORPUS: dict[str, tuple[str, Callable[[Chain], Block | bytes]]] = {
    "bad-pow": ("bad-pow", _bad_pow),
    "bad-height": ("bad-height", lambda c: craft(c.tip, height=c.height + 2)),
    "bad-merkle": ("bad-merkle", lambda c: craft(c.tip, merkle_root=b"\x07" * 32)),
    "duplicate-tx": ("duplicate-tx", lambda c: craft(c.tip, [transfer(ALICE, BOB, 1, 1)] * 2)),
    "bad-reward": ("bad-reward", lambda c: craft(c.tip, reward=51)),
    "no-reward": ("bad-reward", _no_reward),
    "reward-not-first": (
        "bad-reward",
        lambda c: craft(c.tip, [Transaction.reward(MINER, 7, height=c.height + 1, chain_id=CHAIN_ID)]),
    ),
    "time-too-old": ("time-too-old", lambda c: craft(c.tip, timestamp_ms=T0)),
    "oversize": ("oversize", _oversize),
    "bad-version": ("bad-version", lambda c: craft(c.tip, version=2)),
    "bad-chain-id": ("bad-chain-id", lambda c: craft(c.tip, chain_id="other-net")),
    "malformed": ("malformed", _truncated),
}


@pytest.mark.parametrize("case", sorted(BLOCK_CORPUS))
def test_invalid_block(chain: Chain, case: str) -> None:
    reason, build = BLOCK_CORPUS[case]
    block = build(chain)
    before, pending, tip = chain.state_hash(), chain.pending(), chain.tip
    result = chain.submit_block(block)
    assert (result.status, result.reason) == ("rejected", reason)
    assert (chain.state_hash(), chain.pending(), chain.tip) == (before, pending, tip)
    assert chain.submit_block(block).reason == reason  # remembered (or found again)
    assert chain.orphan_count == chain.deferred_count == 0
    assert chain.integrity_check() == []


def test_undecodable_transaction_bytes_are_malformed(chain: Chain) -> None:
    before, pending = chain.state_hash(), chain.pending()
    raw = transfer(ALICE, BOB, 1, 1).to_bytes()
    for junk in (raw[:-1], raw + b"\0", b"", b"\xff" * 10):
        result = chain.submit_tx(junk)
        assert (result.status, result.reason) == ("rejected", "malformed")
    assert (chain.state_hash(), chain.pending()) == (before, pending)
    assert chain.submit_tx(raw).accepted  # the bytes of a valid transaction are fine


def test_bad_tx_names_the_transaction_and_its_reason(chain: Chain) -> None:
    block = craft(chain.tip, [transfer(ALICE, BOB, 1, 1), bad_signature(transfer(ALICE, BOB, 1, 2))])
    before, pending = chain.state_hash(), chain.pending()
    result = chain.submit_block(block)
    assert (result.status, result.reason, result.tx_reason, result.tx_index) == (
        "rejected",
        "bad-tx",
        "bad-signature",
        2,
    )
    assert (chain.state_hash(), chain.pending()) == (before, pending)


def test_bad_prev_for_a_child_of_an_invalid_block(chain: Chain) -> None:
    bad = craft(chain.tip, reward=51)
    assert chain.submit_block(bad).reason == "bad-reward"
    before = chain.state_hash()
    result = chain.submit_block(craft(bad.header))
    assert (result.status, result.reason) == ("rejected", "bad-prev")
    assert chain.state_hash() == before


def test_time_too_new_is_deferred_not_rejected(chain: Chain) -> None:
    block = craft(chain.tip, timestamp_ms=T0 + 100 * 3_600_000)
    before = chain.state_hash()
    result = chain.submit_block(block)
    assert (result.status, result.reason) == ("deferred", "time-too-new")
    assert chain.state_hash() == before


def test_a_mutated_copy_does_not_poison_the_valid_block(chain: Chain) -> None:
    tx = transfer(ALICE, BOB, 7, 1)
    good = craft(chain.tip, [tx])
    extra = transfer(ALICE, CAROL, 1, 2)
    mutations = [
        Block(good.header, [*good.txs, extra]),  # a transaction appended
        Block(good.header, [good.txs[0], bad_signature(tx)]),  # a signature altered
        Block(good.header, [good.txs[0], tx, tx]),  # a transaction duplicated
        Block(good.header, [good.txs[0]]),  # a transaction removed
    ]
    for mutated in mutations:
        assert mutated.id == good.id
        assert mutated.content_hash != good.content_hash
        result = chain.submit_block(mutated)
        assert (result.status, result.reason) == ("rejected", "bad-merkle")
    assert chain.submit_block(good).accepted
    assert chain.tip == good.header
    assert chain.balance(BOB.address) == 1_007
    assert len(chain.pending()) == 1  # BOB's transfer is still pending
