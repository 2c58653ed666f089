"""Unit tests of swarmmesh.Router, RoutePlan and RouteStats."""

from __future__ import annotations

import math

import numpy as np
import pytest

import swarmmesh
from swarmmesh import BreakerRegistry, InvalidArgumentError, RoutePlan, Router, RouteStats

T3 = ["integrated", "gun", "peerjs"]


def prior_score(prior: float, default_rtt: float = 100.0, scale: float = 1000.0) -> float:
    return prior / (1.0 + default_rtt / scale)


def test_exports() -> None:
    for name in ("Router", "RoutePlan", "RouteStats"):
        assert name in swarmmesh.__all__
        assert getattr(swarmmesh, name).__module__ == "swarmmesh"


def test_default_and_merged_priors() -> None:
    assert Router().priors == {"integrated": 1.0, "gun": 0.8, "peerjs": 0.6}
    r = Router({"gun": 0.1, "ws": 0.9}, default_prior=0.3)
    assert r.priors == {"integrated": 1.0, "gun": 0.1, "peerjs": 0.6, "ws": 0.9}
    assert r.score("p", "ws", 0) == pytest.approx(prior_score(0.9))
    assert r.score("p", "other", 0) == pytest.approx(prior_score(0.3))
    # the property is a copy
    r.priors["gun"] = 1.0
    assert r.priors["gun"] == 0.1


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"priors": {"gun": 1.5}}, "priors"),
        ({"priors": {"gun": math.nan}}, "priors"),
        ({"priors": {"": 0.5}}, "priors"),
        ({"half_life_ms": 0}, "half_life_ms"),
        ({"half_life_ms": -1}, "half_life_ms"),
        ({"max_evidence": 0.0}, "max_evidence"),
        ({"default_prior": 1.1}, "default_prior"),
        ({"prior_weight": 0.0}, "prior_weight"),
        ({"exploration": -0.1}, "exploration"),
        ({"seed": -1}, "seed"),
        ({"max_peers": 0}, "max_peers"),
        ({"latency_scale_ms": 0.0}, "latency_scale_ms"),
        ({"default_rtt_ms": -5.0}, "default_rtt_ms"),
        ({"hedge_k": math.inf}, "hedge_k"),
        ({"min_hedge_ms": 100, "max_hedge_ms": 50}, "max_hedge_ms"),
        ({"min_hedge_ms": -1}, "min_hedge_ms"),
        ({"parallel_below": 2.0}, "parallel_below"),
    ],
)
def test_constructor_validation(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Router(**kwargs)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert info.value.code == "invalid_argument"


def test_constructor_type_errors() -> None:
    with pytest.raises(swarmmesh.ArgumentTypeError) as info:
        Router({1: 0.5})  # type: ignore[dict-item]
    assert info.value.argument == "priors"
    with pytest.raises(swarmmesh.ArgumentTypeError) as info:
        Router(breakers="nope")  # type: ignore[arg-type]
    assert info.value.argument == "breakers"


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (("p", "gun", True, -1.0, 0), "rtt_ms"),
        (("p", "gun", True, math.nan, 0), "rtt_ms"),
        (("p", "gun", True, 10.0, -1), "now_ms"),
        (("", "gun", True, 10.0, 0), "peer"),
        (("p", "", True, 10.0, 0), "transport"),
    ],
)
def test_observe_validation(args: tuple[str, str, bool, float, int], argument: str) -> None:
    r = Router()
    with pytest.raises(InvalidArgumentError) as info:
        r.observe(*args)
    assert info.value.argument == argument
    assert len(r) == 0


def test_query_validation() -> None:
    r = Router()
    with pytest.raises(InvalidArgumentError, match="now_ms"):
        r.rank("p", T3, -1)
    with pytest.raises(InvalidArgumentError, match="now_ms"):
        r.score("p", "gun", -1)
    with pytest.raises(InvalidArgumentError) as info:
        r.plan("p", T3, 0, max_parallel=0)
    assert info.value.argument == "max_parallel"
    with pytest.raises(swarmmesh.ArgumentTypeError) as tinfo:
        r.rank("p", "gun", 0)
    assert tinfo.value.argument == "transports"
    with pytest.raises(swarmmesh.ArgumentTypeError):
        r.rank("p", ["gun", 3], 0)  # type: ignore[list-item]


