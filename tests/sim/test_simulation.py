"""The issue's simulation: 120 nodes, three lossy transports, 2 000 broadcasts, unicast between pairs.

Zero-latency links and a manual clock: the broadcasts need no time at all (frames go out on the
next loop iteration), and the clock moves only to time out lost unicast attempts and to let the
health monitor ping, so the run is fast and the same for a seed.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from swarmmesh import MeshConfig

from .swarm import Swarm

NODES = 120
BROADCASTS = 2_000
BATCH = 100
# Worst first: the router has to learn that the last one is best, the order gives it nothing.
LOSSES = {"t40": 0.40, "t10": 0.10, "t01": 0.01}


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_120_nodes_three_lossy_transports() -> None:
    swarm = Swarm(NODES, LOSSES, seed=4, config=MeshConfig(send_timeout_s=30.0, attempt_timeout_s=0.5))
    async with swarm:
        await swarm.start(degree=8)
        assert all(len(m.peers()) >= 4 for m in swarm.meshes)
        subs = [m.subscribe("sim") for m in swarm.meshes]

        # 2 000 broadcasts from random origins, in batches.
        origins: dict[bytes, int] = {}
        for start in range(0, BROADCASTS, BATCH):
            for k in range(start, min(start + BATCH, BROADCASTS)):
                i = swarm.rng.randrange(NODES)
                mid = await swarm.meshes[i].broadcast("sim", k.to_bytes(4, "big"))
                origins[mid] = i
            await swarm.settle()

        delivered = 0
        for idx, sub in enumerate(subs):
            seen: Counter[bytes] = Counter()
            while (msg := sub.get_nowait()) is not None:
                seen[msg.message_id] += 1
                assert msg.origin == swarm.keys[origins[msg.message_id]].address
            assert all(c == 1 for c in seen.values()), "a node got a broadcast twice"
            assert not any(origins[mid] == idx for mid in seen), "an origin got its own broadcast"
            delivered += len(seen)
        expected = BROADCASTS * (NODES - 1)
        assert delivered >= 0.999 * expected, f"{delivered}/{expected} deliveries"

        # Let the health monitor measure the links for a while (pings on the manual clock).
        await swarm.clock.advance(40.0, step=1.0)

        # Unicast between random linked pairs: every send acknowledged.
        edges = sorted(swarm.edges)
        pairs = [edges[swarm.rng.randrange(len(edges))] for _ in range(600)]
        inbox = [m.subscribe("direct") for m in swarm.meshes]

        async def one(k: int, a: int, b: int) -> None:
            receipt = await swarm.meshes[a].send(swarm.keys[b].address, "direct", k.to_bytes(4, "big"))
            assert receipt.transport in LOSSES
            assert receipt.attempts >= 1

        sends = asyncio.gather(*(one(k, a, b) for k, (a, b) in enumerate(pairs)))
        await swarm.drive(sends)
        await sends
        got = Counter(msg.payload for sub in inbox for msg in iter(sub.get_nowait, None))
        assert len(got) == len(pairs)
        assert all(c == 1 for c in got.values())

        first = Counter[str]()
        for m in swarm.meshes:
            first.update(m.stats()["first_attempts"])  # type: ignore[arg-type]
        assert first["t01"] > 0.5 * sum(first.values()), first
