"""Failover: the best transport dies under a stream of acknowledged sends, then comes back."""

from __future__ import annotations

import asyncio
from collections import Counter

from swarmmesh import MeshConfig

from .swarm import Swarm

LATENCY = {"integrated": 5.0, "gun": 20.0, "peerjs": 40.0}


async def _stream(swarm: Swarm, n: int, start: int) -> list[str]:
    """Send ``n`` messages from node 0 to node 1, one at a time, each acknowledged."""
    a, b = swarm.meshes[0], swarm.keys[1].address
    used: list[str] = []
    for k in range(start, start + n):
        task = asyncio.ensure_future(a.send(b, "stream", k.to_bytes(4, "big")))
        await swarm.drive(task, step=0.005)
        used.append(task.result().transport)
    return used


async def test_best_transport_killed_and_revived_under_an_acked_stream() -> None:
    swarm = Swarm(2, dict.fromkeys(LATENCY, 0.0), seed=3, config=MeshConfig(attempt_timeout_s=0.3))
    for name, ms in LATENCY.items():
        swarm.net.set_conditions(name, latency_ms=ms)
    async with swarm:
        await swarm.start()
        a, b = swarm.meshes
        peer = swarm.keys[1].address
        await a.connect(peer)
        inbox = b.subscribe("stream")

        before = await _stream(swarm, 40, 0)
        assert Counter(before[-20:]).most_common(1)[0][0] == "integrated"

        swarm.net.kill("integrated")
        # About 6 s of stream: every message acknowledged (no DeliveryError), while the failed
        # attempts and redials of the dead transport open the pair's breaker.
        during = await _stream(swarm, 150, 40)
        assert "integrated" not in during
        assert a.resilience.state(peer, "integrated") in ("open", "half_open")
        opened = [e for e in a.resilience.events() if e.key == f"{peer}|integrated" and e.to_state == "open"]
        assert opened, "the pair's breaker never opened"

        swarm.net.revive("integrated")
        # Time passes (pings, the recovery loop, decay): the breaker half-opens and closes.
        await swarm.clock.advance(180.0, step=0.5)
        after = await _stream(swarm, 60, 190)
        states = [e.to_state for e in a.resilience.events() if e.key == f"{peer}|integrated"]
        assert "half_open" in states
        assert states[-1] == "closed"
        assert a.resilience.state(peer, "integrated") == "closed"
        assert Counter(after[-20:]).most_common(1)[0][0] == "integrated", after

        # Nothing acknowledged was lost, nothing delivered twice.
        got = [m.payload for m in iter(inbox.get_nowait, None)]
        assert sorted(got) == [k.to_bytes(4, "big") for k in range(250)]
