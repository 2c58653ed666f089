"""MemoryNetwork: links, handshake, conditions, partitions, kill/revive, bounds, determinism."""

from __future__ import annotations

import asyncio

import pytest

from swarmmesh import Keypair
from swarmmesh.clock import ManualClock
from swarmmesh.errors import ConfigError
from swarmmesh.transports.base import (
    FrameTooLargeError,
    Health,
    NotLinkedError,
    Transport,
    TransportError,
    TransportState,
    UnsupportedError,
)
from swarmmesh.transports.memory import LinkConditions, MemoryNetwork, MemoryTransport


class Recorder:
    def __init__(self) -> None:
        self.up: list[tuple[str, str]] = []
        self.down: list[tuple[str, str, str]] = []
        self.frames: list[tuple[str, str, bytes]] = []

    def on_link_up(self, transport: str, peer_id: str) -> None:
        self.up.append((transport, peer_id))

    def on_link_down(self, transport: str, peer_id: str, reason: str) -> None:
        self.down.append((transport, peer_id, reason))

    def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
        self.frames.append((transport, peer_id, frame))


def _kp(i: int) -> Keypair:
    return Keypair.from_seed(bytes([i + 1]) * 32)


async def _nodes(
    net: MemoryNetwork, n: int, name: str = "mem"
) -> tuple[list[MemoryTransport], list[Recorder], list[Keypair]]:
    kps = [_kp(i) for i in range(n)]
    ts = [net.transport(name, kp) for kp in kps]
    recs = [Recorder() for _ in range(n)]
    for t, r in zip(ts, recs, strict=True):
        await t.start(r)
    return ts, recs, kps


async def _settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_is_a_transport_and_dials_by_peer_id() -> None:
    net = MemoryNetwork()
    (a, b), (ra, rb), (ka, kb) = await _nodes(net, 2)
    assert isinstance(a, Transport)
    assert a.state is TransportState.RUNNING
    assert a.health is Health.UP
    assert a.supports(kb.address)
    assert not a.supports(address="ws://127.0.0.1:1")
    assert not a.supports(_kp(9).address)
    assert await a.dial(kb.address) == kb.address
    assert a.linked() == {kb.address}
    assert b.linked() == {ka.address}
    assert ra.up == [("mem", kb.address)]
    assert rb.up == [("mem", ka.address)]
    assert await a.dial(kb.address) == kb.address  # already linked: no second link
    assert net.stats()["links_up"] == 1
    with pytest.raises(UnsupportedError):
        await a.dial(address="memory://x")
    with pytest.raises(UnsupportedError):
        await a.dial(_kp(9).address)


