"""Chain value types through the FFI against the pure-Python / hashlib equivalents.

Groups (each swarmmesh row beside its rival, measured in the same run):

* ``chain-merkle``: the Merkle root of 10 000 transaction ids (1 000 in short
  mode): ``swarmmesh.merkle_root`` on every core and on one thread, against a
  pure-Python loop over ``hashlib.sha256`` building the same tree (a check
  asserts both give the same root before timing).
* ``chain-header-hash``: hashing a block header from Python, ``CALLS`` times per
  round: the cached ``BlockHeader.id``, decoding then hashing
  (``BlockHeader.from_bytes(raw).id``), and a bare ``hashlib.sha256(raw).digest()``.
* ``chain-tx-decode``: ``Transaction.from_bytes`` of a signed transfer (its id
  included) against ``hashlib.sha256`` of the same bytes, the floor of any
  decoder that has to produce the id.

``extra_info["items"]`` / ``["calls_per_round"]`` let benches/report.py report
time per id or per call; ``extra_info["ratio"]`` is rival time / swarmmesh time.
"""

from __future__ import annotations

import hashlib
import timeit
from collections.abc import Callable
from typing import Any

import pytest

from benches.python.conftest import scaled
from swarmmesh import BlockHeader, Keypair, Transaction, merkle_root

N_IDS = scaled(10_000, 1_000)
CALLS = scaled(10_000, 1_000)  # header hashes per timed round
ROUNDS = scaled(20, 3)
DEVNET_TARGET = bytes([0x00, 0x0F]) + b"\xff" * 30


def make_ids(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(8, "little")).digest() for i in range(n)]


def py_merkle_root(ids: list[bytes]) -> bytes:
    """The same tree in pure Python: leaves sha256(0x00||id), nodes sha256(0x01||l||r)."""
    sha = hashlib.sha256
    if not ids:
        return sha(b"\x02").digest()
    level = [sha(b"\x00" + i).digest() for i in ids]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


MERKLE: dict[str, Callable[[list[bytes]], bytes]] = {
    "swarmmesh.merkle_root (all cores)": merkle_root,
    "swarmmesh.merkle_root (threads=1)": lambda ids: merkle_root(ids, threads=1),
    "pure-Python hashlib loop": py_merkle_root,
}


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=1, repeat=repeat))


@pytest.mark.parametrize("impl", list(MERKLE))
def test_merkle_root(benchmark: Any, impl: str) -> None:
    ids = make_ids(N_IDS)
    fn = MERKLE[impl]
    assert fn(ids) == py_merkle_root(ids)
    benchmark.group = f"chain-merkle: root of {N_IDS} ids"
    benchmark.extra_info["items"] = N_IDS
    if impl.startswith("swarmmesh"):
        benchmark.extra_info["ratio"] = round(
            best(lambda: py_merkle_root(ids)) / best(lambda: fn(ids)),
            2,
        )
    benchmark.pedantic(fn, args=(ids,), rounds=ROUNDS, iterations=1, warmup_rounds=1)


def _header() -> BlockHeader:
    kp = Keypair.from_seed(bytes([7]) * 32)
    return BlockHeader(
        1, "swarm-devnet", 12, b"\x01" * 32, b"\x02" * 32, 1_700_000_000_000, DEVNET_TARGET, 42, kp.public_key
    )


def _header_runner(impl: str) -> Callable[[], object]:
    h = _header()
    raw = h.to_bytes()
    if impl == "swarmmesh BlockHeader.id (cached)":

        def run() -> object:
            x = None
            for _ in range(CALLS):
                x = h.id
            return x

    elif impl == "swarmmesh BlockHeader.from_bytes(raw).id":
        from_bytes = BlockHeader.from_bytes

        def run() -> object:
            x = None
            for _ in range(CALLS):
                x = from_bytes(raw).id
            return x

    else:
        sha = hashlib.sha256

        def run() -> object:
            x = None
            for _ in range(CALLS):
                x = sha(raw).digest()
            return x

    return run


HEADER_IMPLS = [
    "swarmmesh BlockHeader.id (cached)",
    "swarmmesh BlockHeader.from_bytes(raw).id",
    "hashlib.sha256(header_bytes).digest()",
]


@pytest.mark.parametrize("impl", HEADER_IMPLS)
def test_header_hash(benchmark: Any, impl: str) -> None:
    h = _header()
    assert h.id == hashlib.sha256(h.to_bytes()).digest()
    assert BlockHeader.from_bytes(h.to_bytes()).id == h.id
    run = _header_runner(impl)
    benchmark.group = f"chain-header-hash: {CALLS} hashes of a {len(h.to_bytes())}-byte header"
    benchmark.extra_info["calls_per_round"] = CALLS
    if impl.startswith("swarmmesh"):
        benchmark.extra_info["ratio"] = round(best(_header_runner(HEADER_IMPLS[-1])) / best(run), 2)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["swarmmesh Transaction.from_bytes", "hashlib.sha256(tx_bytes).digest()"])
def test_tx_decode(benchmark: Any, impl: str) -> None:
    a, b = Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32)
    raw = Transaction.transfer(a, b.address, 10, nonce=0, fee=1, chain_id="swarm-devnet").to_bytes()
    assert Transaction.from_bytes(raw).id == hashlib.sha256(raw).digest()
    from_bytes = Transaction.from_bytes
    sha = hashlib.sha256

    def ours() -> object:
        x = None
        for _ in range(CALLS):
            x = from_bytes(raw).id
        return x

    def theirs() -> object:
        x = None
        for _ in range(CALLS):
            x = sha(raw).digest()
        return x

    run = ours if impl.startswith("swarmmesh") else theirs
    benchmark.group = f"chain-tx-decode: {CALLS} decodes of a {len(raw)}-byte transfer"
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
