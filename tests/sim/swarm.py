"""Helpers to build a swarm of meshes on one MemoryNetwork and drive it to quiescence."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

from swarmmesh import FeatureFlags, Keypair, MemoryNetwork, Mesh, MeshConfig
from swarmmesh.clock import ManualClock


def keypair(i: int) -> Keypair:
    return Keypair.from_seed(i.to_bytes(4, "big") * 8)


def random_graph(n: int, degree: int, rng: random.Random) -> set[tuple[int, int]]:
    """About ``degree`` links per node: each node picks partners with spare degree, at random."""
    deg = [0] * n
    edges: set[tuple[int, int]] = set()
    for i in range(n):
        tries = 0
        while deg[i] < degree and tries < 20 * n:
            tries += 1
            j = rng.randrange(n)
            e = (min(i, j), max(i, j))
            if j == i or e in edges or (deg[j] >= degree and tries < 10 * n):
                continue
            edges.add(e)
            deg[i] += 1
            deg[j] += 1
    return edges


class Swarm:
    """``n`` meshes, each with one transport per entry of ``losses`` (name -> loss)."""

    def __init__(
        self,
        n: int,
        losses: Mapping[str, float],
        *,
        seed: int = 1,
        config: MeshConfig | None = None,
        flags: FeatureFlags | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.clock = clock if clock is not None else ManualClock()
        self.net = MemoryNetwork(seed=seed, clock=self.clock)
        for name, loss in losses.items():
            self.net.set_conditions(name, loss=loss)
        base = config if config is not None else MeshConfig()
        self.keys = [keypair(i) for i in range(n)]
        self.meshes = [
            Mesh(
                kp,
                [self.net.transport(name, kp) for name in losses],
                config=base.replace(seed=seed * 1_000 + i),
                flags=flags if flags is not None else FeatureFlags(),
                clock=self.clock,
            )
            for i, kp in enumerate(self.keys)
        ]
        self.rng = random.Random(seed)
        self.edges: set[tuple[int, int]] = set()

    async def start(self, degree: int | None = None) -> None:
        for m in self.meshes:
            await m.start()
        if degree is not None:
            self.edges = random_graph(len(self.meshes), degree, self.rng)
            for i, j in sorted(self.edges):
                await self.meshes[i].connect(self.keys[j].address)

    async def stop(self) -> None:
        for m in self.meshes:
            await m.stop()

    async def __aenter__(self) -> Swarm:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def settle(self, *, max_rounds: int = 100_000) -> None:
        """Run the loop until no frame is queued or in flight anywhere (zero-latency links)."""
        quiet = 0
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            if self.net.in_flight() == 0 and all(m.backlog() == 0 for m in self.meshes):
                quiet += 1
                if quiet >= 3:
                    return
            else:
                quiet = 0
        raise AssertionError("the swarm did not settle")

    async def drive(self, fut: asyncio.Future[object] | asyncio.Task[object], *, step: float = 0.05) -> None:
        """Advance the manual clock until ``fut`` is done."""
        for _ in range(100_000):
            if fut.done():
                return
            await self.clock.advance(step)
        raise AssertionError("the future never completed")
