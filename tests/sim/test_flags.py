"""Feature flags: each off and on, and flipped at runtime under traffic."""

from __future__ import annotations

import asyncio
from collections import Counter

from swarmmesh import FeatureFlags, MeshConfig

from .swarm import Swarm

NAMES = {"integrated": 0.0, "gun": 0.0, "peerjs": 0.0}


async def _send_many(swarm: Swarm, n: int, start: int = 0, topic: str = "t") -> list[str]:
    a, b = swarm.meshes[0], swarm.keys[1].address
    tasks = [asyncio.ensure_future(a.send(b, topic, k.to_bytes(4, "big"))) for k in range(start, start + n)]
    done = asyncio.gather(*tasks)
    await swarm.drive(done, step=0.01)
    return [t.result().transport for t in tasks]


async def test_hybrid_off_is_the_legacy_single_transport_manager() -> None:
    swarm = Swarm(2, NAMES, flags=FeatureFlags(hybrid_orchestrator=False))
    swarm.net.set_conditions("gun", loss=0.3)
    async with swarm:
        await swarm.start()
        a, b = swarm.meshes
        assert a.legacy_transport == "peerjs"
        await a.connect(swarm.keys[1].address)
        assert a.links()[swarm.keys[1].address] == {"peerjs"}
        used = await _send_many(swarm, 30)
        assert set(used) == {"peerjs"}
        counters = a.stats()["counters"]
        assert isinstance(counters, dict)
        assert counters.get("hedges", 0) == 0
        assert counters["attempts"] == 30
        sub = b.subscribe("bc")
        await a.broadcast("bc", b"x")
        await swarm.settle()
        msg = sub.get_nowait()
        assert msg is not None
        assert msg.transport == "peerjs"


async def test_hybrid_off_legacy_transport_from_config_and_sequential_retries() -> None:
    swarm = Swarm(
        2,
        NAMES,
        # Breakers in metrics-only mode: a run of lost attempts must not open the only route.
        flags=FeatureFlags(hybrid_orchestrator=False, connection_resilience=False),
        config=MeshConfig(legacy_transport="gun", attempt_timeout_s=0.2, legacy_attempts=8),
    )
    swarm.net.set_conditions("gun", loss=0.3)
    async with swarm:
        await swarm.start()
        await swarm.meshes[0].connect(swarm.keys[1].address)
        used = await _send_many(swarm, 20)
        assert set(used) == {"gun"}
        counters = swarm.meshes[0].stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["attempts"] > 20  # lost attempts were retried, one after another
        assert counters.get("hedges", 0) == 0


async def test_hybrid_on_uses_several_transports() -> None:
    swarm = Swarm(2, NAMES)
    async with swarm:
        await swarm.start()
        await swarm.meshes[0].connect(swarm.keys[1].address)
        assert swarm.meshes[0].links()[swarm.keys[1].address] == set(NAMES)
        used = await _send_many(swarm, 20)
        assert set(used) <= set(NAMES)
        counters = swarm.meshes[0].stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["attempts"] > 20  # the first sends go out in parallel (no estimate yet)


async def test_resilience_off_is_metrics_only() -> None:
    for enabled in (True, False):
        swarm = Swarm(2, NAMES, flags=FeatureFlags(connection_resilience=enabled))
        async with swarm:
            await swarm.start()
            a = swarm.meshes[0]
            peer = swarm.keys[1].address
            await a.connect(peer)
            await _send_many(swarm, 10)
            swarm.net.kill("integrated")
            await _send_many(swarm, 30, start=10)  # opens the pair's breaker
            assert a.resilience.peer_breakers.stats()["openings"] >= 1
            now, hedges, fallbacks = a.plan_routes(peer)
            planned = set(now) | {t for t, _ in hedges} | set(fallbacks)
            assert a.resilience.enabled is enabled
            if enabled:  # the open breaker keeps the dead transport out of every plan
                assert not a.resilience.would_allow(peer, "integrated")
                assert "integrated" not in planned
                assert not a.resilience.allow(peer, "integrated")
                assert a.resilience.peer_breakers.stats()["refused"] == 1
            else:  # metrics-only: still planned and admitted, the refusal it would make is counted
                assert a.resilience.would_allow(peer, "integrated")
                assert "integrated" in planned
                assert a.resilience.allow(peer, "integrated")
                assert a.resilience.peer_breakers.stats()["refusals_suppressed"] == 1
            assert a.resilience.state(peer, "integrated") == "open"  # the state machine runs in both


async def test_flags_flipped_at_runtime_under_traffic_lose_nothing() -> None:
    flags = FeatureFlags()
    swarm = Swarm(2, {"integrated": 0.02, "gun": 0.02, "peerjs": 0.02}, flags=flags)
    async with swarm:
        await swarm.start()
        a, b = swarm.meshes
        await a.connect(swarm.keys[1].address)
        inbox = b.subscribe("t")
        peer = swarm.keys[1].address
        tasks = [asyncio.ensure_future(a.send(peer, "t", k.to_bytes(4, "big"))) for k in range(200)]
        done = asyncio.gather(*tasks, return_exceptions=True)
        flips = [
            ("hybrid_orchestrator", False),
            ("connection_resilience", False),
            ("hybrid_orchestrator", True),
            ("connection_resilience", True),
            ("hybrid_orchestrator", False),
        ]
        for name, value in flips:
            await swarm.clock.advance(0.02)
            flags.set(name, value)
        assert a.hybrid is False
        assert a.resilience.enabled is True
        await swarm.drive(done, step=0.01)
        acked = {k.to_bytes(4, "big") for k, t in enumerate(tasks) if t.exception() is None}
        assert len(acked) >= 198  # a send may fail (every route lost it), an acked one is never lost
        got = Counter(m.payload for m in iter(inbox.get_nowait, None))
        assert acked <= set(got)
        assert set(got.values()) == {1}
        flags.set("hybrid_orchestrator", True)
        await swarm.clock.advance(0.5)
        assert a.links()[peer] == {"integrated", "gun", "peerjs"}
