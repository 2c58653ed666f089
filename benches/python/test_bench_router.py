"""Benchmarks of swarmmesh.Router through the FFI against a pure-Python router.

The baseline below implements the same math (decayed Beta posterior with an
evidence cap, RFC 6298 RTT, score = reliability / (1 + latency / scale), stable
best-first ranking) with dicts of floats; a test checks both agree before timing.
Each operation has its own ``benchmark.group`` so the two sit side by side, and
``extra_info["ratio"]`` records baseline time / swarmmesh time measured in the
same run with ``timeit``.
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from swarmmesh import Router

T3 = ["integrated", "gun", "peerjs"]
PRIORS = {"integrated": 1.0, "gun": 0.8, "peerjs": 0.6}
N_PEERS = 10_000


class PyRouter:
    """Pure-Python baseline: the same estimator as swarmmesh.Router."""

    def __init__(
        self,
        priors: dict[str, float] | None = None,
        *,
        half_life_ms: int = 60_000,
        max_evidence: float = 50.0,
        default_prior: float = 0.5,
        prior_weight: float = 2.0,
        latency_scale_ms: float = 1000.0,
        default_rtt_ms: float = 100.0,
    ) -> None:
        self.priors = {**PRIORS, **(priors or {})}
        self.inv_half_life = 1.0 / half_life_ms
        self.max_evidence = max_evidence
        self.default_prior = default_prior
        self.w = prior_weight
        self.scale = latency_scale_ms
        self.default_rtt = default_rtt_ms
        # peer -> transport -> [successes, failures, srtt, rttvar, last_ms]
        self.peers: dict[str, dict[str, list[float]]] = {}

    def observe(self, peer: str, transport: str, ok: bool, rtt_ms: float | None, now_ms: int) -> None:
        st = self.peers.setdefault(peer, {}).get(transport)
        if st is None:
            st = self.peers[peer][transport] = [0.0, 0.0, math.nan, math.nan, float(now_ms)]
        if now_ms > st[4]:
            d = 2.0 ** (-(now_ms - st[4]) * self.inv_half_life)
            st[0] *= d
            st[1] *= d
            st[4] = now_ms
        if ok:
            st[0] += 1.0
            if rtt_ms is not None:
                if math.isnan(st[2]):
                    st[2], st[3] = rtt_ms, rtt_ms / 2
                else:
                    st[3] = 0.75 * st[3] + 0.25 * abs(st[2] - rtt_ms)
                    st[2] = 0.875 * st[2] + 0.125 * rtt_ms
        else:
            st[1] += 1.0
        total = st[0] + st[1]
        if total > self.max_evidence:
            k = self.max_evidence / total
            st[0] *= k
            st[1] *= k

    def score(self, peer: str, transport: str, now_ms: int) -> float:
        prior = self.priors.get(transport, self.default_prior)
        st = self.peers.get(peer, {}).get(transport)
        if st is None:
            return prior / (1.0 + self.default_rtt / self.scale)
        d = 2.0 ** (-(now_ms - st[4]) * self.inv_half_life) if now_ms > st[4] else 1.0
        s, f = st[0] * d, st[1] * d
        r = (prior * self.w + s) / (self.w + s + f)
        latency = self.default_rtt if math.isnan(st[2]) else st[2]
        return r / (1.0 + latency / self.scale)

    def rank(self, peer: str, transports: Sequence[str], now_ms: int) -> list[tuple[str, float]]:
        scored = [(t, self.score(peer, t, now_ms)) for t in transports]
        scored.sort(key=lambda x: -x[1])  # stable: ties keep the caller's order
        return scored


def populate(router: Any, peers: list[str]) -> None:
    for i, p in enumerate(peers):
        for k, t in enumerate(T3):
            ok = (i + k) % 7 != 0
            router.observe(p, t, ok, 20.0 + (i % 50) if ok else None, i)


@pytest.fixture(scope="module")
def peers() -> list[str]:
    return [f"peer-{i:08d}" for i in range(N_PEERS)]


@pytest.fixture(scope="module")
def routers(peers: list[str]) -> tuple[Router, PyRouter]:
    rust, py = Router(exploration=0.0), PyRouter()
    populate(rust, peers)
    populate(py, peers)
    return rust, py


def per_call_s(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def test_baseline_agrees(routers: tuple[Router, PyRouter], peers: list[str]) -> None:
    rust, py = routers
    for p in [*peers[:500], "unknown-peer"]:
        a, b = rust.rank(p, T3, 20_000), py.rank(p, T3, 20_000)
        assert [t for t, _ in a] == [t for t, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-12)


def _cycle_rank(router: Any, peers: list[str]) -> Callable[[], object]:
    it = iter(range(1 << 62))

    def call() -> object:
        return router.rank(peers[next(it) % N_PEERS], T3, 20_000)

    return call


RANK_BATCH = 1000


def _rank_rounds(router: Any, peers: list[str]) -> Callable[[], object]:
    """RANK_BATCH rank calls per round over consecutive peers: the per-round timer
    overhead of pytest-benchmark would otherwise be a large part of a ~1 us call."""
    rank = router.rank
    start = iter(range(0, 1 << 62, RANK_BATCH))

    def run() -> object:
        i = next(start) % N_PEERS
        chunk = peers[i : i + RANK_BATCH] if i + RANK_BATCH <= N_PEERS else peers[:RANK_BATCH]
        return [rank(p, T3, 20_000) for p in chunk]

    return run


@pytest.mark.parametrize("impl", ["swarmmesh", "pure-python"])
def test_rank_3_transports(
    benchmark: Any, routers: tuple[Router, PyRouter], peers: list[str], impl: str
) -> None:
    benchmark.group = "router.rank (3 transports, 10k known peers)"
    rust, py = routers
    benchmark.extra_info["items"] = RANK_BATCH
    fn = _rank_rounds(rust if impl == "swarmmesh" else py, peers)
    if impl == "swarmmesh":
        ours = per_call_s(_cycle_rank(rust, peers), 20_000)
        theirs = per_call_s(_cycle_rank(py, peers), 20_000)
        benchmark.extra_info["calls_per_s"] = round(1 / ours)
        p = peers[123]
        direct = per_call_s(lambda: rust.rank(p, T3, 20_000), 100_000)
        benchmark.extra_info["calls_per_s_fixed_peer"] = round(1 / direct)
        benchmark.extra_info["ratio"] = round(theirs / ours, 2)
    benchmark(fn)


def _cycle_observe(router: Any, peers: list[str]) -> Callable[[], object]:
    it = iter(range(1 << 62))

    def call() -> object:
        i = next(it)
        return router.observe(peers[i % N_PEERS], "gun", i % 5 != 0, 25.0, 30_000 + i)

    return call


@pytest.mark.parametrize("impl", ["swarmmesh", "pure-python"])
def test_observe(benchmark: Any, peers: list[str], impl: str) -> None:
    benchmark.group = "router.observe (existing pair)"
    rust, py = Router(), PyRouter()
    populate(rust, peers)
    populate(py, peers)
    if impl == "swarmmesh":
        ours = per_call_s(_cycle_observe(rust, peers), 20_000)
        theirs = per_call_s(_cycle_observe(py, peers), 20_000)
        benchmark.extra_info["ratio"] = round(theirs / ours, 2)
    benchmark(_cycle_observe(rust if impl == "swarmmesh" else py, peers))


@pytest.mark.parametrize("impl", ["swarmmesh.rank_many", "pure-python loop"])
def test_rank_many_10k(benchmark: Any, routers: tuple[Router, PyRouter], peers: list[str], impl: str) -> None:
    benchmark.group = "router.rank_many (10k peers x 3 transports)"
    rust, py = routers

    def ours() -> object:
        return rust.rank_many(peers, T3, 20_000)

    def theirs() -> object:
        return [py.rank(p, T3, 20_000) for p in peers]

    if impl == "swarmmesh.rank_many":
        a, b = per_call_s(ours, 20), per_call_s(theirs, 3)
        benchmark.extra_info["ms"] = round(a * 1e3, 3)
        benchmark.extra_info["ratio"] = round(b / a, 2)
        benchmark(ours)
    else:
        benchmark.pedantic(theirs, rounds=5, iterations=1)


def test_plan(benchmark: Any, routers: tuple[Router, PyRouter], peers: list[str]) -> None:
    benchmark.group = "router.plan (3 transports)"
    rust, _ = routers
    it = iter(range(1 << 62))
    benchmark(lambda: rust.plan(peers[next(it) % N_PEERS], T3, 20_000))
