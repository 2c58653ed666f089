"""The broadcast fast path: copies checked once, forwards built only when someone needs them,
batches verified off the event loop, and none of it weakening what a forgery can do."""

from __future__ import annotations

import asyncio

import pytest

from swarmmesh import Envelope, Keypair, MemoryNetwork, Mesh, MeshConfig
from swarmmesh.clock import ManualClock
from swarmmesh.mesh.flood import Flood
from tests.meshkit import counters, dropped, quiet

NAMES = ("integrated", "gun", "peerjs")


def _kp(i: int) -> Keypair:
    return Keypair.from_seed(bytes([i + 40]) * 32)


class Pair:
    """Meshes a and b linked on three transports of one MemoryNetwork (manual clock)."""

    def __init__(self, config: MeshConfig | None = None) -> None:
        self.clock = ManualClock()
        self.net = MemoryNetwork(seed=5, clock=self.clock)
        self.ka, self.kb = _kp(0), _kp(1)
        cfg = config if config is not None else MeshConfig()
        self.ta = [self.net.transport(n, self.ka) for n in NAMES]
        self.tb = [self.net.transport(n, self.kb) for n in NAMES]
        self.a = Mesh(self.ka, self.ta, config=cfg.replace(seed=1), clock=self.clock)
        self.b = Mesh(self.kb, self.tb, config=cfg.replace(seed=2), clock=self.clock)

    async def __aenter__(self) -> Pair:
        await self.a.start()
        await self.b.start()
        await self.a.connect(self.kb.address)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.a.stop()
        await self.b.stop()


async def test_copies_over_every_transport_are_verified_once_and_delivered_once() -> None:
    async with Pair() as p:
        sub = p.a.subscribe("news")
        ids = [await p.b.broadcast("news", bytes([k])) for k in range(5)]
        await quiet(p.a, p.b, net=p.net)
        got = [m.message_id for m in iter(sub.get_nowait, None)]
        assert got == ids
        c = counters(p.a)
        assert c["verified"] == 5  # one check per message, not one per copy
        assert c["duplicates"] == 10  # the other two transports' copies
        assert c["broadcasts_received"] == 5


async def test_a_tampered_copy_does_not_suppress_the_real_one() -> None:
    # A relay alters the payload but keeps the id and the signature, and its copy arrives
    # first, in the same batch as the real one: only the tampered copy may be rejected.
    async with Pair() as p:
        sub = p.a.subscribe("news")
        now = p.clock.wall_ms()
        real = Envelope("broadcast", b"\x07" * 16, p.kb.public_key, "news", b"truth", timestamp_ms=now)
        real = real.signed(p.kb)
        fake = Envelope(
            "broadcast", real.message_id, p.kb.public_key, "news", b"lies",
            timestamp_ms=now, signature=real.signature,
        )  # fmt: skip
        await p.tb[0].send(p.ka.address, fake.to_bytes())
        await p.tb[1].send(p.ka.address, real.to_bytes())
        await p.tb[2].send(p.ka.address, fake.forwarded().to_bytes())  # a copy of the fake, one hop on
        await quiet(p.a, p.b, net=p.net)
        msg = sub.get_nowait()
        assert msg is not None
        assert (msg.payload, msg.transport) == (b"truth", "gun")
        assert sub.get_nowait() is None
        assert dropped(p.a)["bad_signature"] == 2  # both copies of the fake, one check
        assert counters(p.a)["verified"] == 2


async def test_a_leaf_builds_no_forward() -> None:
    async with Pair() as p:
        sub = p.a.subscribe("news")
        await p.b.broadcast("news", b"x")
        await quiet(p.a, p.b, net=p.net)
        assert sub.get_nowait() is not None
        # b's three copies and nothing else: a's only peer is the origin.
        assert p.net.stats()["sent"] == 3
        assert "forwarded" not in counters(p.a)