def test_unknown_pairs_rank_by_prior_with_stable_ties() -> None:
    r = Router()
    ranked = r.rank("p", ["peerjs", "x", "integrated", "y", "gun"], 0)
    assert [t for t, _ in ranked] == ["integrated", "gun", "peerjs", "x", "y"]
    assert ranked[0][1] == pytest.approx(prior_score(1.0))
    # any iterable sequence of str works, and the result is a list of tuples
    assert r.rank("p", tuple(T3), 0) == r.rank("p", iter(T3), 0)  # type: ignore[arg-type]


def test_beta_posterior_and_score() -> None:
    r = Router(prior_weight=2.0)
    for _ in range(3):
        r.observe("p", "gun", True, 200.0, 0)
    r.observe("p", "gun", False, None, 0)
    (s,) = r.snapshot("p")
    rel = (0.8 * 2 + 3) / (2 + 4)
    assert s.reliability == pytest.approx(rel)
    assert (s.successes, s.failures, s.observations) == (3.0, 1.0, 4)
    assert r.score("p", "gun", 0) == pytest.approx(rel / (1 + s.srtt_ms / 1000.0))  # type: ignore[operator]


def test_decay_toward_prior() -> None:
    r = Router(half_life_ms=1000)
    for _ in range(10):
        r.observe("p", "integrated", False, None, 0)
    low = r.snapshot("p", now_ms=0)[0].reliability
    half = r.snapshot("p", now_ms=1000)[0]
    assert half.failures == pytest.approx(5.0)
    assert half.reliability == pytest.approx(2 / 7)
    far = r.snapshot("p", now_ms=60_000)[0].reliability
    assert low < half.reliability < far
    assert far == pytest.approx(1.0, abs=1e-9)
    assert r.score("p", "integrated", 60_000) == pytest.approx(prior_score(1.0), abs=1e-9)
    # without now_ms the counts are reported as of the last observation
    assert r.snapshot("p")[0].failures == pytest.approx(10.0)


def test_rtt_ewma_matches_rfc6298() -> None:
    r = Router()
    samples = [120.0, 80.0, 300.0, 95.0, 101.0, 10.0]
    srtt = rttvar = 0.0
    for i, x in enumerate(samples):
        r.observe("p", "gun", True, x, i)
        if i == 0:
            srtt, rttvar = x, x / 2
        else:
            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - x)
            srtt = 0.875 * srtt + 0.125 * x
    (s,) = r.snapshot("p")
    assert s.srtt_ms == pytest.approx(srtt)
    assert s.rttvar_ms == pytest.approx(rttvar)
    # failures and unknown RTTs leave the estimate alone
    r.observe("p", "gun", False, 5.0, 10)
    r.observe("p", "gun", True, None, 11)
    assert r.snapshot("p")[0].srtt_ms == pytest.approx(srtt)


def test_rank_is_pure_and_lower_latency_wins() -> None:
    r = Router(exploration=1.0)
    for i in range(20):
        r.observe("p", "gun", True, 500.0, i)
        r.observe("p", "peerjs", True, 20.0, i)
    before = r.snapshot("p")
    first = r.rank("p", T3, 100)
    assert [r.rank("p", T3, 100) for _ in range(5)] == [first] * 5
    assert r.snapshot("p") == before
    assert [t for t, _ in first][:2] == ["peerjs", "integrated"]
    assert [t for t, _ in first].index("peerjs") < [t for t, _ in first].index("gun")


