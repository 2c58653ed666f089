"""The ledger through its bindings: every reason code, atomicity, rewards, pool, tokens, undo.

Each invalid transaction or block is crafted with the public constructors and
``BlockHeader.replace``; every rejection is asserted by its exact reason code and
followed by a check that the state (``state_hash`` and ``entries``) did not move.
Signatures are judged against pynacl as an independent oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from swarmmesh import (
    Block,
    BlockHeader,
    DecodeError,
    InvalidArgumentError,
    Keypair,
    Transaction,
    merkle_root,
    mine,
    token_id,
)
from swarmmesh._core import HEADER_VERSION, ChainParams, ConnectResult, Ledger

CHAIN = "test-chain"
#: Half of all ids meet this target: mining takes a couple of hashes.
EASY = b"\x7f" + b"\xff" * 31
ALICE = Keypair.from_seed(bytes([1]) * 32)
BOB = Keypair.from_seed(bytes([2]) * 32)
CAROL = Keypair.from_seed(bytes([3]) * 32)
MINER = Keypair.from_seed(bytes([9]) * 32)
NOW = 10_000_000
GENESIS_TIME = 1_000_000


def params(**changes: int) -> ChainParams:
    return ChainParams(CHAIN, target=EASY, **changes)


def genesis_header() -> BlockHeader:
    return BlockHeader(HEADER_VERSION, CHAIN, 0, bytes(32), merkle_root([]), GENESIS_TIME, EASY, 0, bytes(32))


def seal(parent: BlockHeader, txs: Sequence[Transaction], producer: Keypair = MINER) -> Block:
    """A mined block on `parent` holding exactly `txs`."""
    h = BlockHeader(
        HEADER_VERSION,
        CHAIN,
        parent.height + 1,
        parent.id,
        merkle_root([t.id for t in txs]),
        parent.timestamp_ms + 1_000,
        EASY,
        0,
        producer.public_key,
    )
    return Block(remine(h), list(txs))


def remine(h: BlockHeader) -> BlockHeader:
    found = mine(h, max_iters=10_000)
    assert found is not None
    return found


class Tip:
    """A ledger and the header of its tip."""

    def __init__(self, p: ChainParams | None = None) -> None:
        self.params = p or params()
        self.ledger = Ledger(self.params, [(ALICE.public_key, 1_000), (BOB.public_key, 10)])
        self.parent = genesis_header()

    def block(self, txs: Sequence[Transaction], producer: Keypair = MINER) -> Block:
        """A valid-looking block: the exact reward first, then `txs`."""
        amount = self.ledger.reward_amount(sum(t.fee for t in txs))
        reward = Transaction.reward(producer, amount, height=self.parent.height + 1, chain_id=CHAIN)
        return seal(self.parent, [reward, *txs], producer)

    def connect(self, block: Block | bytes) -> ConnectResult:
        before = (self.ledger.state_hash(), self.ledger.entries())
        r = self.ledger.connect(block, self.parent, GENESIS_TIME - 1, NOW)
        if r.ok:
            assert isinstance(block, Block)
            self.parent = block.header
        else:
            assert (self.ledger.state_hash(), self.ledger.entries()) == before
            assert r.undo is None
            assert r.changes == []
        return r

    def accept(self, txs: Sequence[Transaction]) -> ConnectResult:
        r = self.connect(self.block(txs))
        assert r.ok, r
        return r


def transfer(kp: Keypair, to: Keypair, amount: int, *, nonce: int = 0, fee: int = 1) -> Transaction:
    return Transaction.transfer(kp, to.address, amount, nonce=nonce, fee=fee, chain_id=CHAIN)


def flip_signature(tx: Transaction) -> Transaction:
    raw = bytearray(tx.to_bytes())
    raw[-10] ^= 0x01
    return Transaction.from_bytes(bytes(raw))


# ---------------------------------------------------------------- parameters


def test_params_defaults_follow_the_contract() -> None:
    p = ChainParams()
    assert p.chain_id == "swarm-devnet"
    assert (p.min_fee, p.block_subsidy, p.pool_payout_divisor) == (1, 50, 100)
    assert (p.max_future_ms, p.median_span) == (7_200_000, 11)
    assert (p.max_block_txs, p.max_block_bytes) == (10_000, 4 * 1024 * 1024)
    assert p.target == bytes([0x00, 0x0F]) + b"\xff" * 30
    assert p == ChainParams("swarm-devnet")
    assert hash(p) == hash(ChainParams("swarm-devnet"))
    assert p != params()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"chain_id": "Bad Id"}, "chain_id"),
        ({"pool_payout_divisor": 0}, "pool_payout_divisor"),
        ({"min_fee": -1}, "min_fee"),
        ({"target": bytes(32)}, "target"),
        ({"target": b"\x01"}, "target"),
        ({"median_span": 0}, "median_span"),
        ({"max_block_txs": 10_001}, "max_block_txs"),
        ({"max_block_bytes": 0}, "max_block_bytes"),
    ],
)
def test_params_name_the_bad_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as e:
        ChainParams(**kwargs)  # type: ignore[arg-type]
    assert e.value.argument == field


def test_genesis_refuses_zero_and_duplicate_allocations() -> None:
    with pytest.raises(InvalidArgumentError):
        Ledger(params(), [(ALICE.public_key, 0)])
    with pytest.raises(InvalidArgumentError):
        Ledger(params(), [(ALICE.public_key, 1), (ALICE.public_key, 2)])
    with pytest.raises(InvalidArgumentError):
        Ledger(params(), [(b"short", 1)])


# ---------------------------------------------------------------- valid blocks


def test_a_transfer_block_pays_the_producer_fees_and_subsidy() -> None:
    tip = Tip()
    tip.accept([transfer(ALICE, CAROL, 100, fee=3)])
    assert tip.ledger.balance(ALICE.public_key) == 1_000 - 103
    assert tip.ledger.nonce(ALICE.public_key) == 1
    assert tip.ledger.nonce(CAROL.public_key) == 0
    assert tip.ledger.balance(CAROL.public_key) == 100
    assert tip.ledger.balance(MINER.public_key) == 50 + 3


def test_donations_pool_payout_and_contributors() -> None:
    tip = Tip()
    tip.accept(
        [
            Transaction.donate(ALICE, 250, nonce=0, fee=1, chain_id=CHAIN),
            Transaction.donate(ALICE, 49, nonce=1, fee=1, chain_id=CHAIN),
            Transaction.donate(BOB, 1, nonce=0, fee=1, chain_id=CHAIN),
        ]
    )
    assert tip.ledger.pool_balance == 300
    assert tip.ledger.contributors() == {ALICE.public_key: 299, BOB.public_key: 1}
    # The next block pays floor(300 / 100) = 3 out of the pool...
    assert tip.ledger.reward_amount(0) == 53
    assert tip.ledger.reward_amount(7) == 60
    tip.accept([])
    assert tip.ledger.pool_balance == 297
    assert tip.ledger.balance(MINER.public_key) == (50 + 3) + 53
    # ... then floor(297 / 100) = 2: the rounding is down, always.
    assert tip.ledger.reward_amount(0) == 52
    # The totals given stay, whatever the pool pays out.
    assert tip.ledger.contributors() == {ALICE.public_key: 299, BOB.public_key: 1}
    with pytest.raises(InvalidArgumentError):
        tip.ledger.reward_amount(2**64 - 1)


def test_tokens_create_transfer_distribute() -> None:
    tip = Tip()
    tid = token_id(ALICE.address, "ALC")
    tip.accept(
        [
            Transaction.create_token(ALICE, "ALC", 1_000, nonce=0, fee=1, chain_id=CHAIN),
            Transaction.transfer_token(ALICE, tid, BOB.address, 100, nonce=1, fee=1, chain_id=CHAIN),
            Transaction.distribute_token(
                ALICE,
                tid,
                [(CAROL.address, 5), (BOB.address, 7)],
                nonce=2,
                fee=1,
                chain_id=CHAIN,
            ),
        ]
    )
    assert tip.ledger.token(tid) == (ALICE.public_key, "ALC", 1_000)
    assert tip.ledger.token(bytes(32)) is None
    holders = [ALICE, BOB, CAROL]
    balances = [tip.ledger.token_balance(tid, k.public_key) for k in holders]
    assert balances == [1_000 - 112, 107, 5]
    assert sum(balances) == 1_000


# ---------------------------------------------------------------- every transaction reason

TID = token_id(ALICE.address, "TOK")


def _bodies() -> dict[str, Callable[[], Transaction]]:
    t = Transaction
    return {
        "bad-chain-id": lambda: Transaction.transfer(
            ALICE, CAROL.address, 1, nonce=1, fee=1, chain_id="other-chain"
        ),
        "bad-signature": lambda: flip_signature(transfer(ALICE, CAROL, 1, nonce=1)),
        "bad-nonce": lambda: transfer(ALICE, CAROL, 1, nonce=0),
        "insufficient-funds": lambda: transfer(BOB, CAROL, 10, nonce=0),
        "zero-amount": lambda: transfer(ALICE, CAROL, 0, nonce=1),
        "amount-overflow": lambda: transfer(ALICE, CAROL, 2**64 - 1, nonce=1),
        "fee-too-low": lambda: transfer(ALICE, CAROL, 1, nonce=1, fee=0),
        "unknown-token": lambda: t.transfer_token(
            ALICE, bytes(32), CAROL.address, 1, nonce=1, fee=1, chain_id=CHAIN
        ),
        "token-exists": lambda: t.create_token(ALICE, "TOK", 5, nonce=1, fee=1, chain_id=CHAIN),
        "bad-token-symbol": lambda: t.create_token(ALICE, "tok", 5, nonce=1, fee=1, chain_id=CHAIN),
        "token-insufficient": lambda: t.transfer_token(
            ALICE, TID, CAROL.address, 51, nonce=1, fee=1, chain_id=CHAIN
        ),
        "too-many-recipients": lambda: t.distribute_token(
            ALICE, TID, [(CAROL.address, 1)] * 257, nonce=1, fee=1, chain_id=CHAIN
        ),
        "not-token-owner": lambda: t.distribute_token(
            BOB, TID, [(CAROL.address, 1)], nonce=0, fee=1, chain_id=CHAIN
        ),
    }


BODIES = _bodies()


def token_tip() -> Tip:
    """A tip where ALICE (nonce 1) owns 50 TOK."""
    tip = Tip()
    tip.accept([Transaction.create_token(ALICE, "TOK", 50, nonce=0, fee=1, chain_id=CHAIN)])
    return tip


@pytest.mark.parametrize("code", sorted(BODIES))
def test_every_tx_reason_rejects_the_block_and_changes_nothing(code: str) -> None:
    tip = token_tip()
    bad = BODIES[code]()
    r = tip.connect(tip.block([bad]))
    assert (r.ok, r.reason, r.tx_reason, r.tx_index) == (False, "bad-tx", code, 1)
    assert bool(r) is False
    # And the pool path gives the same code, leaving the state alone.
    before = tip.ledger.state_hash()
    assert tip.ledger.apply_sequence([bad]) == [code]
    assert tip.ledger.state_hash() == before


def test_bad_nonce_is_a_reuse_or_a_gap() -> None:
    tip = token_tip()
    for nonce in (0, 2, 2**64 - 1):
        r = tip.connect(tip.block([transfer(ALICE, CAROL, 1, nonce=nonce)]))
        assert (r.reason, r.tx_reason) == ("bad-tx", "bad-nonce")
    # In one block the nonces must follow each other.
    r = tip.connect(tip.block([transfer(ALICE, CAROL, 1, nonce=1), transfer(ALICE, CAROL, 1, nonce=3)]))
    assert (r.tx_reason, r.tx_index) == ("bad-nonce", 2)


def test_malformed_and_duplicate_in_a_sequence() -> None:
    tip = Tip()
    good = transfer(ALICE, CAROL, 5)
    reward = Transaction.reward(ALICE, 50, height=1, chain_id=CHAIN)
    verdicts = tip.ledger.apply_sequence(
        [good, good, reward, b"\x01garbage", good.to_bytes(), transfer(ALICE, CAROL, 5, nonce=1)]
    )
    assert verdicts == [None, "duplicate", "malformed", "malformed", "duplicate", None]
    assert tip.ledger.nonce(ALICE.public_key) == 0


def test_sequence_skips_failures_and_later_ones_see_earlier_ones() -> None:
    tip = Tip()
    verdicts = tip.ledger.apply_sequence(
        [
            transfer(BOB, CAROL, 20),
            transfer(ALICE, BOB, 20),
            transfer(BOB, CAROL, 20),
            transfer(ALICE, BOB, 1, nonce=2),
        ],
        threads=1,
    )
    assert verdicts == ["insufficient-funds", None, None, "bad-nonce"]


def test_signatures_pynacl_rejects_are_rejected() -> None:
    tip = Tip()
    good = transfer(ALICE, CAROL, 1)
    forged = flip_signature(good)
    VerifyKey(good.sender_key).verify(good.signing_bytes(), good.signature)
    with pytest.raises(BadSignatureError):
        VerifyKey(forged.sender_key).verify(forged.signing_bytes(), forged.signature)
    # A valid signature by another key over the same bytes.
    other = bytearray(good.to_bytes())
    other[-64:] = BOB.sign(good.signing_bytes())
    stolen = Transaction.from_bytes(bytes(other))
    with pytest.raises(BadSignatureError):
        VerifyKey(stolen.sender_key).verify(stolen.signing_bytes(), stolen.signature)
    assert tip.ledger.apply_sequence([forged, stolen, good]) == [
        "bad-signature",
        "bad-signature",
        None,
    ]
    r = tip.connect(tip.block([good, stolen]))
    assert (r.reason, r.tx_reason, r.tx_index) == ("bad-tx", "bad-signature", 2)


# ---------------------------------------------------------------- every block reason


def test_every_block_reason_leaves_the_state_alone() -> None:
    tip = Tip()
    tip.accept([])
    good = tip.block([transfer(ALICE, CAROL, 5)])

    def with_header(**changes: int | str | bytes) -> Block:
        return Block(remine(good.header.replace(**changes)), list(good.txs))

    def reason(b: Block | bytes) -> str | None:
        return tip.connect(b).reason

    assert reason(with_header(version=2)) == "bad-version"
    assert reason(with_header(chain_id="other-chain")) == "bad-chain-id"
    assert reason(with_header(target=b"\xff" * 32)) == "bad-pow"
    unmined = good.header
    while unmined.meets_target():
        unmined = unmined.replace(nonce=unmined.nonce + 1)
    assert reason(Block(unmined, list(good.txs))) == "bad-pow"
    assert reason(with_header(prev_id=b"\x03" * 32)) == "bad-prev"
    assert reason(with_header(height=5)) == "bad-height"
    assert reason(with_header(timestamp_ms=GENESIS_TIME - 1)) == "time-too-old"
    too_new = with_header(timestamp_ms=NOW + 7_200_001)
    r = tip.connect(too_new)
    assert (r.reason, r.deferred) == ("time-too-new", True)
    at_limit = with_header(timestamp_ms=NOW + 7_200_000)
    assert tip.ledger.check_header(at_limit.header, tip.parent, GENESIS_TIME - 1, NOW).ok
    assert reason(with_header(merkle_root=bytes(32))) == "bad-merkle"
    dup = seal(tip.parent, [*good.txs, good.txs[1]])
    assert reason(dup) == "duplicate-tx"
    assert reason(seal(tip.parent, [])) == "bad-reward"
    wrong = Transaction.reward(MINER, 1, height=tip.parent.height + 1, chain_id=CHAIN)
    assert reason(seal(tip.parent, [wrong, good.txs[1]])) == "bad-reward"
    assert reason(seal(tip.parent, [good.txs[1], good.txs[0]])) == "bad-reward"
    assert reason(seal(tip.parent, list(good.txs), producer=BOB)) == "bad-reward"
    assert reason(b"\x00not a block") == "malformed"
    assert reason(good.to_bytes()[:-1]) == "malformed"
    r = tip.connect(tip.block([flip_signature(transfer(ALICE, CAROL, 5))]))
    assert (r.reason, r.tx_reason, r.tx_index) == ("bad-tx", "bad-signature", 1)
    # After every rejection the good block still connects, also from bytes.
    r = tip.ledger.connect(good.to_bytes(), tip.parent, GENESIS_TIME, NOW)
    assert r.ok


def test_oversize_counts_and_bytes() -> None:
    tip = Tip(params(max_block_txs=1))
    r = tip.connect(tip.block([transfer(ALICE, CAROL, 5)]))
    assert r.reason == "oversize"
    tip = Tip()
    block = tip.block([transfer(ALICE, CAROL, 5)])
    tip = Tip(params(max_block_bytes=block.size - 1))
    assert tip.connect(block).reason == "oversize"
    tip = Tip(params(max_block_bytes=block.size))
    assert tip.connect(block).ok


def test_check_header_verdicts() -> None:
    tip = Tip()
    b = tip.block([])
    v = tip.ledger.check_header(b.header, tip.parent, GENESIS_TIME - 1, NOW)
    assert (v.ok, bool(v), v.reason, v.tx_reason, v.tx_index) == (True, True, None, None, None)
    v = tip.ledger.check_header(b.header, b.header, GENESIS_TIME - 1, NOW)
    assert (v.ok, v.reason, v.deferred) == (False, "bad-prev", False)
    late = remine(b.header.replace(timestamp_ms=7_200_001))
    v = tip.ledger.check_header(late, tip.parent, GENESIS_TIME - 1, 0)
    assert (v.reason, v.deferred) == ("time-too-new", True)
    assert tip.ledger.check_header(late, tip.parent, GENESIS_TIME - 1, 1).ok
    # The header check needs no state and touches none.
    assert tip.ledger.balance(MINER.public_key) == 0


# ---------------------------------------------------------------- undo, entries, copies


def test_connect_then_disconnect_restores_exactly() -> None:
    tip = token_tip()
    before_hash, before_entries = tip.ledger.state_hash(), tip.ledger.entries()
    r = tip.accept(
        [
            transfer(ALICE, CAROL, 100, nonce=1),
            Transaction.donate(BOB, 5, nonce=0, fee=1, chain_id=CHAIN),
            Transaction.transfer_token(ALICE, TID, BOB.address, 50, nonce=2, fee=1, chain_id=CHAIN),
        ]
    )
    assert r.undo is not None
    after = dict(tip.ledger.entries())
    # The changes are exactly the new values of the touched keys.
    for key, value in r.changes:
        assert after.get(key) == value
    assert [k for k, _ in r.changes] == sorted(k for k, _ in r.changes)
    # ALICE's whole TOK balance moved: that entry is deleted.
    assert any(v is None for _, v in r.changes)
    restored = tip.ledger.disconnect(r.undo)
    assert tip.ledger.state_hash() == before_hash
    assert tip.ledger.entries() == before_entries
    assert dict(before_entries) == {
        **{k: v for k, v in after.items() if k not in dict(restored)},
        **{k: v for k, v in restored if v is not None},
    }
    # Undoing twice does not match the state any more: refused, nothing moves.
    with pytest.raises(InvalidArgumentError):
        tip.ledger.disconnect(r.undo)
    assert tip.ledger.state_hash() == before_hash
    with pytest.raises(DecodeError):
        tip.ledger.disconnect(b"\x01garbage")


def test_entries_reload_and_copies_are_independent() -> None:
    tip = token_tip()
    tip.accept([Transaction.donate(ALICE, 5, nonce=1, fee=1, chain_id=CHAIN)])
    entries = tip.ledger.entries()
    reloaded = Ledger.from_entries(tip.params, list(reversed(entries)))
    assert reloaded.state_hash() == tip.ledger.state_hash()
    assert reloaded.entries() == entries
    assert reloaded.params == tip.params
    copy = tip.ledger.copy()
    assert copy.connect(tip.block([transfer(ALICE, CAROL, 1, nonce=2)]), tip.parent, 0, NOW).ok
    assert copy.state_hash() != tip.ledger.state_hash()
    assert reloaded.state_hash() == tip.ledger.state_hash()
    with pytest.raises(DecodeError):
        Ledger.from_entries(tip.params, [(b"z", b"\x01")])
    with pytest.raises(DecodeError):
        Ledger.from_entries(tip.params, [entries[0], entries[0]])


def test_a_large_block_validates_on_one_and_two_threads() -> None:
    senders = [Keypair.from_seed(bytes([40 + i]) * 32) for i in range(20)]
    p = params()
    base = Ledger(p, [(k.public_key, 100) for k in senders])
    parent = genesis_header()
    txs = [transfer(senders[i % 20], CAROL, 1, nonce=i // 20) for i in range(120)]
    reward = Transaction.reward(MINER, base.reward_amount(120), height=1, chain_id=CHAIN)
    block = seal(parent, [reward, *txs])
    for threads in (1, 2):
        ledger = base.copy()
        assert ledger.connect(block, parent, 0, NOW, threads=threads).ok
        assert ledger.balance(CAROL.public_key) == 120
    bad = [*txs[:77], flip_signature(txs[77]), *txs[78:]]
    r = base.copy().connect(seal(parent, [reward, *bad]), parent, 0, NOW, threads=2)
    assert (r.reason, r.tx_reason, r.tx_index) == ("bad-tx", "bad-signature", 78)
    with pytest.raises(InvalidArgumentError):
        base.connect(block, parent, 0, NOW, threads=0)


# ---------------------------------------------------------------- random sequences (hypothesis)

PEOPLE = [ALICE, BOB, CAROL]


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["transfer", "donate"]),
                st.integers(0, 2),
                st.integers(0, 2),
                st.integers(0, 400),
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_blocks_connect_and_disconnect_exactly(
    blocks: list[list[tuple[str, int, int, int]]],
) -> None:
    tip = Tip()
    history = [(tip.ledger.state_hash(), tip.ledger.entries())]
    undos = []
    for ops in blocks:
        nonces = [tip.ledger.nonce(k.public_key) for k in PEOPLE]
        txs = []
        for kind, a, b, n in ops:
            k = PEOPLE[a]
            if kind == "transfer":
                t = transfer(k, PEOPLE[b], n, nonce=nonces[a])
            else:
                t = Transaction.donate(k, n, nonce=nonces[a], fee=1, chain_id=CHAIN)
            nonces[a] += 1
            txs.append(t)
        # Keep what applies in sequence (the block-template rule); the others
        # are rejected with a reason and leave no trace.
        verdicts = tip.ledger.apply_sequence(txs)
        chosen = [t for t, v in zip(txs, verdicts, strict=True) if v is None]
        coins = sum(tip.ledger.balance(k.public_key) for k in [*PEOPLE, MINER])
        coins += tip.ledger.pool_balance
        r = tip.accept(chosen)
        assert r.undo is not None
        undos.append(r.undo)
        after = sum(tip.ledger.balance(k.public_key) for k in [*PEOPLE, MINER])
        assert after + tip.ledger.pool_balance == coins + tip.params.block_subsidy
        history.append((tip.ledger.state_hash(), tip.ledger.entries()))
    history.pop()
    while undos:
        tip.ledger.disconnect(undos.pop())
        assert (tip.ledger.state_hash(), tip.ledger.entries()) == history.pop()


def test_a_transaction_object_remembers_its_verified_signature() -> None:
    """The pool re-judges its transactions after every block: only the state is checked again."""
    from swarmmesh import key_cache_stats, reset_key_cache

    tip = Tip()
    txs = [transfer(ALICE, CAROL, 1 + i, nonce=i) for i in range(5)]
    reset_key_cache()

    def lookups() -> int:
        s = key_cache_stats()
        return s["hits"] + s["misses"]

    assert tip.ledger.apply_sequence(txs) == [None] * 5
    first = lookups()
    assert first >= 1  # verified once (the batch looks its key up)
    assert tip.ledger.apply_sequence(txs) == [None] * 5
    assert lookups() == first  # no signature checked again
    # Bytes carry no memory: verified every time.
    assert tip.ledger.apply_sequence([t.to_bytes() for t in txs]) == [None] * 5
    assert lookups() > first
    # A copy decoded from the same bytes is a new object: verified once, then remembered.
    copy = Transaction.from_bytes(txs[0].to_bytes())
    before = lookups()
    assert tip.ledger.apply_sequence([copy]) == [None]
    assert lookups() == before + 1
    assert tip.ledger.apply_sequence([copy]) == [None]
    assert lookups() == before + 1
    # A forged signature is never remembered as valid.
    forged = flip_signature(txs[0])
    assert tip.ledger.apply_sequence([forged]) == ["bad-signature"]
    assert tip.ledger.apply_sequence([forged]) == ["bad-signature"]


def test_apply_chains_is_apply_sequence_of_each_chain_on_its_own_state() -> None:
    tip = Tip()
    a0, a1 = transfer(ALICE, CAROL, 5, nonce=0), transfer(ALICE, CAROL, 5, nonce=1)
    b0 = transfer(BOB, CAROL, 5, nonce=0)
    chains: list[list[Transaction | bytes]] = [
        [a0, a1],
        [a1],  # a gap on its own state
        [a0.to_bytes(), a0],  # the same transaction twice: a duplicate
        [b"\x01garbage", b0],
        [flip_signature(b0)],
        [],
    ]
    assert tip.ledger.apply_chains(chains) == [tip.ledger.apply_sequence(c) for c in chains]
    assert tip.ledger.apply_chains(chains)[2] == [None, "duplicate"]
    assert tip.ledger.apply_chains([]) == []
