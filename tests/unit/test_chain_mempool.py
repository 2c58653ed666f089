"""The transaction pool's rules with a fake transaction type and a fake ledger."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmmesh.chain.mempool import Mempool, PoolLimits
from swarmmesh.chain.store import ChainStore
from swarmmesh.errors import ConfigError


@dataclass(frozen=True)
class FakeTx:
    sender: str
    nonce: int
    fee: int
    amount: int = 0
    size: int = 100
    salt: int = 0

    @property
    def id(self) -> bytes:
        return hashlib.sha256(
            repr((self.sender, self.nonce, self.fee, self.amount, self.size, self.salt)).encode()
        ).digest()

    @property
    def sender_key(self) -> bytes:
        return self.sender.encode()

    def to_bytes(self) -> bytes:
        return repr((self.sender, self.nonce, self.fee, self.amount, self.size, self.salt)).encode()


@dataclass
class FakeLedger:
    """Accounts (balance, next nonce); apply_sequence like the real ledger's."""

    accounts: dict[str, tuple[int, int]] = field(default_factory=dict)
    min_fee: int = 1

    def apply_sequence(self, txs: Sequence[FakeTx]) -> list[str | None]:
        scratch = dict(self.accounts)
        out: list[str | None] = []
        for tx in txs:
            balance, nonce = scratch.get(tx.sender, (0, 0))
            if tx.fee < self.min_fee:
                out.append("fee-too-low")
            elif tx.nonce != nonce:
                out.append("bad-nonce")
            elif balance < tx.amount + tx.fee:
                out.append("insufficient-funds")
            else:
                scratch[tx.sender] = (balance - tx.amount - tx.fee, nonce + 1)
                out.append(None)
        return out

    def connect(self, txs: Sequence[FakeTx]) -> None:
        for tx in txs:
            balance, nonce = self.accounts.get(tx.sender, (0, 0))
            self.accounts[tx.sender] = (balance - tx.amount - tx.fee, nonce + 1)


def make(ledger: FakeLedger, **limits: int) -> Mempool[FakeTx]:
    return Mempool(ledger.apply_sequence, limits=PoolLimits(**limits))


def test_admission_follows_the_sender_nonce_chain() -> None:
    ledger = FakeLedger({"a": (100, 0)})
    pool = make(ledger)
    assert pool.add(FakeTx("a", 0, 5)).status == "accepted"
    assert pool.add(FakeTx("a", 1, 5)).status == "accepted"
    assert pool.add(FakeTx("a", 3, 5)).reason == "bad-nonce"  # gap
    assert pool.add(FakeTx("a", 2, 5, amount=1000)).reason == "insufficient-funds"
    assert pool.add(FakeTx("a", 2, 0)).reason == "fee-too-low"
    assert pool.add(FakeTx("a", 0, 5)).status == "duplicate"
    assert pool.add(FakeTx("b", 0, 5)).reason == "insufficient-funds"
    assert len(pool) == 2
    assert pool.total_bytes == 200


def test_replacement_needs_a_strictly_higher_fee_and_revalidates_successors() -> None:
    ledger = FakeLedger({"a": (20, 0)})
    pool = make(ledger)
    first, second = FakeTx("a", 0, 2), FakeTx("a", 1, 2, amount=10)
    assert pool.add(first).status == "accepted"
    assert pool.add(second).status == "accepted"
    assert pool.add(FakeTx("a", 0, 2, salt=1)).reason == "replace-fee-too-low"
    assert pool.add(FakeTx("a", 0, 1)).reason == "replace-fee-too-low"
    # a richer replacement leaves too little for the successor, which is dropped
    better = FakeTx("a", 0, 9, amount=1)
    verdict = pool.add(better)
    assert verdict.status == "accepted"
    assert verdict.replaced == first.id
    assert pool.pending() == [better]


