"""A node's own broadcasts: signed inline, or on the signer thread during a burst, in order,
bounded, and all out before the mesh stops."""

from __future__ import annotations

import asyncio

import pytest

from swarmmesh import Keypair, MemoryNetwork, Mesh, MeshConfig
from swarmmesh.clock import ManualClock
from swarmmesh.errors import DeliveryError
from tests.meshkit import counters, quiet

NAMES = ("integrated", "gun")


def _kp(i: int) -> Keypair:
    return Keypair.from_seed(bytes([i + 70]) * 32)


def _pair(cfg: MeshConfig) -> tuple[MemoryNetwork, Mesh, Mesh, Keypair]:
    clock = ManualClock()
    net = MemoryNetwork(seed=8, clock=clock, queue_size=8192)
    ka, kb = _kp(0), _kp(1)
    a = Mesh(ka, [net.transport(n, ka) for n in NAMES], config=cfg.replace(seed=1), clock=clock)
    b = Mesh(kb, [net.transport(n, kb) for n in NAMES], config=cfg.replace(seed=2), clock=clock)
    return net, a, b, kb


async def test_a_burst_is_signed_off_the_loop_and_arrives_in_order() -> None:
    net, a, b, kb = _pair(MeshConfig(sign_offload_min=10, verify_batch_size=32))
    async with a, b:
        await a.connect(kb.address)
        sub = b.subscribe("news")
        ids = [await a.broadcast("news", k.to_bytes(2, "big")) for k in range(300)]
        assert len(set(ids)) == 300
        assert a.backlog() > 0  # part of the burst waits for the signer thread
        await quiet(a, b, net=net)
        got = [(m.message_id, m.payload) for m in iter(sub.get_nowait, None)]
        assert got == [(mid, k.to_bytes(2, "big")) for k, mid in enumerate(ids)]
        assert counters(a)["sign_offloaded"] >= 9  # 290 of them, in batches of at most 32
        assert counters(a)["broadcasts"] == 300
        assert counters(b)["verified"] == 300
        assert "bad_signature" not in b.stats()["dropped"]  # type: ignore[operator]


async def test_a_small_burst_is_signed_inline_and_queued_before_broadcast_returns() -> None:
    net, a, b, kb = _pair(MeshConfig())
    async with a, b:
        await a.connect(kb.address)
        for k in range(20):
            await a.broadcast("news", bytes([k]))
            assert net.in_flight() == 2 * (k + 1)  # on the wire of both transports already
        assert "sign_offloaded" not in counters(a)


async def test_a_full_sign_queue_makes_broadcast_wait() -> None:
    cfg = MeshConfig(sign_offload_min=1, sign_queue=8, verify_batch_size=4)
    net, a, b, kb = _pair(cfg)
    async with a, b:
        await a.connect(kb.address)
        sub = b.subscribe("news")
        seen_full = False
        ids = []
        for k in range(200):
            ids.append(await a.broadcast("news", k.to_bytes(2, "big")))
            seen_full = seen_full or a.backlog() >= 8
            assert a.backlog() <= 8 + 4 * 4 + 2 * 4 * 4  # queue + batches with the thread + frames
        await quiet(a, b, net=net)
        assert [m.message_id for m in iter(sub.get_nowait, None)] == ids
        assert seen_full


async def test_stop_lets_the_burst_out_first() -> None:
    net, a, b, kb = _pair(MeshConfig(sign_offload_min=4))
    await a.start()
    await b.start()
    await a.connect(kb.address)
    for k in range(100):
        await a.broadcast("news", bytes([k]))
    await a.stop()
    assert a.backlog() == 0
    assert net.stats()["sent"] == 2 * 100  # every broadcast went out on both transports
    await b.stop()
    with pytest.raises(DeliveryError):
        await a.broadcast("news", b"late")


async def test_a_loop_that_cannot_watch_descriptors_signs_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise NotImplementedError

    net, a, b, kb = _pair(MeshConfig(sign_offload_min=2, verify_offload_min=None))
    async with a, b:
        monkeypatch.setattr(asyncio.get_running_loop(), "add_reader", refuse)
        await a.connect(kb.address)
        sub = b.subscribe("news")
        ids = [await a.broadcast("news", bytes([k])) for k in range(50)]
        await quiet(a, b, net=net)
        assert [m.message_id for m in iter(sub.get_nowait, None)] == ids
        assert "sign_offloaded" not in counters(a)


async def test_a_failing_flood_of_one_signed_frame_loses_only_that_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    net, a, b, kb = _pair(MeshConfig(sign_offload_min=1, verify_batch_size=8))
    async with a, b:
        await a.connect(kb.address)
        sub = b.subscribe("news")
        publisher = a._publisher
        flood = publisher._send
        calls = 0

        def flaky(frame: bytes, msg_id: bytes) -> None:
            nonlocal calls
            calls += 1
            if calls == 5:
                raise RuntimeError("boom")
            flood(frame, msg_id)

        publisher._send = flaky
        ids = [await a.broadcast("news", bytes([k])) for k in range(30)]
        await quiet(a, b, net=net)
        got = [m.message_id for m in iter(sub.get_nowait, None)]
        assert got == ids[:4] + ids[5:]
        assert "flooding a signed broadcast failed" in caplog.text


async def test_without_a_spare_core_everything_stays_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import swarmmesh.mesh.flood as flood_module
    import swarmmesh.mesh.signing as signing_module

    monkeypatch.setattr(flood_module, "spare_cores", lambda: 0)
    monkeypatch.setattr(signing_module, "spare_cores", lambda: 0)
    net, a, b, kb = _pair(MeshConfig(sign_offload_min=2, verify_offload_min=2, verify_batch_size=8))
    async with a, b:
        await a.connect(kb.address)
        sub = b.subscribe("news")
        ids = [await a.broadcast("news", bytes([k])) for k in range(40)]
        assert a.backlog() == 0  # signed and queued before broadcast returned
        await quiet(a, b, net=net)
        assert [m.message_id for m in iter(sub.get_nowait, None)] == ids
        assert "sign_offloaded" not in counters(a)
        assert "verify_offloaded" not in counters(b)
