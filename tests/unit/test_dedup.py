from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmmesh import ArgumentTypeError, DecodeError, DedupFilter, DedupStats, InvalidArgumentError
from tests.conftest import make_ids


def optimal_bits(n: int, p: float) -> float:
    return -n * math.log(p) / math.log(2) ** 2


def test_first_sight_then_duplicate() -> None:
    f = DedupFilter(1000, 1e-4, 10_000)
    assert f.check_and_insert(b"m1", 0) is True
    assert f.check_and_insert(b"m1", 1) is False
    assert f.contains(b"m1", 2)
    assert not f.contains(b"m2", 2)
    assert b"m1" in f
    s = f.stats()
    assert isinstance(s, DedupStats)
    assert (s.inserted, s.duplicates, s.rotations, s.early_rotations) == (1, 1, 0, 0)
    assert s.to_dict()["inserted"] == 1


def test_parameters_are_exposed() -> None:
    f = DedupFilter(5000, 1e-3, 60_000, generations=3, seed=9)
    assert (f.capacity, f.fp_rate, f.ttl_ms, f.generations, f.seed) == (5000, 1e-3, 60_000, 3, 9)
    assert f.span_ms == 30_000
    assert f.stats().memory_bytes == 3 * math.ceil(f.generation_bits / 64) * 8
    assert "DedupFilter(capacity=5000" in repr(f)