async def test_frames_flow_in_order_both_ways() -> None:
    net = MemoryNetwork()
    (a, b), (ra, rb), (ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    for i in range(50):
        await a.send(kb.address, bytes([i]))
    await b.send(ka.address, b"back")
    await _settle()
    assert [f for _, _, f in rb.frames] == [bytes([i]) for i in range(50)]
    assert ra.frames == [("mem", kb.address, b"back")]


async def test_send_without_link_and_oversized_frames_raise() -> None:
    net = MemoryNetwork()
    (a, b), _, (_ka, kb) = await _nodes(net, 2)
    with pytest.raises(NotLinkedError):
        await a.send(kb.address, b"x")
    small = net.transport("small", _kp(5), max_frame=1024)
    other = net.transport("small", _kp(6), max_frame=1024)
    await small.start(Recorder())
    await other.start(Recorder())
    await small.dial(_kp(6).address)
    assert small.capabilities.max_frame == 1024
    with pytest.raises(FrameTooLargeError) as info:
        await small.send(_kp(6).address, bytes(1025))
    assert info.value.code == "frame_too_large"
    del b


async def test_loss_is_deterministic_for_a_seed() -> None:
    async def run(seed: int) -> list[bytes]:
        net = MemoryNetwork(seed=seed)
        net.set_conditions("mem", loss=0.3)
        (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
        await a.dial(kb.address)
        for i in range(400):
            await a.send(kb.address, i.to_bytes(2, "big"))
        await _settle()
        return [f for _, _, f in rb.frames]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    assert 200 < len(first) < 360  # about 70 % of 400 arrive


async def test_duplicate_and_pair_conditions() -> None:
    net = MemoryNetwork(seed=1)
    (a, b, c), (_ra, rb, rc), (_ka, kb, kc) = await _nodes(net, 3)
    await a.dial(kb.address)
    await a.dial(kc.address)
    net.set_conditions("mem", duplicate=1.0, between=(_ka.address, kb.address))
    await a.send(kb.address, b"x")
    await a.send(kc.address, b"y")
    await _settle()
    assert [f for _, _, f in rb.frames] == [b"x", b"x"]
    assert [f for _, _, f in rc.frames] == [b"y"]
    assert net.conditions("mem", (kb.address, _ka.address)).duplicate == 1.0
    assert net.stats()["duplicated"] == 1
    del b, c


async def test_latency_runs_on_the_injected_clock() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock)
    net.set_conditions("mem", latency_ms=50.0)
    (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    await a.send(kb.address, b"late")
    await _settle()
    assert rb.frames == []
    await clock.advance(0.049)
    assert rb.frames == []
    await clock.advance(0.002)
    assert [f for _, _, f in rb.frames] == [b"late"]


async def test_jitter_keeps_order_unless_reorder() -> None:
    clock = ManualClock()
    net = MemoryNetwork(seed=3, clock=clock)
    net.set_conditions("mem", latency_ms=10.0, jitter_ms=9.0)
    (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    for i in range(100):
        await a.send(kb.address, bytes([i]))
    await clock.advance(1.0)
    assert [f[0] for _, _, f in rb.frames] == list(range(100))
    net.set_conditions("mem", latency_ms=10.0, reorder=0.5)
    assert not a.capabilities.ordered
    rb.frames.clear()
    for i in range(100):
        await a.send(kb.address, bytes([i]))
    await clock.advance(1.0)
    got = [f[0] for _, _, f in rb.frames]
    assert sorted(got) == list(range(100))
    assert got != list(range(100))


async def test_bandwidth_serialises_a_burst() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock)
    net.set_conditions("mem", bandwidth_bps=8_000.0)  # 1000 bytes per second
    (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    for _ in range(4):
        await a.send(kb.address, bytes(100))  # 0.1 s each on the wire
    await clock.advance(0.25)
    assert len(rb.frames) == 2
    await clock.advance(0.2)
    assert len(rb.frames) == 4


async def test_full_direction_makes_send_wait() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock, queue_size=4)
    net.set_conditions("mem", latency_ms=100.0)
    (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    for i in range(4):
        await a.send(kb.address, bytes([i]))
    fifth = asyncio.ensure_future(a.send(kb.address, b"\x04"))
    await _settle()
    assert not fifth.done()
    await clock.advance(0.1)
    assert fifth.done()
    await clock.advance(0.2)
    assert len(rb.frames) == 5


async def test_partition_drops_frames_and_dials_across_then_heals() -> None:
    net = MemoryNetwork()
    (a, b, c), (_ra, rb, rc), (ka, kb, kc) = await _nodes(net, 3)
    await a.dial(kb.address)
    await a.dial(kc.address)
    net.partition([ka.address, kb.address], [kc.address])
    assert net.reachable(ka.address, kb.address)
    assert not net.reachable(ka.address, kc.address)
    await a.send(kb.address, b"in")
    await a.send(kc.address, b"across")
    await _settle()
    assert [f for _, _, f in rb.frames] == [b"in"]
    assert rc.frames == []
    with pytest.raises(TransportError) as info:
        await b.dial(kc.address)
    assert info.value.code == "unreachable"
    assert net.stats()["partitioned"] == 1
    net.heal()
    await a.send(kc.address, b"healed")
    await b.dial(kc.address)
    await _settle()
    assert [f for _, _, f in rc.frames] == [b"healed"]
    with pytest.raises(ConfigError):
        net.partition([ka.address], [ka.address])
    del c


async def test_kill_and_revive_every_node() -> None:
    net = MemoryNetwork()
    (a, _b), (ra, rb), (ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    net.kill("mem")
    assert a.linked() == frozenset()
    assert a.health is Health.DOWN
    assert ra.down == [("mem", kb.address, "killed")]
    assert rb.down == [("mem", ka.address, "peer:killed")]
    with pytest.raises(TransportError) as info:
        await a.dial(kb.address)
    assert info.value.code == "killed"
    with pytest.raises(NotLinkedError):
        await a.send(kb.address, b"x")
    net.revive("mem")
    assert a.linked() == {kb.address}
    assert a.health is Health.UP
    assert len(ra.up) == 2
    assert len(rb.up) == 2
    await a.send(kb.address, b"again")
    await _settle()
    assert [f for _, _, f in rb.frames] == [b"again"]


async def test_kill_one_peer_only() -> None:
    net = MemoryNetwork()
    (a, b, c), _, (_ka, kb, kc) = await _nodes(net, 3)
    await a.dial(kb.address)
    await a.dial(kc.address)
    await b.dial(kc.address)
    net.kill("mem", kb.address)
    assert a.linked() == {kc.address}
    assert b.linked() == frozenset()
    assert net.is_killed("mem", kb.address)
    assert not net.is_killed("mem", kc.address)
    net.revive("mem", kb.address)
    assert a.linked() == {kb.address, kc.address}
    assert b.linked() == {_ka.address, kc.address}
    del c


async def test_frames_in_flight_on_a_killed_link_are_lost() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock)
    net.set_conditions("mem", latency_ms=10.0)
    (a, _b), (_ra, rb), (_ka, kb) = await _nodes(net, 2)
    await a.dial(kb.address)
    await a.send(kb.address, b"doomed")
    net.kill("mem")
    net.revive("mem")
    await clock.advance(0.1)
    assert rb.frames == []
    assert net.stats()["dropped_closed"] == 1


async def test_disconnect_and_stop_report_down() -> None:
    net = MemoryNetwork()
    (a, b, c), (ra, rb, rc), (ka, kb, kc) = await _nodes(net, 3)
    await a.dial(kb.address)
    await a.dial(kc.address)
    await a.disconnect(kb.address, "bye")
    assert ra.down == [("mem", kb.address, "bye")]
    assert rb.down == [("mem", ka.address, "peer:bye")]
    await a.disconnect(kb.address, "again")  # no-op
    await c.stop()
    assert c.state is TransportState.STOPPED
    assert a.linked() == frozenset()
    assert ra.down[-1] == ("mem", kc.address, "peer:stopped")
    assert not a.supports(kc.address)  # a stopped transport left the network
    await c.stop()
    del rc, b


async def test_duplicate_transport_and_bad_conditions_are_rejected() -> None:
    net = MemoryNetwork()
    net.transport("mem", _kp(0))
    with pytest.raises(TransportError) as info:
        net.transport("mem", _kp(0))
    assert info.value.code == "duplicate"
    with pytest.raises(ConfigError) as cfg:
        net.set_conditions("mem", loss=1.5)
    assert cfg.value.field == "loss"
    with pytest.raises(ConfigError):
        LinkConditions(latency_ms=float("nan"))
    with pytest.raises(ConfigError):
        LinkConditions(bandwidth_bps=0)
    with pytest.raises(ConfigError):
        MemoryNetwork(queue_size=0)
    with pytest.raises(ConfigError):
        net.set_conditions("mem", between=(_kp(0).address, _kp(0).address))


async def test_a_failing_handler_does_not_break_the_link() -> None:
    class Boom(Recorder):
        def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
            super().on_frame(transport, peer_id, frame)
            raise RuntimeError("handler bug")

    net = MemoryNetwork()
    a = net.transport("mem", _kp(0))
    b = net.transport("mem", _kp(1))
    rb = Boom()
    await a.start(Recorder())
    await b.start(rb)
    await a.dial(_kp(1).address)
    await a.send(_kp(1).address, b"1")
    await a.send(_kp(1).address, b"2")
    await _settle()
    assert [f for _, _, f in rb.frames] == [b"1", b"2"]


async def test_registered_as_memory_in_the_transport_registry() -> None:
    from swarmmesh.transports.registry import create_transport, transport_names

    net = MemoryNetwork()
    assert "memory" in transport_names()
    t = create_transport("memory", keypair=_kp(0), network=net, name="gun")
    assert isinstance(t, MemoryTransport)
    assert t.name == "gun"
    assert net.lookup("gun", _kp(0).address) is t
