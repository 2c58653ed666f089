"""DedupFilter / BloomFilter through the FFI against what a user would otherwise pick.

Rivals, measured in the same run on the same ids:

* rbloom 1.5.4 with a *seeded bytes hash* (xxh3-128 of the id, as a dedup filter
  that must answer the same across processes needs), and with its default
  ``hash()`` (fast, but salted per process, so it cannot be persisted or shared);
* pybloom-live 4.0.0 (pure Python);
* a Python ``set`` (exact, unbounded: memory grows with every id);
* an ``OrderedDict`` seen-cache bounded to ``capacity`` entries (LRU eviction).

Every benchmark processes a list of ``items`` ids per call; docs/benchmarks.md
reports time per id and the ratio rival / swarmmesh (see benches/report.py).
"""

from __future__ import annotations

import hashlib
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import xxhash
from pybloom_live import BloomFilter as PyBloomLive
from rbloom import Bloom

from benches.python.conftest import scaled
from swarmmesh import BloomFilter, DedupFilter

SEED = 0x5EED
FP = 1e-6
N_SINGLE = scaled(200_000, 20_000)
N_BATCH = scaled(1_000_000, 100_000)


def make_ids(n: int) -> list[bytes]:
    return [hashlib.blake2b(i.to_bytes(8, "little"), digest_size=16).digest() for i in range(n)]


@pytest.fixture(scope="module")
def single_ids() -> list[bytes]:
    return make_ids(N_SINGLE)


@pytest.fixture(scope="module")
def batch_ids() -> list[bytes]:
    return make_ids(N_BATCH)


def seeded_hash(b: bytes) -> int:
    """What rbloom needs for a persistent filter: a seeded 128-bit hash of the bytes."""
    return int.from_bytes(xxhash.xxh3_128_digest(b, seed=SEED), "little", signed=True)