async def test_a_relay_forwards_once_to_every_peer_but_the_senders_and_origin() -> None:
    clock = ManualClock()
    net = MemoryNetwork(seed=6, clock=clock)
    keys = [_kp(i) for i in range(4)]
    meshes = [
        Mesh(k, [net.transport(n, k) for n in NAMES[:2]], config=MeshConfig(seed=i), clock=clock)
        for i, k in enumerate(keys)
    ]
    a, b, c = meshes[:3]
    for m in meshes:
        await m.start()
    try:
        await a.connect(keys[1].address)  # a - b - {c, d}, c - d
        await b.connect(keys[2].address)
        await b.connect(keys[3].address)
        await c.connect(keys[3].address)
        subs = [m.subscribe("news") for m in meshes]
        mid = await a.broadcast("news", b"hello")
        await quiet(*meshes, net=net)
        for i, s in enumerate(subs):
            got = [m.message_id for m in iter(s.get_nowait, None)]
            assert got == ([] if i == 0 else [mid])
        assert counters(b)["forwarded"] == 1
        assert counters(a).get("duplicates", 0) == 0  # never back to the origin
    finally:
        for m in meshes:
            await m.stop()


async def test_batches_verified_off_the_loop_deliver_in_order_and_catch_forgeries() -> None:
    cfg = MeshConfig(verify_batch_size=8, verify_offload_min=4)
    async with Pair(cfg) as p:
        sub = p.a.subscribe("news")
        sent: list[bytes] = []
        for k in range(40):
            if k == 17:
                forged = Envelope(
                    "broadcast", b"\x05" * 16, _kp(9).public_key, "news", b"forged",
                    timestamp_ms=p.clock.wall_ms(), signature=bytes(64),
                )  # fmt: skip
                await p.tb[0].send(p.ka.address, forged.to_bytes())
            sent.append(await p.b.broadcast("news", k.to_bytes(2, "big")))
        await quiet(p.a, p.b, net=p.net)
        got = [m.message_id for m in iter(sub.get_nowait, None)]
        assert got == sent
        assert dropped(p.a)["bad_signature"] == 1
        c = counters(p.a)
        assert c["verified"] == 41
        assert c["verify_batches"] >= 6
        assert c["verify_offloaded"] >= 4
        assert c["duplicates"] == 80


async def test_stopping_while_a_batch_is_verified_off_the_loop() -> None:
    cfg = MeshConfig(verify_batch_size=64, verify_offload_min=2)
    p = Pair(cfg)
    await p.__aenter__()
    sub = p.a.subscribe("news")
    for k in range(64):
        await p.b.broadcast("news", bytes([k]))
    for _ in range(3):  # the frames arrive and a batch goes to the worker
        await asyncio.sleep(0)
    await p.__aexit__()
    assert p.a.backlog() == 0
    later = [m for m in iter(sub.get_nowait, None)]
    assert len(later) <= 64
    assert len({m.message_id for m in later}) == len(later)


async def test_a_loop_that_cannot_watch_descriptors_verifies_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise NotImplementedError

    cfg = MeshConfig(verify_batch_size=8, verify_offload_min=2)
    async with Pair(cfg) as p:
        monkeypatch.setattr(asyncio.get_running_loop(), "add_reader", refuse)
        sub = p.a.subscribe("news")
        sent = [await p.b.broadcast("news", bytes([k])) for k in range(20)]
        await quiet(p.a, p.b, net=p.net)
        assert [m.message_id for m in iter(sub.get_nowait, None)] == sent
        c = counters(p.a)
        assert "verify_offloaded" not in c
        assert c["verified"] == 20


async def test_a_failing_delivery_of_one_verified_batch_loses_only_that_batch(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = MeshConfig(verify_batch_size=4, verify_offload_min=2)
    async with Pair(cfg) as p:
        sub = p.a.subscribe("news")
        accept = Flood._accept
        calls = 0

        def flaky(self: Flood, batch: list[bytes], verdicts: list[bool]) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise RuntimeError("boom")
            accept(self, batch, verdicts)

        monkeypatch.setattr(Flood, "_accept", flaky)
        ids = [await p.b.broadcast("news", bytes([k])) for k in range(20)]
        await quiet(p.a, p.b, net=p.net)
        assert [m.message_id for m in iter(sub.get_nowait, None)] == ids[:4] + ids[8:]
        assert p.a.backlog() == 0
        assert "delivering a verified batch failed" in caplog.text
