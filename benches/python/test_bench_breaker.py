"""Circuit breakers through the FFI against pybreaker 1.4.1 and aiobreaker 1.2.0.

Run: ``python -m pytest benches/python/test_bench_breaker.py --benchmark-only``
(pytest-benchmark; ``--benchmark-group-by=group`` is the default).

Groups (one per operation, so each library's row sits beside the others):

* ``breaker-call``: one guarded successful call on one breaker. swarmmesh does
  ``allow`` + ``record_success`` (two FFI calls); the rivals do ``CircuitBreaker.call(fn)``.
* ``breaker-create-100k``: start tracking 100 000 per-peer breakers.
* ``breaker-dispatch-100k``: a guarded call on a random one of 100 000 peers.
* ``breaker-memory``: bytes per breaker, as the RSS delta of a fresh interpreter
  that builds 100 000 breakers (keys like ``peer-00012345|gun`` built beforehand
  on both sides, so only the breakers are counted).

Each swarmmesh test also times the pybreaker equivalent in the same process and
stores the speed-up in ``benchmark.extra_info["ratio_vs_pybreaker"]``.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import timeit
from collections.abc import Callable

import aiobreaker
import pybreaker
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from swarmmesh import BreakerConfig, BreakerRegistry

N_PEERS = 100_000
CALLS = 1_000  # guarded calls per timed round
KEYS = [f"peer-{i:08d}|gun" for i in range(N_PEERS)]


def noop() -> None:
    return None


def per_call_seconds(fn: Callable[[], None], repeat: int = 5) -> float:
    """Best-of-`repeat` time of one `fn()` (which itself runs CALLS guarded calls)."""
    return min(timeit.repeat(fn, number=1, repeat=repeat)) / CALLS


# ---------------------------------------------------------------- one breaker, one call


def swarmmesh_calls(reg: BreakerRegistry, key: str) -> Callable[[], None]:
    allow = reg.allow
    record = reg.record_success

    def run() -> None:
        for t in range(CALLS):
            if allow(key, t):
                record(key, t)

    return run


def rival_calls(cb: pybreaker.CircuitBreaker | aiobreaker.CircuitBreaker) -> Callable[[], None]:
    call = cb.call

    def run() -> None:
        for _ in range(CALLS):
            call(noop)

    return run


def test_call_pybreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-call"
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(rival_calls(pybreaker.CircuitBreaker()))


def test_call_aiobreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-call"
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(rival_calls(aiobreaker.CircuitBreaker()))


def test_call_swarmmesh(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-call"
    reg = BreakerRegistry()
    reg.record_success("peer-00000001|gun", 0)
    run = swarmmesh_calls(reg, "peer-00000001|gun")
    benchmark(run)
    ours = per_call_seconds(run)
    theirs = per_call_seconds(rival_calls(pybreaker.CircuitBreaker()))
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark.extra_info["swarmmesh_calls_per_s"] = round(1 / ours)
    benchmark.extra_info["pybreaker_calls_per_s"] = round(1 / theirs)
    benchmark.extra_info["ratio_vs_pybreaker"] = round(theirs / ours, 2)
    assert reg.state("peer-00000001|gun") == "closed"


# ---------------------------------------------------------------- creating 100 000 breakers


def create_swarmmesh() -> BreakerRegistry:
    reg = BreakerRegistry(BreakerConfig())
    record = reg.record_success
    for key in KEYS:
        record(key, 0)
    return reg


def create_pybreaker() -> dict[str, pybreaker.CircuitBreaker]:
    return {key: pybreaker.CircuitBreaker() for key in KEYS}


def create_aiobreaker() -> dict[str, aiobreaker.CircuitBreaker]:
    return {key: aiobreaker.CircuitBreaker() for key in KEYS}


def test_create_pybreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-create-100k"
    out = benchmark.pedantic(create_pybreaker, rounds=3, iterations=1)
    assert len(out) == N_PEERS


def test_create_aiobreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-create-100k"
    out = benchmark.pedantic(create_aiobreaker, rounds=3, iterations=1)
    assert len(out) == N_PEERS


def test_create_swarmmesh(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-create-100k"
    reg = benchmark.pedantic(create_swarmmesh, rounds=5, iterations=1)
    assert len(reg) == N_PEERS
    ours = min(timeit.repeat(create_swarmmesh, number=1, repeat=3))
    theirs = min(timeit.repeat(create_pybreaker, number=1, repeat=3))
    benchmark.extra_info["swarmmesh_s"] = round(ours, 4)
    benchmark.extra_info["pybreaker_s"] = round(theirs, 4)
    benchmark.extra_info["ratio_vs_pybreaker"] = round(theirs / ours, 1)


# ---------------------------------------------------------------- random-peer dispatch

DISPATCH = random.Random(1).choices(KEYS, k=CALLS)


def test_dispatch_pybreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-dispatch-100k"
    cbs = create_pybreaker()

    def run() -> None:
        for key in DISPATCH:
            cbs[key].call(noop)

    benchmark(run)


def test_dispatch_aiobreaker(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-dispatch-100k"
    cbs = create_aiobreaker()

    def run() -> None:
        for key in DISPATCH:
            cbs[key].call(noop)

    benchmark(run)


def test_dispatch_swarmmesh(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "breaker-dispatch-100k"
    reg = create_swarmmesh()
    allow = reg.allow
    record = reg.record_success

    def run() -> None:
        for t, key in enumerate(DISPATCH):
            if allow(key, t):
                record(key, t)

    benchmark(run)
    cbs = create_pybreaker()

    def rival() -> None:
        for key in DISPATCH:
            cbs[key].call(noop)

    ours = per_call_seconds(run)
    theirs = per_call_seconds(rival)
    benchmark.extra_info["swarmmesh_calls_per_s"] = round(1 / ours)
    benchmark.extra_info["pybreaker_calls_per_s"] = round(1 / theirs)
    benchmark.extra_info["ratio_vs_pybreaker"] = round(theirs / ours, 2)
    assert len(reg) == N_PEERS


# ---------------------------------------------------------------- memory per breaker

MEMORY_SCRIPT = textwrap.dedent(
    """
    import gc, os, sys
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        gc.collect()
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    n = int(sys.argv[2])
    keys = [f"peer-{i:08d}|gun" for i in range(n)]
    lib = sys.argv[1]
    if lib == "swarmmesh":
        from swarmmesh import BreakerRegistry
        before = rss()
        reg = BreakerRegistry()
        for k in keys:
            reg.record_success(k, 0)
    elif lib == "pybreaker":
        import pybreaker
        before = rss()
        reg = {k: pybreaker.CircuitBreaker() for k in keys}
    else:
        import aiobreaker
        before = rss()
        reg = {k: aiobreaker.CircuitBreaker() for k in keys}
    after = rss()
    assert len(reg) == n
    print((after - before) / n)
    """
)


def bytes_per_breaker(lib: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, lib, str(N_PEERS)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


@pytest.mark.parametrize("lib", ["pybreaker", "aiobreaker", "swarmmesh"])
def test_memory_per_breaker(benchmark: BenchmarkFixture, lib: str) -> None:
    benchmark.group = "breaker-memory"
    per = benchmark.pedantic(bytes_per_breaker, args=(lib,), rounds=1, iterations=1)
    benchmark.extra_info["bytes_per_breaker"] = round(per, 1)
    if lib == "swarmmesh":
        theirs = bytes_per_breaker("pybreaker")
        benchmark.extra_info["pybreaker_bytes_per_breaker"] = round(theirs, 1)
        benchmark.extra_info["ratio_vs_pybreaker"] = round(theirs / per, 1)
    assert per > 0
