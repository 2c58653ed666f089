"""Partition and heal with broadcasts on both sides."""

from __future__ import annotations

from swarmmesh import MeshConfig

from .swarm import Swarm


async def test_partition_then_heal() -> None:
    swarm = Swarm(16, {"gun": 0.0, "peerjs": 0.05}, seed=5, config=MeshConfig())
    async with swarm:
        await swarm.start(degree=4)
        subs = [m.subscribe("p") for m in swarm.meshes]
        left = [k.address for k in swarm.keys[:8]]
        right = [k.address for k in swarm.keys[8:]]
        swarm.net.partition(left, right)

        west = await swarm.meshes[0].broadcast("p", b"west")
        east = await swarm.meshes[15].broadcast("p", b"east")
        await swarm.settle()
        for i, sub in enumerate(subs):
            ids = {m.message_id for m in iter(sub.get_nowait, None)}
            if i < 8:
                assert east not in ids
                assert i == 0 or west in ids or not _connected_within(swarm, i, 0, range(8))
            else:
                assert west not in ids

        swarm.net.heal()
        again = [await swarm.meshes[i].broadcast("p", f"after-{i}".encode()) for i in (3, 12)]
        await swarm.settle()
        for i, sub in enumerate(subs):
            ids = {m.message_id for m in iter(sub.get_nowait, None)}
            for j, mid in zip((3, 12), again, strict=True):
                if i != j:
                    assert mid in ids, f"node {i} missed the broadcast of node {j} after heal"


def _connected_within(swarm: Swarm, a: int, b: int, side: range) -> bool:
    """Whether ``a`` and ``b`` are connected by links inside ``side`` (a partition may cut a side)."""
    seen, todo = {a}, [a]
    while todo:
        x = todo.pop()
        for i, j in swarm.edges:
            for u, v in ((i, j), (j, i)):
                if u == x and v in side and v not in seen:
                    seen.add(v)
                    todo.append(v)
    return b in seen
