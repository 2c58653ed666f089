"""Two meshes linked over real WebSocket on loopback (plus a memory transport): sends and broadcasts."""

from __future__ import annotations

import asyncio

from swarmmesh import Keypair, MemoryNetwork, Mesh, MeshConfig, WebSocketTransport


async def test_two_meshes_over_websocket_and_memory() -> None:
    ka, kb = Keypair.from_seed(b"\x11" * 32), Keypair.from_seed(b"\x12" * 32)
    net = MemoryNetwork(seed=1)
    wa, wb = WebSocketTransport(ka), WebSocketTransport(kb)
    a = Mesh(ka, [wa, net.transport("gun", ka)], config=MeshConfig(seed=1))
    b = Mesh(kb, [wb, net.transport("gun", kb)], config=MeshConfig(seed=2))
    async with a, b:
        assert wb.listen_url is not None
        inbox, news = b.subscribe("chat"), a.subscribe("news")
        assert await a.connect(address=wb.listen_url) == kb.address  # websocket by URL
        assert await a.connect(kb.address) == kb.address  # then memory by peer id
        assert a.links()[kb.address] == {"websocket", "gun"}
        net.kill("gun")  # only the WebSocket link can deliver now
        receipts = [await a.send(kb.address, "chat", bytes([k]), timeout=5.0) for k in range(20)]
        assert {r.transport for r in receipts} == {"websocket"}
        got = [m.payload for m in iter(inbox.get_nowait, None)]
        assert got == [bytes([k]) for k in range(20)]
        mid = await b.broadcast("news", b"over the wire")
        msg = await asyncio.wait_for(anext(news), 5.0)
        assert (msg.message_id, msg.transport) == (mid, "websocket")