def test_plan_parallel_when_unknown() -> None:
    r = Router(exploration=0.0)
    plan = r.plan("p", T3, 0)
    assert plan == RoutePlan("p", ["integrated", "gun"], [], ["peerjs"], False)
    assert r.plan("p", T3, 0, max_parallel=3).now == T3
    assert r.plan("p", [], 0) == RoutePlan("p", [], [], [], False)


def test_plan_hedges_from_primary_latency() -> None:
    r = Router(exploration=0.0, hedge_k=2.0, min_hedge_ms=10, max_hedge_ms=2000)
    r.observe("p", "integrated", True, 100.0, 0)  # srtt 100, rttvar 50
    plan = r.plan("p", T3, 0, max_parallel=3)
    assert plan.now == ["integrated"]
    assert plan.hedges == [("gun", 200), ("peerjs", 400)]
    assert plan.fallbacks == []
    assert r.plan("p", T3, 0, max_parallel=1) == RoutePlan("p", ["integrated"], [], ["gun", "peerjs"])


def test_plan_hedge_delay_clamped() -> None:
    r = Router(exploration=0.0, min_hedge_ms=50, max_hedge_ms=150)
    r.observe("fast", "integrated", True, 1.0, 0)
    r.observe("slow", "integrated", True, 300.0, 0)
    assert r.plan("fast", T3, 0).hedges == [("gun", 50)]
    assert r.plan("slow", T3, 0).hedges == [("gun", 150)]


def test_plan_parallel_when_primary_unreliable() -> None:
    r = Router({"a": 0.45, "b": 0.2}, exploration=0.0, parallel_below=0.5)
    r.observe("p", "a", True, 10.0, 0)  # reliability (0.9 + 1) / 3 = 0.63
    assert r.plan("p", ["a", "b"], 0).now == ["a"]
    for _ in range(3):
        r.observe("p", "a", False, None, 0)  # (0.9 + 1) / 6 = 0.32
    plan = r.plan("p", ["a", "b"], 0)
    assert plan.now == ["a", "b"]
    assert plan.hedges == []


def _explore_run(seed: int) -> list[RoutePlan]:
    r = Router(exploration=0.3, seed=seed)
    r.observe("p", "integrated", True, 10.0, 0)
    r.observe("p", "peerjs", True, 10.0, 5)
    return [r.plan("p", T3, 10, max_parallel=1) for _ in range(300)]


def test_exploration_deterministic_and_prefers_least_recent() -> None:
    a = _explore_run(7)
    assert a == _explore_run(7)
    assert a != _explore_run(8)
    explored = [p for p in a if p.explored]
    assert 40 < len(explored) < 140
    # gun was never observed: exploration promotes it, the best becomes a fallback
    assert all(p.now == ["gun"] and p.fallbacks[0] == "integrated" for p in explored)
    assert all(p.now == ["integrated"] for p in a if not p.explored)
    never = Router(exploration=0.0)
    assert not any(never.plan("p", T3, 0).explored for _ in range(100))


def test_breakers_filter_rank_plan_rank_many() -> None:
    reg = BreakerRegistry()
    r = Router(breakers=reg, exploration=0.0)
    assert r.breakers is reg
    reg.force_open("p|integrated", now_ms=0)
    assert [t for t, _ in r.rank("p", T3, 0)] == ["gun", "peerjs"]
    assert [t for t, _ in r.rank("q", T3, 0)] == T3
    assert "integrated" not in r.plan("p", T3, 0, max_parallel=3).now
    order, scores = r.rank_many(["p", "q"], T3, 0)
    assert order.tolist() == [[1, 2, -1], [0, 1, 2]]
    assert math.isnan(scores[0, 2])
    reg.force_reset("p|integrated")
    assert [t for t, _ in r.rank("p", T3, 0)] == T3