class SeenCache:
    """A bounded seen-message cache as commonly written: OrderedDict with LRU eviction."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seen: OrderedDict[bytes, None] = OrderedDict()

    def check_and_insert(self, msg_id: bytes) -> bool:
        if msg_id in self.seen:
            self.seen.move_to_end(msg_id)
            return False
        self.seen[msg_id] = None
        if len(self.seen) > self.capacity:
            self.seen.popitem(last=False)
        return True


def single_runner(impl: str, n: int) -> Callable[[list[bytes]], Any]:
    """A function that feeds every id, one call per id, to a fresh structure of `impl`."""
    if impl == "swarmmesh.DedupFilter.check_and_insert":

        def run(ids: list[bytes]) -> Any:
            f = DedupFilter(n, FP, 60_000, seed=SEED)
            cai = f.check_and_insert
            for x in ids:
                cai(x, 1)
            return f

    elif impl == "swarmmesh.BloomFilter.add":

        def run(ids: list[bytes]) -> Any:
            f = BloomFilter(n, FP, seed=SEED)
            add = f.add
            for x in ids:
                add(x)
            return f

    elif impl == "rbloom.add (seeded bytes hash)":

        def run(ids: list[bytes]) -> Any:
            f = Bloom(n, FP, hash_func=seeded_hash)
            add = f.add
            for x in ids:
                add(x)
            return f

    elif impl == "rbloom.add (builtin hash, not persistent)":

        def run(ids: list[bytes]) -> Any:
            f = Bloom(n, FP)
            add = f.add
            for x in ids:
                add(x)
            return f

    elif impl == "pybloom-live.add":

        def run(ids: list[bytes]) -> Any:
            f = PyBloomLive(capacity=n, error_rate=FP)
            add = f.add
            for x in ids:
                add(x)
            return f

    elif impl == "set (exact, unbounded)":

        def run(ids: list[bytes]) -> Any:
            s: set[bytes] = set()
            for x in ids:
                if x not in s:
                    s.add(x)
            return s

    elif impl == "OrderedDict seen-cache (LRU)":

        def run(ids: list[bytes]) -> Any:
            c = SeenCache(n)
            cai = c.check_and_insert
            for x in ids:
                cai(x)
            return c

    else:  # pragma: no cover
        raise ValueError(impl)
    return run


SINGLE = [
    "swarmmesh.DedupFilter.check_and_insert",
    "swarmmesh.BloomFilter.add",
    "rbloom.add (seeded bytes hash)",
    "rbloom.add (builtin hash, not persistent)",
    "pybloom-live.add",
    "set (exact, unbounded)",
    "OrderedDict seen-cache (LRU)",
]


@pytest.mark.parametrize("impl", SINGLE)
def test_single_call(benchmark: Any, single_ids: list[bytes], impl: str) -> None:
    benchmark.group = f"dedup: one call per id ({N_SINGLE} ids, fp {FP})"
    benchmark.extra_info["items"] = len(single_ids)
    run = single_runner(impl, len(single_ids))
    rounds = 3 if impl.startswith("pybloom") else 5
    benchmark.pedantic(run, args=(single_ids,), rounds=rounds, iterations=1, warmup_rounds=1)


BATCH = [
    "swarmmesh.DedupFilter.check_and_insert_many (numpy rows)",
    "swarmmesh.DedupFilter.check_and_insert_many (list of bytes)",
    "swarmmesh.BloomFilter.update (list of bytes)",
    "rbloom.update (seeded bytes hash)",
    "rbloom.update (builtin hash, not persistent)",
]


@pytest.mark.parametrize("impl", BATCH)
def test_batch(benchmark: Any, batch_ids: list[bytes], impl: str) -> None:
    n = len(batch_ids)
    benchmark.group = f"dedup: batch of {n} ids (fp {FP})"
    benchmark.extra_info["items"] = n
    rows = np.frombuffer(b"".join(batch_ids), dtype=np.uint8).reshape(n, 16)

    if impl.startswith("swarmmesh.DedupFilter") and "numpy" in impl:

        def run() -> Any:
            return DedupFilter(n, FP, 60_000, seed=SEED).check_and_insert_many(rows, 1)

    elif impl.startswith("swarmmesh.DedupFilter"):

        def run() -> Any:
            return DedupFilter(n, FP, 60_000, seed=SEED).check_and_insert_many(batch_ids, 1)

    elif impl.startswith("swarmmesh.BloomFilter"):

        def run() -> Any:
            f = BloomFilter(n, FP, seed=SEED)
            f.update(batch_ids)
            return f

    elif "seeded" in impl:

        def run() -> Any:
            f = Bloom(n, FP, hash_func=seeded_hash)
            f.update(batch_ids)
            return f

    else:

        def run() -> Any:
            f = Bloom(n, FP)
            f.update(batch_ids)
            return f

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


def traced_bytes(build: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        obj = build()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return obj, current


def test_memory_per_id(benchmark: Any, single_ids: list[bytes]) -> None:
    """Bytes per remembered id (recorded in extra_info; the timing is of the set build)."""
    n = len(single_ids)
    benchmark.group = "dedup: memory per id"
    d = DedupFilter(n, FP, 60_000)
    rb = Bloom(n, FP)
    _, set_bytes = traced_bytes(lambda: set(single_ids))
    _, od_bytes = traced_bytes(lambda: OrderedDict.fromkeys(single_ids))
    copies = [bytes(bytearray(x)) for x in single_ids[:1000]]
    _, key_bytes = traced_bytes(lambda: [bytes(bytearray(x)) for x in copies])
    per_key = key_bytes / 1000  # a cache pins each received id object as well
    info = {
        "swarmmesh.DedupFilter per generation": d.generation_bits / 8 / n,
        "swarmmesh.DedupFilter total (2 generations)": d.stats().memory_bytes / n,
        "rbloom": rb.size_in_bits / 8 / n,
        "set (container + pinned id objects)": set_bytes / n + per_key,
        "OrderedDict (container + pinned id objects)": od_bytes / n + per_key,
    }
    benchmark.extra_info["bytes_per_id"] = {k: round(v, 2) for k, v in info.items()}
    benchmark.pedantic(lambda: set(single_ids), rounds=1, iterations=1)
