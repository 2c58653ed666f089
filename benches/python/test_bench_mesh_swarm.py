"""Broadcast deliveries per second in a 100-node mesh, beside a plain asyncio flood.

Group ``mesh-swarm``: 100 meshes on one MemoryNetwork (three transports each, zero latency,
the system clock), linked in a random graph of degree 4; node 0 broadcasts ``N_MESSAGES``
signed 100-byte messages and every other node subscribes. A round ends when all
``99 * N_MESSAGES`` deliveries have arrived. The baseline floods the same graph with only
the queue hops: one asyncio queue per node, a set to drop copies already seen, and a copy
to every neighbour but the sender; no envelopes, signatures, routing or breakers. The
ratio ``extra_info["overhead"]`` is baseline rate / mesh rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from tests.sim.swarm import random_graph

from swarmmesh import Keypair, MemoryNetwork, Mesh, MeshConfig

from .conftest import scaled

NODES = 100
DEGREE = 4
NAMES = ("integrated", "gun", "peerjs")
N_MESSAGES = scaled(200, 20)
ROUNDS = scaled(3, 1)
GROUP = f"mesh-swarm: broadcast deliveries, {NODES} nodes, degree {DEGREE}"


def _graph() -> set[tuple[int, int]]:
    return random_graph(NODES, DEGREE, random.Random(7))


class _Swarm:
    """100 started, linked meshes on one MemoryNetwork, subscribed to the bench topic."""

    def __init__(self, n: int) -> None:
        self.net = MemoryNetwork(seed=1, queue_size=8 * n)
        self.keys = [Keypair.from_seed(i.to_bytes(4, "big") * 8) for i in range(NODES)]
        cfg = MeshConfig(seed=1, router_exploration=0.0)
        self.meshes = [
            Mesh(kp, [self.net.transport(name, kp) for name in NAMES], config=cfg.replace(seed=i + 1))
            for i, kp in enumerate(self.keys)
        ]

    async def start(self) -> None:
        for m in self.meshes:
            await m.start()
        for i, j in sorted(_graph()):
            await self.meshes[i].connect(self.keys[j].address)

    async def stop(self) -> None:
        for m in self.meshes:
            await m.stop()

    async def broadcast_round(self, n: int) -> float:
        """Seconds from the first broadcast to the last of the ``99 * n`` deliveries."""
        subs = [m.subscribe("bench") for m in self.meshes[1:]]
        payload = bytes(100)

        async def drain(sub: Any) -> None:
            for _ in range(n):
                await sub.get()

        t0 = time.perf_counter()
        receivers = [asyncio.create_task(drain(s)) for s in subs]
        for _ in range(n):
            await self.meshes[0].broadcast("bench", payload)
        await asyncio.gather(*receivers)
        seconds = time.perf_counter() - t0
        for s in subs:
            s.close()
        return seconds


async def _baseline_round(n: int) -> float:
    neighbours: list[list[int]] = [[] for _ in range(NODES)]
    for i, j in _graph():
        neighbours[i].append(j)
        neighbours[j].append(i)
    queues: list[asyncio.Queue[tuple[int, int, bytes]]] = [asyncio.Queue() for _ in range(NODES)]
    delivered = [0] * NODES
    done = asyncio.Event()
    total = (NODES - 1) * n
    count = 0

    async def node(me: int) -> None:
        nonlocal count
        seen: set[int] = set()
        q = queues[me]
        while True:
            sender, msg_id, payload = await q.get()
            if msg_id in seen:
                continue
            seen.add(msg_id)
            delivered[me] += 1
            count += 1
            if count == total:
                done.set()
            for peer in neighbours[me]:
                if peer != sender:
                    queues[peer].put_nowait((me, msg_id, payload))

    tasks = [asyncio.create_task(node(i)) for i in range(1, NODES)]
    payload = bytes(100)
    t0 = time.perf_counter()
    for msg_id in range(n):
        for peer in neighbours[0]:
            queues[peer].put_nowait((0, msg_id, payload))
        await asyncio.sleep(0)
    await done.wait()
    seconds = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(d == n for d in delivered[1:])
    return seconds


def _record(benchmark: Any, seconds: list[float]) -> float:
    rate = (NODES - 1) * N_MESSAGES / min(seconds)
    benchmark.group = GROUP
    benchmark.extra_info["items"] = (NODES - 1) * N_MESSAGES
    benchmark.extra_info["deliveries_per_s"] = round(rate)
    return rate


def test_swarm_broadcast_mesh(benchmark: Any) -> None:
    """Only the broadcasts are timed: each round starts a fresh swarm outside the timing."""
    benchmark.name = "swarmmesh Mesh.broadcast (signed, batch-verified; MemoryNetwork, 3 transports)"
    benchmark.group = GROUP  # before pedantic, which files the row under it
    loop = asyncio.new_event_loop()
    live: list[_Swarm] = []
    mesh: list[float] = []

    def setup() -> tuple[tuple[()], dict[str, object]]:
        while live:
            loop.run_until_complete(live.pop().stop())
        swarm = _Swarm(N_MESSAGES)
        loop.run_until_complete(swarm.start())
        live.append(swarm)
        return (), {}

    def run() -> None:
        mesh.append(loop.run_until_complete(live[-1].broadcast_round(N_MESSAGES)))

    try:
        benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        while live:
            loop.run_until_complete(live.pop().stop())
        loop.close()
    rate = _record(benchmark, mesh)
    base = [asyncio.run(_baseline_round(N_MESSAGES)) for _ in range(ROUNDS)]
    baseline_rate = (NODES - 1) * N_MESSAGES / min(base)
    benchmark.extra_info["baseline_deliveries_per_s"] = round(baseline_rate)
    benchmark.extra_info["overhead"] = round(baseline_rate / rate, 2)


def test_swarm_broadcast_baseline(benchmark: Any) -> None:
    benchmark.name = "plain asyncio flood (queue hops and a seen-set only)"
    benchmark.group = GROUP
    base: list[float] = []
    benchmark.pedantic(lambda: base.append(asyncio.run(_baseline_round(N_MESSAGES))), rounds=ROUNDS)
    _record(benchmark, base)