def test_rank_many_agrees_with_rank() -> None:
    r = Router()
    peers = [f"peer-{i}" for i in range(50)]
    transports = ["gun", "peerjs", "integrated", "ws"]
    for i, p in enumerate(peers):
        for k, t in enumerate(transports):
            if (i + k) % 3:
                r.observe(p, t, (i * k) % 4 != 0, float(10 + i + 7 * k), i)
    order, scores = r.rank_many(peers, transports, 100)
    assert order.dtype == np.int32
    assert scores.dtype == np.float64
    assert order.shape == scores.shape == (50, 4)
    for i, p in enumerate(peers):
        ranked = r.rank(p, transports, 100)
        assert [transports[j] for j in order[i]] == [t for t, _ in ranked]
        assert scores[i].tolist() == [s for _, s in ranked]
    empty_order, _ = r.rank_many([], transports, 0)
    assert empty_order.shape == (0, 4)


def test_rank_many_large_batch_releases_gil_and_matches() -> None:
    r = Router()
    peers = [f"peer-{i}" for i in range(5000)]
    for i in range(0, 5000, 7):
        r.observe(peers[i], "peerjs", True, 5.0, 0)
    order, _ = r.rank_many(peers, T3, 0)
    assert order[0].tolist() == [0, 2, 1]
    assert order[1].tolist() == [0, 1, 2]


def test_snapshot_forget_len_and_eviction() -> None:
    r = Router(max_peers=3)
    for i, p in enumerate(["a", "b", "c"]):
        r.observe(p, "gun", True, 10.0, i)
    r.observe("a", "peerjs", False, None, 10)
    r.observe("d", "gun", True, 10.0, 11)
    assert len(r) == 3
    assert r.evictions == 1
    assert r.snapshot("b") == []
    assert [(s.peer, s.transport) for s in r.snapshot()] == [
        ("d", "gun"),
        ("a", "gun"),
        ("a", "peerjs"),
        ("c", "gun"),
    ]
    assert r.pair_count == 4
    assert r.forget("a") is True
    assert r.forget("a") is False
    assert len(r) == 2
    assert r.pair_count == 2
    assert r.max_peers == 3


def test_value_types() -> None:
    r = Router()
    r.observe("p", "gun", True, 10.0, 3)
    (s,) = r.snapshot("p")
    assert isinstance(s, RouteStats)
    assert s == r.snapshot("p")[0]
    assert repr(s).startswith("RouteStats(peer='p', transport='gun'")
    assert s.last_observed_ms == 3
    none_rtt = Router()
    none_rtt.observe("p", "gun", False, None, 0)
    assert none_rtt.snapshot()[0].srtt_ms is None
    assert none_rtt.snapshot()[0].rttvar_ms is None
    plan = RoutePlan("p", ["a"], [("b", 5)], ["c"], True)
    assert plan == RoutePlan("p", ["a"], [("b", 5)], ["c"], True)
    assert hash(plan) == hash(RoutePlan("p", ["a"], [("b", 5)], ["c"], True))
    assert plan != RoutePlan("p", ["a"], [("b", 6)], ["c"], True)
    assert repr(plan) == "RoutePlan(peer='p', now=['a'], hedges=[('b', 5)], fallbacks=['c'], explored=True)"
    with pytest.raises(AttributeError):
        plan.peer = "q"  # type: ignore[misc]
    with pytest.raises(InvalidArgumentError):
        RoutePlan("p", [], [("b", -1)], [])


def test_rto_is_rfc_6298_clamped_and_the_ceiling_before_a_sample() -> None:
    r = swarmmesh.Router()
    assert r.rto_ms("p", "gun", 100.0, 5_000.0) == 5_000.0
    r.observe("p", "gun", True, 200.0, 1)
    assert r.rto_ms("p", "gun", 100.0, 5_000.0) == pytest.approx(600.0)  # 200 + 4 * 100
    assert r.rto_ms("p", "gun", 700.0, 5_000.0) == pytest.approx(700.0)
    assert r.rto_ms("p", "gun", 100.0, 300.0) == pytest.approx(300.0)
    assert r.rto_ms("p", "peerjs", 100.0, 800.0) == 800.0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(swarmmesh.InvalidArgumentError):
            r.rto_ms("p", "gun", bad, 5_000.0)