@pytest.mark.parametrize(
    ("args", "kwargs", "argument"),
    [
        ((0, 0.01, 100), {}, "capacity"),
        ((10, 0.9, 100), {}, "fp_rate"),
        ((10, 0.01, 0), {}, "ttl_ms"),
        ((10, 0.01, -1), {}, "ttl_ms"),
        ((10, 0.01, 100), {"generations": 1}, "generations"),
        ((10, 0.01, 100), {"generations": 17}, "generations"),
        ((10, 0.01, 100), {"generations": -3}, "generations"),
        ((10, 0.01, 100), {"seed": -1}, "seed"),
    ],
)
def test_invalid_arguments(args: tuple[int, float, int], kwargs: dict[str, int], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        DedupFilter(*args, **kwargs)
    assert exc.value.argument == argument


def test_negative_time_and_bad_ids_are_typed_errors() -> None:
    f = DedupFilter(10, 0.01, 100)
    with pytest.raises(InvalidArgumentError) as exc:
        f.check_and_insert(b"x", -1)
    assert exc.value.argument == "now_ms"
    with pytest.raises(ArgumentTypeError) as exc2:
        f.check_and_insert(1.5, 0)  # type: ignore[arg-type]
    assert exc2.value.argument == "msg_id"
    with pytest.raises(InvalidArgumentError):
        f.check_and_insert_many([b"a"], -5)
    assert f.stats().inserted == 0  # nothing recorded by rejected calls


def test_remembered_for_ttl_then_forgotten() -> None:
    ttl = 1000
    f = DedupFilter(1000, 1e-4, ttl)
    f.check_and_insert(b"start", 0)
    f.check_and_insert(b"m", 999)  # late in the first span
    assert f.contains(b"m", 999 + ttl - 1)
    assert not f.check_and_insert(b"m", 999 + ttl - 1)  # refreshed here
    assert f.contains(b"m", 999 + 2 * ttl - 2)
    assert not f.contains(b"m", 10 * ttl)
    assert f.check_and_insert(b"m", 10 * ttl)


def test_overload_rotates_early_and_reports_it() -> None:
    f = DedupFilter(100, 1e-3, 3_600_000)
    ids = make_ids(250)
    fresh = f.check_and_insert_many(ids, 0)
    assert fresh.sum() >= 245
    s = f.stats()
    assert s.early_rotations == 2
    assert s.rotations == 2
    assert s.current_count <= 100


def test_fp_rate_at_full_capacity_within_1_5x() -> None:
    n, p = 50_000, 1e-3
    f = DedupFilter(n, p, 60_000, seed=2)
    members = make_ids(n - 1)
    f.check_and_insert_many(members, 1000)
    assert f.stats().early_rotations == 0
    probes = make_ids(300_000, start=n)
    hits = sum(1 for x in probes if f.contains(x, 1000))
    assert hits / len(probes) <= 1.5 * p
    assert f.stats().estimated_fp_rate == pytest.approx(p, rel=0.3)


@pytest.mark.parametrize(("n", "p"), [(10_000, 0.01), (100_000, 1e-3), (1_000_000, 1e-6), (200_000, 1e-9)])
def test_memory_per_generation_within_1_1x_of_optimal(n: int, p: float) -> None:
    f = DedupFilter(n, p, 1000)
    per_generation = f.stats().memory_bytes * 8 / f.generations
    assert per_generation == f.generation_bits
    assert optimal_bits(n, p) <= per_generation <= 1.1 * optimal_bits(n, p)


def test_tiny_filters_round_up_to_one_block() -> None:
    # Storage comes in 512-bit blocks (one cache line): the bound is 1.1x + one block.
    f = DedupFilter(7, 0.2, 1000)
    assert f.generation_bits == 512
    assert f.generation_bits <= 1.1 * optimal_bits(7, 0.2) + 512


def test_batch_accepts_numpy_and_sequences_and_matches_single_calls() -> None:
    ids = make_ids(300)
    ids = ids + ids[:100]  # repeats inside the batch
    rows = np.frombuffer(b"".join(ids), dtype=np.uint8).reshape(len(ids), 16)
    a = DedupFilter(10_000, 1e-6, 1000, seed=4)
    b = DedupFilter(10_000, 1e-6, 1000, seed=4)
    c = DedupFilter(10_000, 1e-6, 1000, seed=4)
    out_np = a.check_and_insert_many(rows, 5)
    out_seq = b.check_and_insert_many(ids, 5)
    single = [c.check_and_insert(x, 5) for x in ids]
    assert out_np.dtype == np.bool_
    assert out_np.shape == (400,)
    assert out_np.tolist() == out_seq.tolist() == single
    assert out_np[:300].all()
    assert not out_np[300:].any()
    assert a.to_bytes() == b.to_bytes() == c.to_bytes()


def test_large_batch_releases_the_gil_and_stays_correct() -> None:
    ids = make_ids(20_000)
    f = DedupFilter(50_000, 1e-6, 1000)
    rows = np.frombuffer(b"".join(ids), dtype=np.uint8).reshape(-1, 16)
    assert f.check_and_insert_many(rows, 0).all()
    assert not f.check_and_insert_many(rows, 1).any()


def test_empty_batch() -> None:
    f = DedupFilter(10, 0.01, 100)
    out = f.check_and_insert_many([], 0)
    assert out.shape == (0,)
    out2 = f.check_and_insert_many(np.zeros((0, 16), dtype=np.uint8), 0)
    assert out2.shape == (0,)


def test_roundtrip_pickle_and_decode_errors() -> None:
    f = DedupFilter(500, 1e-3, 1000, generations=3, seed=8)
    for i, x in enumerate(make_ids(400)):
        f.check_and_insert(x, i * 3)
    data = f.to_bytes()
    g = DedupFilter.from_bytes(data)
    assert g.to_bytes() == data
    assert g.stats() == f.stats()
    probes = make_ids(800)
    assert [g.contains(x, 1300) for x in probes] == [f.contains(x, 1300) for x in probes]
    h = pickle.loads(pickle.dumps(f))
    assert h.to_bytes() == data
    for bad, reason in [
        (data[:30], "truncated"),
        (data + b"\0", "trailing_bytes"),
        (b"SMBF" + data[4:], "bad_magic"),
        (data[:4] + b"\x02" + data[5:], "unknown_version"),
        (data[:40] + (99).to_bytes(8, "little") + data[48:], "length_limit"),
    ]:
        with pytest.raises(DecodeError) as exc:
            DedupFilter.from_bytes(bad)
        assert exc.value.reason == reason


def test_clear() -> None:
    f = DedupFilter(10, 0.01, 100)
    f.check_and_insert(b"a", 5)
    f.clear()
    assert f.stats().inserted == 0
    assert f.check_and_insert(b"a", 0)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 300)), min_size=1, max_size=120),
    ttl=st.integers(1, 2000),
    generations=st.integers(2, 5),
    seed=st.integers(0, 2**64 - 1),
)
def test_no_false_negative_inside_ttl(
    steps: list[tuple[int, int]], ttl: int, generations: int, seed: int
) -> None:
    f = DedupFilter(100_000, 1e-6, ttl, generations=generations, seed=seed)
    now = 0
    last: dict[int, int] = {}
    for key, dt in steps:
        now += dt
        msg = key.to_bytes(4, "little")
        first = f.check_and_insert(msg, now)
        if key in last and now - last[key] < ttl:
            assert not first, (key, last[key], now)
        last[key] = now
        for k, t in last.items():
            if now - t < ttl:
                assert f.contains(k.to_bytes(4, "little"), now)


def test_batch_layouts_and_containers_agree() -> None:
    ids = make_ids(200)
    rows = np.frombuffer(b"".join(ids), dtype=np.uint8).reshape(200, 16)
    expected = DedupFilter(1000, 1e-6, 1000, seed=6).check_and_insert_many(ids, 0).tolist()
    for batch in (
        rows,  # C-ordered: hashed straight from the buffer
        np.asfortranarray(rows),  # Fortran-ordered: row by row
        np.ascontiguousarray(np.repeat(rows, 2, axis=1)[:, ::2]),
        np.repeat(rows, 2, axis=1)[:, ::2],  # strided view
        tuple(ids),
        iter(ids),
        [bytearray(x) for x in ids],
    ):
        f = DedupFilter(1000, 1e-6, 1000, seed=6)
        assert f.check_and_insert_many(batch, 0).tolist() == expected  # type: ignore[arg-type]


def test_zero_width_ids_are_one_id() -> None:
    f = DedupFilter(100, 1e-3, 1000)
    out = f.check_and_insert_many(np.zeros((3, 0), dtype=np.uint8), 0)
    assert out.tolist() == [True, False, False]
    assert not f.check_and_insert(b"", 1)
