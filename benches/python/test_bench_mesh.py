"""Benchmarks of the mesh on a MemoryNetwork, each beside a plain asyncio baseline.

* ``mesh-unicast``: acknowledged unicast messages per second between two meshes (three
  transports, zero latency, the system clock), against a baseline that only does the queue
  hops (a message queue one way, an ack queue back, one future per message). The ratio
  is the orchestration overhead (envelopes, plans, breakers, acks, dedup).
* ``mesh-orchestration``: the per-message decisions alone in a tight loop (dedup check,
  route plan, breaker allow + record, router observe), the issue's 3 us budget.
* The pubsub group shared with ``test_bench_libp2p.py``: broadcasts of 100-byte messages
  from one mesh to another (signed, verified in batches), beside py-libp2p's floodsub.
  The first mesh row runs in memory (three transports), py-libp2p over loopback TCP: the
  numbers are what a user would get from each on one machine, not the same work. The
  second mesh row is closer to py-libp2p's: one ``WebSocketTransport`` link over loopback
  TCP, framing and socket writes included.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import timeit
from collections.abc import Callable, Coroutine
from typing import Any

from swarmmesh import (
    BreakerConfig,
    BreakerRegistry,
    DedupFilter,
    Keypair,
    MemoryNetwork,
    Mesh,
    MeshConfig,
    Router,
    WebSocketTransport,
)

from .conftest import scaled

NAMES = ("integrated", "gun", "peerjs")
N_UNICAST = scaled(5_000, 500)
WINDOW = 256
N_PUBSUB = scaled(2_000, 300)
PUBSUB_GROUP = "mesh: pubsub 100-byte messages, two nodes on one machine"


def _pair(net: MemoryNetwork) -> tuple[Mesh, Mesh, Keypair, Keypair]:
    ka, kb = Keypair.from_seed(b"\x01" * 32), Keypair.from_seed(b"\x02" * 32)
    cfg = MeshConfig(seed=1, router_exploration=0.0)
    a = Mesh(ka, [net.transport(n, ka) for n in NAMES], config=cfg)
    b = Mesh(kb, [net.transport(n, kb) for n in NAMES], config=cfg.replace(seed=2))
    return a, b, ka, kb


async def _mesh_unicast(n: int) -> float:
    net = MemoryNetwork(seed=1, queue_size=4 * WINDOW)
    a, b, _, kb = _pair(net)
    async with a, b:
        sub = b.subscribe("bench")
        await a.connect(kb.address)
        await a.send(kb.address, "bench", b"warm-up")
        payload = bytes(100)
        slots = asyncio.Semaphore(WINDOW)

        async def one() -> None:
            async with slots:
                await a.send(kb.address, "bench", payload)

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        seconds = time.perf_counter() - t0
        assert len(sub) == n + 1
    return seconds


async def _baseline_unicast(n: int) -> float:
    """Only the hops: a message queue to the receiver, an ack queue back, a future per message."""
    to_b: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue(4 * WINDOW)
    to_a: asyncio.Queue[int] = asyncio.Queue(4 * WINDOW)
    waiting: dict[int, asyncio.Future[None]] = {}
    received: list[bytes] = []

    async def receiver() -> None:
        while True:
            k, data = await to_b.get()
            received.append(data)
            await to_a.put(k)

    async def acker() -> None:
        while True:
            k = await to_a.get()
            waiting.pop(k).set_result(None)

    loop = asyncio.get_running_loop()
    slots = asyncio.Semaphore(WINDOW)

    async def one(k: int) -> None:
        async with slots:
            fut = waiting[k] = loop.create_future()
            await to_b.put((k, bytes(100)))
            await fut

    tasks = [loop.create_task(receiver()), loop.create_task(acker())]
    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(n)))
    seconds = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(received) == n
    return seconds


def test_unicast_acked_mesh(benchmark: Any) -> None:
    benchmark.group = "mesh-unicast: acknowledged 100-byte messages, two meshes on a MemoryNetwork"
    benchmark.name = "swarmmesh Mesh.send (3 transports, window 256)"
    results: list[float] = []
    benchmark.pedantic(lambda: results.append(asyncio.run(_mesh_unicast(N_UNICAST))), rounds=scaled(3, 1))
    base = asyncio.run(_baseline_unicast(N_UNICAST))
    benchmark.extra_info["items"] = N_UNICAST
    benchmark.extra_info["messages_per_s"] = round(N_UNICAST / min(results))
    benchmark.extra_info["baseline_messages_per_s"] = round(N_UNICAST / base)
    benchmark.extra_info["overhead_ratio"] = round(min(results) / base, 2)


def test_unicast_acked_baseline(benchmark: Any) -> None:
    benchmark.group = "mesh-unicast: acknowledged 100-byte messages, two meshes on a MemoryNetwork"
    benchmark.name = "baseline: asyncio queue hops + futures only"
    results: list[float] = []
    benchmark.pedantic(lambda: results.append(asyncio.run(_baseline_unicast(N_UNICAST))), rounds=scaled(3, 1))
    benchmark.extra_info["items"] = N_UNICAST
    benchmark.extra_info["messages_per_s"] = round(N_UNICAST / min(results))


def _orchestration_step() -> tuple[Any, int]:
    """One message's decisions, as the mesh makes them, over rotating peers."""
    breakers = BreakerRegistry(BreakerConfig(), seed=1)
    router = Router(seed=1, breakers=breakers, exploration=0.05)
    dedup = DedupFilter(1_000_000, 1e-7, 300_000, seed=1)
    peers = [f"sw1peer{i:05d}" for i in range(1_000)]
    ids = [hashlib.blake2b(i.to_bytes(8, "little"), digest_size=16).digest() for i in range(200_000)]
    names = list(NAMES)
    state = {"i": 0}

    def step() -> None:
        i = state["i"] = state["i"] + 1
        now = 1_000 + i // 100
        peer = peers[i % 1_000]
        dedup.check_and_insert(ids[i % 200_000], now)
        plan = router.plan(peer, names, now, 2)
        key = f"{peer}|{plan.now[0]}"
        if breakers.allow(key, now):
            breakers.record_success(key, now)
        router.observe(peer, plan.now[0], True, 12.0, now)

    return step, len(ids)