def test_full_pool_evicts_the_lowest_rate_suffix_with_its_successors() -> None:
    # Evicting a0 evicts a1 too (a nonce gap): the victim is judged by the rate of the whole
    # suffix (10 per 200 bytes), not by a0's fee alone, so a1's fee is not lost as collateral.
    ledger = FakeLedger({s: (1000, 0) for s in "abcd"})
    pool = make(ledger, max_count=3)
    a0, a1, b0 = FakeTx("a", 0, 1), FakeTx("a", 1, 9), FakeTx("b", 0, 4)
    for tx in (a0, a1, b0):
        assert pool.add(tx).status == "accepted"
    assert pool.add(FakeTx("c", 0, 4)).reason == "pool-full"  # pays no more than the cheapest
    assert pool.add(FakeTx("c", 0, 5)).status == "accepted"  # evicts b0 (4/100 < 10/200)
    assert {(t.sender, t.nonce) for t in pool.pending()} == {("a", 0), ("a", 1), ("c", 0)}
    assert pool.add(FakeTx("d", 0, 6)).status == "accepted"  # evicts c0 (5/100 = 10/200: newest)
    assert pool.add(FakeTx("b", 0, 11, size=200)).status == "accepted"  # 11/200 > 10/200
    assert {(t.sender, t.nonce) for t in pool.pending()} == {("b", 0), ("d", 0)}


def test_pool_ranks_by_fee_rate_not_absolute_fee() -> None:
    ledger = FakeLedger({s: (1000, 0) for s in "xyz"})
    pool = make(ledger, max_count=2)
    big, small = FakeTx("x", 0, 10, size=1000), FakeTx("y", 0, 5, size=100)
    assert pool.add(big).status == "accepted"
    assert pool.add(small).status == "accepted"
    assert [t.sender for t in pool.template(max_txs=10, max_bytes=10_000)] == ["y", "x"]
    assert pool.add(FakeTx("z", 0, 8, size=100)).status == "accepted"  # 8/100 > 10/1000
    assert {t.sender for t in pool.pending()} == {"y", "z"}
    assert pool.add(FakeTx("x", 0, 40, size=1000)).reason == "pool-full"  # 40/1000 < 5/100


def test_bytes_bound() -> None:
    ledger = FakeLedger({s: (1000, 0) for s in "abc"})
    pool = make(ledger, max_bytes=250)
    assert pool.add(FakeTx("a", 0, 1)).status == "accepted"
    assert pool.add(FakeTx("b", 0, 1)).status == "accepted"
    assert pool.add(FakeTx("c", 0, 1)).reason == "pool-full"
    assert pool.add(FakeTx("c", 0, 2, size=300)).reason == "pool-full"
    assert pool.add(FakeTx("c", 0, 2)).status == "accepted"
    assert pool.total_bytes == 200


def test_eviction_spares_the_newcomers_own_predecessors() -> None:
    ledger = FakeLedger({"a": (1000, 0), "b": (1000, 0)})
    pool = make(ledger, max_count=2)
    pool.add(FakeTx("a", 0, 1))
    pool.add(FakeTx("b", 0, 2))
    assert pool.add(FakeTx("a", 1, 5)).status == "accepted"  # evicts b0, not a0
    assert [(t.sender, t.nonce) for t in pool.pending()] == [("a", 0), ("a", 1)]


def test_template_orders_by_package_fee_rate_within_nonce_chains() -> None:
    ledger = FakeLedger({s: (1000, 0) for s in "abc"})
    pool = make(ledger)
    txs = [FakeTx("a", 0, 1), FakeTx("a", 1, 50), FakeTx("b", 0, 10), FakeTx("c", 0, 10), FakeTx("c", 1, 2)]
    for tx in txs:
        assert pool.add(tx).status == "accepted"
    order = [(t.sender, t.nonce) for t in pool.template(max_txs=100, max_bytes=10_000)]
    # a0 pays little but opens a1: the package a0+a1 (51 per 200 bytes) goes first
    assert order == [("a", 0), ("a", 1), ("b", 0), ("c", 0), ("c", 1)]
    assert len(pool.template(max_txs=2, max_bytes=10_000)) == 2
    assert [(t.sender, t.nonce) for t in pool.template(max_txs=100, max_bytes=250)] == [("a", 0), ("a", 1)]


