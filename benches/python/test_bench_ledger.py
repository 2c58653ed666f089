"""Block validation through the FFI against pynacl verifying the same signatures one by one.

Run: ``python -m pytest benches/python/test_bench_ledger.py --benchmark-only``.

Group ``chain-validate-1000tx``: one block of 1 000 transfers (plus the reward),
from 1 000 distinct senders, given to ``Ledger.connect`` as bytes, so each round
is the whole path: decode, sizes, proof of work, link, time, Merkle root,
duplicates, reward, Ed25519 batch verification, state transition, undo record.
Beside it:

* the same validation with the decompressed-key cache emptied before each round (every
  sender new to the node; the default rows see the keys again from the second round on, as
  a node does whose pool admitted the transactions before the block came);
* the same validation on two threads;
* ``swarmmesh.verify_batch`` of the block's 1 001 signatures alone (the floor);
* pynacl 1.6 ``VerifyKey.verify`` of the same 1 001 signatures one by one: what
  a pure-Python node would pay for the signatures alone, before any state.

Every row counts 1 001 items (transactions) per round. The two swarmmesh one-thread
rows (keys cached, keys cold) record ``ratio_vs_pynacl`` (pynacl time / swarmmesh time,
the issue's goal: >= 4x on one core), timed alternately in the test itself so that both
sides see the same machine, and ``tx_per_s`` (goal: >= 50 000); the goals table uses
those.
"""

from __future__ import annotations

import timeit

from nacl.signing import VerifyKey
from pytest_benchmark.fixture import BenchmarkFixture

from benches.python.conftest import scaled
from swarmmesh import (
    Block,
    BlockHeader,
    Keypair,
    Transaction,
    key_cache_stats,
    merkle_root,
    mine,
    reset_key_cache,
    verify_batch,
)
from swarmmesh._core import HEADER_VERSION, ChainParams, Ledger

GROUP = "chain-validate-1000tx"
N = 1_000
CHAIN = "bench-chain"
ROUNDS = scaled(10, 3)


def _fixture() -> tuple[Ledger, BlockHeader, Block]:
    params = ChainParams(CHAIN)
    senders = [Keypair.from_seed(i.to_bytes(4, "little") + b"\xb5" * 28) for i in range(N)]
    ledger = Ledger(params, [(k.public_key, 1_000) for k in senders])
    parent = BlockHeader(
        HEADER_VERSION, CHAIN, 0, bytes(32), merkle_root([]), 1_000, params.target, 0, bytes(32)
    )
    txs = [
        Transaction.transfer(k, senders[(i + 1) % N].address, 10, nonce=0, fee=1, chain_id=CHAIN)
        for i, k in enumerate(senders)
    ]
    producer = Keypair.from_seed(b"\xee" * 32)
    reward = Transaction.reward(producer, ledger.reward_amount(N), height=1, chain_id=CHAIN)
    all_txs = [reward, *txs]
    header = BlockHeader(
        HEADER_VERSION,
        CHAIN,
        1,
        parent.id,
        merkle_root([t.id for t in all_txs]),
        2_000,
        params.target,
        0,
        producer.public_key,
    )
    mined = mine(header)
    assert mined is not None
    return ledger, parent, Block(mined, all_txs)


LEDGER, PARENT, BLOCK = _fixture()
RAW = BLOCK.to_bytes()
ITEMS = len(BLOCK.txs)
KEYS = [t.sender_key for t in BLOCK.txs]
MSGS = [t.signing_bytes() for t in BLOCK.txs]
SIGS = [t.signature for t in BLOCK.txs]


def validate(threads: int, *, cold: bool = False) -> float:
    """Seconds for one end-to-end validation + connect on a fresh copy (best of 3)."""
    best = float("inf")
    for _ in range(3):
        ledger = LEDGER.copy()
        if cold:
            reset_key_cache()
        t = timeit.default_timer()
        result = ledger.connect(RAW, PARENT, 0, 10_000, threads=threads)
        best = min(best, timeit.default_timer() - t)
        assert result.ok, result
    return best


def ratio_vs_pynacl(*, cold: bool) -> tuple[float, float, float]:
    """(pynacl time / ours, ours, pynacl): best of 5 of each, alternating, so a slow spell
    of the machine hits both sides (rows measured minutes apart can differ by 1.5x here)."""
    ours = theirs = float("inf")
    for _ in range(5):
        ours = min(ours, validate(1, cold=cold))
        theirs = min(theirs, min(timeit.repeat(pynacl_verify_all, number=1, repeat=1)))
    if cold:
        reset_key_cache()
    return theirs / ours, ours, theirs


def pynacl_verify_all() -> None:
    for pk, msg, sig in zip(KEYS, MSGS, SIGS, strict=True):
        VerifyKey(pk).verify(msg, sig)


def _connect(benchmark: BenchmarkFixture, threads: int) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["items"] = ITEMS
    benchmark.extra_info["threads"] = threads

    def setup() -> tuple[tuple[Ledger], dict[str, object]]:
        return (LEDGER.copy(),), {}

    def run(ledger: Ledger) -> bool:
        return ledger.connect(RAW, PARENT, 0, 10_000, threads=threads).ok

    assert benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)


def test_validate_1000tx_swarmmesh_1thread(benchmark: BenchmarkFixture) -> None:
    _connect(benchmark, 1)
    ratio, ours, theirs = ratio_vs_pynacl(cold=False)
    benchmark.extra_info["tx_per_s"] = round(ITEMS / ours)
    benchmark.extra_info["pynacl_sigs_per_s"] = round(ITEMS / theirs)
    benchmark.extra_info["ratio_vs_pynacl"] = round(ratio, 2)


def test_validate_1000tx_cold_keys_swarmmesh_1thread(benchmark: BenchmarkFixture) -> None:
    """As the one-thread row, but every round starts with an empty decompressed-key cache."""
    benchmark.group = GROUP
    benchmark.extra_info["items"] = ITEMS
    benchmark.extra_info["threads"] = 1

    def setup() -> tuple[tuple[Ledger], dict[str, object]]:
        reset_key_cache()
        return (LEDGER.copy(),), {}

    def run(ledger: Ledger) -> bool:
        return ledger.connect(RAW, PARENT, 0, 10_000, threads=1).ok

    try:
        assert benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
        assert key_cache_stats()["hits"] == 0
    finally:
        reset_key_cache()
    ratio, ours, theirs = ratio_vs_pynacl(cold=True)
    benchmark.extra_info["tx_per_s"] = round(ITEMS / ours)
    benchmark.extra_info["pynacl_sigs_per_s"] = round(ITEMS / theirs)
    benchmark.extra_info["ratio_vs_pynacl"] = round(ratio, 2)


def test_validate_1000tx_swarmmesh_2threads(benchmark: BenchmarkFixture) -> None:
    _connect(benchmark, 2)
    benchmark.extra_info["tx_per_s"] = round(ITEMS / validate(2))


def test_verify_batch_1000_swarmmesh_1thread(benchmark: BenchmarkFixture) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["items"] = ITEMS
    out = benchmark.pedantic(verify_batch, args=(KEYS, MSGS, SIGS), kwargs={"threads": 1}, rounds=ROUNDS)
    assert all(out)


def test_verify_1000_one_by_one_pynacl(benchmark: BenchmarkFixture) -> None:
    benchmark.group = GROUP
    benchmark.extra_info["items"] = ITEMS
    benchmark.pedantic(pynacl_verify_all, rounds=ROUNDS)