def test_orchestration_per_message(benchmark: Any) -> None:
    benchmark.group = "mesh-orchestration: per-message dedup + plan + breaker + observe"
    benchmark.name = "swarmmesh core calls from Python (1 000 peers x 3 transports)"
    step, _ = _orchestration_step()
    loops = scaled(20_000, 2_000)

    def run() -> None:
        for _ in range(loops):
            step()

    benchmark.pedantic(run, rounds=scaled(5, 1))
    per = min(timeit.repeat(step, number=loops, repeat=3)) / loops
    benchmark.extra_info["items"] = loops
    benchmark.extra_info["us_per_message"] = round(per * 1e6, 3)


async def _burst(a: Mesh, sub: Any, n: int) -> float:
    """Seconds for ``a`` to broadcast ``n`` 100-byte messages until ``sub`` has them all."""
    payload = bytes(100)
    t0 = time.perf_counter()
    for _ in range(n):
        await a.broadcast("bench", payload)
    for _ in range(n):
        await sub.get()
    return time.perf_counter() - t0


def _pubsub_row(benchmark: Any, name: str, run: Callable[[int], Coroutine[Any, Any, float]]) -> None:
    benchmark.group = PUBSUB_GROUP
    benchmark.name = name
    results: list[float] = []
    benchmark.pedantic(lambda: results.append(asyncio.run(run(N_PUBSUB))), rounds=scaled(3, 1))
    benchmark.extra_info["items"] = N_PUBSUB
    benchmark.extra_info["messages_per_s"] = round(N_PUBSUB / min(results))


async def _mesh_pubsub(n: int) -> float:
    net = MemoryNetwork(seed=1, queue_size=4 * n)
    a, b, _, kb = _pair(net)
    async with a, b:
        sub = b.subscribe("bench")
        await a.connect(kb.address)
        return await _burst(a, sub, n)


def test_mesh_pubsub_two_nodes(benchmark: Any) -> None:
    name = "swarmmesh Mesh.broadcast (signed, batch-verified; MemoryNetwork, 3 transports)"
    _pubsub_row(benchmark, name, _mesh_pubsub)


async def _mesh_pubsub_websocket(n: int) -> float:
    ka, kb = Keypair.from_seed(b"\x01" * 32), Keypair.from_seed(b"\x02" * 32)
    wa, wb = WebSocketTransport(ka), WebSocketTransport(kb)
    cfg = MeshConfig(seed=1, router_exploration=0.0)
    a, b = Mesh(ka, [wa], config=cfg), Mesh(kb, [wb], config=cfg.replace(seed=2))
    async with a, b:
        assert wb.listen_url is not None
        sub = b.subscribe("bench")
        await a.connect(address=wb.listen_url)
        return await _burst(a, sub, n)


def test_mesh_pubsub_two_nodes_websocket(benchmark: Any) -> None:
    name = "swarmmesh Mesh.broadcast (signed, batch-verified; one WebSocket link on loopback)"
    _pubsub_row(benchmark, name, _mesh_pubsub_websocket)