def test_revalidate_after_a_block_and_after_a_reorg() -> None:
    ledger = FakeLedger({"a": (100, 0), "b": (100, 0)})
    pool = make(ledger)
    a0, a1, b0 = FakeTx("a", 0, 1), FakeTx("a", 1, 1), FakeTx("b", 0, 1)
    for tx in (a0, a1, b0):
        pool.add(tx)
    ledger.connect([a0])  # a block took a0
    assert pool.revalidate() == [a0.id]
    assert set(pool.pending()) == {a1, b0}
    # the block is disconnected again: a0 comes back, still valid
    ledger.accounts["a"] = (100, 0)
    assert pool.revalidate(returning=[a0]) == []
    assert pool.pending()[-1] == a0
    assert set(pool.pending()) == {a0, a1, b0}
    # a competing block spent b's coins
    ledger.accounts["b"] = (0, 1)
    assert pool.revalidate(returning=[FakeTx("b", 5, 1)]) == [b0.id]


def test_pool_is_persisted_and_restored() -> None:
    store = ChainStore.open(None)
    ledger = FakeLedger({"a": (100, 0), "b": (100, 0)})
    pool = Mempool(ledger.apply_sequence, store=store)
    a0, a1, b0 = FakeTx("a", 0, 1), FakeTx("a", 1, 1), FakeTx("b", 0, 1)
    for tx in (a0, b0, a1):
        pool.add(tx)
    pool.add(FakeTx("b", 0, 3))  # replaces b0
    rows = store.pool_rows()
    assert [r[0] for r in rows] == [a0.id, a1.id, FakeTx("b", 0, 3).id]
    by_id = {t.id: t for t in (a0, a1, FakeTx("b", 0, 3))}
    ledger.connect([a0])
    again: Mempool[FakeTx] = Mempool(ledger.apply_sequence, store=store)
    assert again.restore((by_id[i], seq) for i, seq, _ in rows) == [a0.id]
    assert again.pending() == [a1, FakeTx("b", 0, 3)]
    assert [r[0] for r in store.pool_rows()] == [a1.id, FakeTx("b", 0, 3).id]
    nxt = FakeTx("a", 2, 1)
    assert again.add(nxt).status == "accepted"
    assert store.pool_rows()[-1][1] > rows[-1][1]


def test_limits_are_validated() -> None:
    with pytest.raises(ConfigError):
        PoolLimits(max_count=0)
    with pytest.raises(ConfigError):
        PoolLimits(max_bytes=0)


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(0, 4), st.integers(0, 20), st.integers(0, 60)),
        max_size=40,
    )
)
def test_pool_invariants_hold_under_any_submissions(ops: list[tuple[str, int, int, int]]) -> None:
    ledger = FakeLedger({s: (100, 0) for s in "abcd"})
    pool = make(ledger, max_count=6, max_bytes=500)
    for sender, nonce, fee, amount in ops:
        pool.add(FakeTx(sender, nonce, fee, amount))
        pending = pool.pending()
        assert len(pending) <= 6
        assert sum(t.size for t in pending) == pool.total_bytes <= 500
        # every sender chain is gap-free and valid against the ledger
        for s in "abcd":
            chain = sorted((t for t in pending if t.sender == s), key=lambda t: t.nonce)
            assert ledger.apply_sequence(chain) == [None] * len(chain)
        template = pool.template(max_txs=100, max_bytes=10_000)
        assert sorted(t.id for t in template) == sorted(t.id for t in pending)


def test_revalidation_judges_every_sender_in_one_call_when_it_can() -> None:
    ledger = FakeLedger({"a": (100, 0), "b": (100, 0), "c": (1, 0)})
    calls: list[int] = []

    def many(chains: Sequence[Sequence[FakeTx]]) -> list[list[str | None]]:
        calls.append(len(chains))
        return [ledger.apply_sequence(c) for c in chains]

    pool = Mempool(ledger.apply_sequence, validate_many=many)
    plain = make(ledger)
    txs = [FakeTx("a", 0, 1), FakeTx("a", 1, 1), FakeTx("b", 0, 1), FakeTx("c", 0, 1)]
    for p in (pool, plain):
        for tx in txs:
            p.add(tx)
    ledger.connect([txs[0]])
    ledger.accounts["c"] = (0, 0)  # c can no longer pay
    assert pool.revalidate() == plain.revalidate()
    assert calls == [3]  # one call for the three senders
    assert set(pool.pending()) == set(plain.pending()) == {txs[1], txs[2]}
