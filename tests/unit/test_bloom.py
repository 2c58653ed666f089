from __future__ import annotations

import math
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import swarmmesh
from swarmmesh import ArgumentTypeError, BloomFilter, DecodeError, InvalidArgumentError, SwarmMeshError
from tests.conftest import make_ids


def optimal_bits(n: int, p: float) -> float:
    return -n * math.log(p) / math.log(2) ** 2


def test_add_contains_and_novelty() -> None:
    f = BloomFilter(1000, 0.01)
    assert f.add(b"alpha") is True
    assert f.add(b"alpha") is False
    assert b"alpha" in f
    assert b"beta" not in f
    g = BloomFilter(10, 0.01)
    g.add("héllo")
    assert "héllo".encode() in g
    assert bytearray(b"x") not in g
    g.add(memoryview(b"mv"))
    assert b"mv" in g


def test_rejects_non_id_items() -> None:
    f = BloomFilter(10, 0.01)
    with pytest.raises(ArgumentTypeError) as exc:
        f.add(12)  # type: ignore[arg-type]
    assert exc.value.argument == "item"
    assert isinstance(exc.value, TypeError)
    assert isinstance(exc.value, SwarmMeshError)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"capacity": 0, "fp_rate": 0.01}, "capacity"),
        ({"capacity": -5, "fp_rate": 0.01}, "capacity"),
        ({"capacity": 10, "fp_rate": 0.0}, "fp_rate"),
        ({"capacity": 10, "fp_rate": 0.7}, "fp_rate"),
        ({"capacity": 10, "fp_rate": float("nan")}, "fp_rate"),
        ({"capacity": 10, "fp_rate": 0.01, "seed": -1}, "seed"),
        ({"capacity": 10**15, "fp_rate": 1e-9}, "capacity"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict[str, float], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        BloomFilter(**kwargs)  # type: ignore[arg-type]
    assert exc.value.argument == argument
    assert exc.value.code == "invalid_argument"
    assert argument in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_geometry_is_optimal() -> None:
    f = BloomFilter(1_000_000, 1e-6)
    assert f.num_hashes == 20
    assert f.num_bits == math.ceil(optimal_bits(1_000_000, 1e-6))
    assert f.memory_bytes * 8 <= optimal_bits(1_000_000, 1e-6) + 64
    assert f.capacity == 1_000_000
    assert f.fp_rate == 1e-6
    assert f.seed == 0


def test_fp_rate_and_len_at_capacity() -> None:
    n, p = 20_000, 0.01
    f = BloomFilter(n, p, seed=5)
    members = make_ids(n)
    f.update(members)
    assert all(m in f for m in members)
    probes = make_ids(100_000, start=n)
    fp = sum(1 for x in probes if x in f) / len(probes)
    assert fp <= 1.5 * p
    assert abs(len(f) - n) / n < 0.03
    assert f.estimated_fp_rate == pytest.approx(p, rel=0.3)
    assert 0.4 < f.fill_ratio < 0.6


def test_update_accepts_numpy_rows_and_matches_bytes() -> None:
    rows = np.frombuffer(b"".join(make_ids(500)), dtype=np.uint8).reshape(500, 16)
    a = BloomFilter(1000, 0.001, seed=3)
    a.update(rows)
    b = BloomFilter(1000, 0.001, seed=3)
    b.update(bytes(r) for r in rows)
    assert a == b
    # non-contiguous rows are hashed by value too
    wide = np.zeros((500, 32), dtype=np.uint8)
    wide[:, ::2] = rows
    c = BloomFilter(1000, 0.001, seed=3)
    c.update(np.ascontiguousarray(wide[:, ::2]))
    d = BloomFilter(1000, 0.001, seed=3)
    d.update(wide[:, ::2])
    assert c == d == a


def test_update_rejects_bad_batches() -> None:
    f = BloomFilter(10, 0.01)
    with pytest.raises(ArgumentTypeError):
        f.update(b"single")
    with pytest.raises(ArgumentTypeError):
        f.update(np.zeros((3,), dtype=np.uint8))
    with pytest.raises(ArgumentTypeError):
        f.update(np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ArgumentTypeError):
        f.update(42)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        f.update([b"ok", 3])  # type: ignore[list-item]


def test_union_and_incompatibility() -> None:
    a = BloomFilter(100, 0.01, seed=1)
    b = BloomFilter(100, 0.01, seed=1)
    a.add(b"a")
    b.add(b"b")
    u = a.union(b)
    assert b"a" in u
    assert b"b" in u
    assert b"b" not in a  # union does not mutate
    assert (a | b) == u
    assert a.union(a) == a
    with pytest.raises(InvalidArgumentError) as exc:
        a.union(BloomFilter(100, 0.01, seed=2))
    assert exc.value.argument == "other"
    with pytest.raises(InvalidArgumentError):
        a.union(BloomFilter(200, 0.01, seed=1))


def test_copy_clear_eq_repr() -> None:
    a = BloomFilter(100, 0.01)
    a.add(b"x")
    c = a.copy()
    assert c == a
    c.add(b"y")
    assert c != a
    a.clear()
    assert b"x" not in a
    assert len(a) == 0
    assert "BloomFilter(capacity=100" in repr(a)
    assert a != "not a filter"


def test_bytes_roundtrip_pickle_and_rejections() -> None:
    f = BloomFilter(1000, 0.01, seed=77)
    f.update(make_ids(300))
    data = f.to_bytes()
    g = BloomFilter.from_bytes(data)
    assert g == f
    assert g.seed == 77
    assert pickle.loads(pickle.dumps(f)) == f
    cases = {
        data[:20]: "truncated",
        data + b"\0": "trailing_bytes",
        b"XXXX" + data[4:]: "bad_magic",
        data[:4] + b"\x09" + data[5:]: "unknown_version",
        data[:32] + (12345).to_bytes(8, "little") + data[40:]: "inconsistent",
    }
    for bad, reason in cases.items():
        with pytest.raises(DecodeError) as exc:
            BloomFilter.from_bytes(bad)
        assert exc.value.reason == reason
        assert exc.value.code == f"decode.{reason}"
        assert isinstance(exc.value, ValueError)


def test_same_answers_in_another_process() -> None:
    f = BloomFilter(2000, 0.01, seed=123)
    members = make_ids(1000)
    f.update(members)
    probes = make_ids(2000)  # half members, half not
    here = [p in f for p in probes]
    code = (
        "import sys, swarmmesh\n"
        "from tests.conftest import make_ids\n"
        "f = swarmmesh.BloomFilter.from_bytes(sys.stdin.buffer.read())\n"
        "fresh = swarmmesh.BloomFilter(2000, 0.01, seed=123)\n"
        "fresh.update(make_ids(1000))\n"
        "assert fresh == f\n"
        "print(''.join('1' if p in f else '0' for p in make_ids(2000)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=f.to_bytes(),
        capture_output=True,
        check=True,
        env={"PYTHONHASHSEED": "999", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
    )
    there = [c == "1" for c in out.stdout.decode().strip()]
    assert there == here
    assert sum(here[:1000]) == 1000


def test_threads_share_one_filter() -> None:
    f = BloomFilter(100_000, 0.001)
    chunks = [make_ids(5000, start=i * 5000) for i in range(4)]

    def work(ids: list[bytes]) -> None:
        for x in ids:
            f.add(x)

    threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(x in f for c in chunks for x in c)


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=200), st.integers(0, 2**64 - 1))
def test_no_false_negatives(items: list[bytes], seed: int) -> None:
    f = BloomFilter(len(items), 0.05, seed=seed)
    f.update(items)
    assert all(x in f for x in items)
    assert all(x in BloomFilter.from_bytes(f.to_bytes()) for x in items)


def test_exported_at_top_level() -> None:
    assert swarmmesh.BloomFilter is BloomFilter
