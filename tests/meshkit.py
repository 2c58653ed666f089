"""Shared helpers for the mesh tests: stats views and running a MemoryNetwork to quiescence."""

from __future__ import annotations

import asyncio

from swarmmesh import MemoryNetwork, Mesh


def counters(mesh: Mesh) -> dict[str, int]:
    """``mesh.stats()["counters"]``."""
    c = mesh.stats()["counters"]
    assert isinstance(c, dict)
    return c


def dropped(mesh: Mesh) -> dict[str, int]:
    """``mesh.stats()["dropped"]``."""
    d = mesh.stats()["dropped"]
    assert isinstance(d, dict)
    return d


async def quiet(*meshes: Mesh, net: MemoryNetwork) -> None:
    """Run the loop until nothing is in flight, queued, signed or verified (threads included)."""
    still = 0
    for _ in range(20_000):
        await asyncio.sleep(0 if still < 2 else 0.001)
        if net.in_flight() == 0 and all(m.backlog() == 0 for m in meshes):
            still += 1
            if still >= 3:
                return
        else:
            still = 0
    raise AssertionError("never quiet")
