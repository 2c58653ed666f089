"""Mesh edges: malformed frames and bans, forged broadcasts, chunking, backpressure, nacks, exactly-once."""

from __future__ import annotations

import asyncio

import pytest

from swarmmesh import DeliveryError, Envelope, Keypair, MemoryNetwork, Mesh, MeshConfig
from swarmmesh.clock import ManualClock
from swarmmesh.errors import ConfigError
from swarmmesh.mesh.gossip import Outboxes
from swarmmesh.mesh.resilience import ResilienceConfig

NAMES = ("integrated", "gun", "peerjs")


def _kp(i: int) -> Keypair:
    return Keypair.from_seed(bytes([i + 7]) * 32)


class Pair:
    def __init__(
        self, *, config: MeshConfig | None = None, max_frame: int | None = None, names=NAMES
    ) -> None:
        self.clock = ManualClock()
        self.net = MemoryNetwork(seed=2, clock=self.clock)
        self.ka, self.kb = _kp(0), _kp(1)
        cfg = config if config is not None else MeshConfig()
        self.ta = [self.net.transport(n, self.ka, max_frame=max_frame) for n in names]
        self.tb = [self.net.transport(n, self.kb, max_frame=max_frame) for n in names]
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

    async def run(self, coro, *, step: float = 0.01):  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(coro)
        for _ in range(10_000):
            if task.done():
                return task.result()
            await self.clock.advance(step)
        raise AssertionError("never finished")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_send_receive_and_receipt() -> None:
    async with Pair() as p:
        inbox = p.b.subscribe("t")
        receipt = await p.run(p.a.send(p.kb.address, "t", b"hi"))
        assert receipt.transport in NAMES
        assert receipt.attempts >= 1
        msg = inbox.get_nowait()
        assert msg is not None
        assert (msg.topic, msg.payload, msg.origin) == ("t", b"hi", p.ka.address)
        stats = p.a.stats()
        assert stats["delivered_by"] == {receipt.transport: 1}
        assert p.a.peers() == {p.kb.address}


async def test_unknown_peer_has_no_route_and_bad_arguments_raise() -> None:
    async with Pair() as p:
        with pytest.raises(DeliveryError) as info:
            await p.a.send(_kp(9).address, "t", b"x")
        assert info.value.code == "no_route"
        with pytest.raises(ValueError, match="peer_id"):
            await p.a.send("not-a-peer", "t", b"x")
        with pytest.raises(ValueError, match="peer_id"):
            await p.a.send(p.ka.address, "t", b"x")


async def test_every_copy_is_acked_but_delivered_once() -> None:
    async with Pair(config=MeshConfig(router_exploration=0.0)) as p:
        for n in NAMES:
            p.net.set_conditions(n, duplicate=1.0)
        inbox = p.b.subscribe("t")
        await p.run(asyncio.gather(*(p.a.send(p.kb.address, "t", bytes([k])) for k in range(30))))
        got = [m.payload for m in iter(inbox.get_nowait, None)]
        assert sorted(got) == [bytes([k]) for k in range(30)]
        counters = p.b.stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["duplicates"] >= 30


async def test_malformed_frames_are_dropped_counted_and_the_peer_is_banned() -> None:
    cfg = MeshConfig(resilience=ResilienceConfig(misbehaviour_threshold=3))
    async with Pair(config=cfg) as p:
        gun_b = p.tb[1]
        await gun_b.send(p.ka.address, b"\xe1\x01garbage")
        await gun_b.send(p.ka.address, b"\x00not a frame at all")
        await _settle()
        dropped = p.a.stats()["dropped"]
        assert isinstance(dropped, dict)
        assert sum(v for k, v in dropped.items() if k.startswith("malformed:")) == 2
        assert not p.a.resilience.is_banned(p.kb.address)
        assert p.a.resilience.state(p.kb.address, "gun") == "closed"  # never the breakers
        await gun_b.send(p.ka.address, b"\xc1broken chunk")
        await _settle()
        assert p.a.resilience.is_banned(p.kb.address)
        await _settle()
        assert p.a.peers() == frozenset()  # disconnected on every transport
        with pytest.raises(Exception, match="banned"):
            await p.a.connect(p.kb.address)


async def test_forged_broadcast_is_dropped_and_reported() -> None:
    async with Pair() as p:
        sub = p.a.subscribe("news")
        # B relays a "broadcast" claiming C as origin, with a signature C never made.
        forged = Envelope(
            "broadcast", b"\x01" * 16, _kp(5).public_key, "news", b"lie",
            timestamp_ms=p.clock.wall_ms(), signature=bytes(64),
        )  # fmt: skip
        await p.tb[0].send(p.ka.address, forged.to_bytes())
        await _settle()
        assert sub.get_nowait() is None
        dropped = p.a.stats()["dropped"]
        assert isinstance(dropped, dict)
        assert dropped["bad_signature"] == 1
        real = await p.b.broadcast("news", b"truth")
        await _settle()
        msg = sub.get_nowait()
        assert msg is not None
        assert msg.message_id == real
        assert msg.origin == p.kb.address


async def test_spoofed_origin_and_wrong_target_are_dropped() -> None:
    async with Pair() as p:
        sub = p.a.subscribe("t")
        spoof = Envelope("data", b"\x02" * 16, _kp(5).public_key, "t", b"x", target=p.ka.public_key)
        other = Envelope("data", b"\x03" * 16, p.kb.public_key, "t", b"x", target=_kp(5).public_key)
        await p.tb[0].send(p.ka.address, spoof.to_bytes())
        await p.tb[0].send(p.ka.address, other.to_bytes())
        await _settle()
        assert sub.get_nowait() is None
        dropped = p.a.stats()["dropped"]
        assert isinstance(dropped, dict)
        assert dropped["malformed:spoofed_origin"] == 1
        assert dropped["wrong_target"] == 1


async def test_large_messages_are_chunked_and_reassembled() -> None:
    async with Pair(max_frame=2048) as p:
        inbox = p.b.subscribe("big")
        news = p.a.subscribe("bigcast")
        payload = bytes(range(256)) * 40  # 10 KiB
        receipt = await p.run(p.a.send(p.kb.address, "big", payload))
        assert receipt.transport in NAMES
        msg = inbox.get_nowait()
        assert msg is not None
        assert msg.payload == payload
        counters = p.a.stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["chunked_frames"] >= 1
        mid = await p.b.broadcast("bigcast", payload)
        await _settle()
        got = news.get_nowait()
        assert got is not None
        assert (got.message_id, got.payload) == (mid, payload)


async def test_a_full_peer_makes_sends_wait_then_fail_with_backpressure() -> None:
    cfg = MeshConfig(max_inflight_per_peer=2, send_wait_s=0.5, send_timeout_s=5.0, attempt_timeout_s=1.0)
    async with Pair(config=cfg) as p:
        for n in NAMES:
            p.net.set_conditions(n, loss=1.0)  # nothing gets through: sends stay in flight
        first = [asyncio.ensure_future(p.a.send(p.kb.address, "t", b"x")) for _ in range(2)]
        third = asyncio.ensure_future(p.a.send(p.kb.address, "t", b"y"))
        await p.clock.advance(0.4, step=0.1)
        assert not third.done()  # waiting for a slot
        await p.clock.advance(0.2, step=0.1)
        assert third.done()
        with pytest.raises(DeliveryError) as info:
            third.result()
        assert info.value.code == "backpressure"
        await p.clock.advance(6.0, step=0.5)
        for f in first:
            with pytest.raises(DeliveryError) as failed:
                f.result()
            assert failed.value.code in ("failed", "timeout")
            assert failed.value.attempts >= 1


async def test_full_subscription_nacks_so_nothing_unread_is_acked() -> None:
    async with Pair(config=MeshConfig(subscription_queue=1)) as p:
        inbox = p.b.subscribe("t")
        await p.run(p.a.send(p.kb.address, "t", b"1"))
        with pytest.raises(DeliveryError) as info:
            await p.run(p.a.send(p.kb.address, "t", b"2"))
        assert info.value.code == "rejected"
        assert inbox.get_nowait() is not None
        await p.run(p.a.send(p.kb.address, "t", b"3"))
        msg = inbox.get_nowait()
        assert msg is not None
        assert msg.payload == b"3"


async def test_gossip_queue_drops_the_oldest_and_counts() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock, queue_size=1)
    net.set_conditions("gun", latency_ms=10.0)
    a = net.transport("gun", _kp(0))
    b = net.transport("gun", _kp(1))

    class Sink:
        def __init__(self) -> None:
            self.frames: list[bytes] = []

        def on_link_up(self, transport: str, peer_id: str) -> None: ...
        def on_link_down(self, transport: str, peer_id: str, reason: str) -> None: ...
        def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
            self.frames.append(frame)

    sink = Sink()
    await a.start(Sink())
    await b.start(sink)
    await a.dial(_kp(1).address)
    boxes = Outboxes(per_peer=2, per_transport=100)
    for k in range(5):
        boxes.fanout(a, [_kp(1).address], bytes([k]))
    assert boxes.counters["dropped_full"] == 2  # 0 on the wire, 1 and 2 dropped, 3 and 4 queued
    assert boxes.queued("gun") == 2
    await clock.advance(0.1, step=0.005)
    assert sink.frames == [b"\x00", b"\x03", b"\x04"]
    assert boxes.queued() == 0
    await boxes.close()


async def test_stop_fails_pending_sends_and_config_errors() -> None:
    p = Pair()
    async with p:
        for n in NAMES:
            p.net.set_conditions(n, loss=1.0)
        pending = asyncio.ensure_future(p.a.send(p.kb.address, "t", b"x"))
        await _settle()
    with pytest.raises(DeliveryError) as info:
        await pending
    assert info.value.code == "stopped"
    with pytest.raises(DeliveryError):
        await p.a.send(p.kb.address, "t", b"x")
    kp = _kp(3)
    net = MemoryNetwork()
    with pytest.raises(ConfigError):
        Mesh(kp, [])
    with pytest.raises(ConfigError):
        Mesh(kp, [net.transport("gun", kp), net.transport("gun", _kp(4))])
    with pytest.raises(ConfigError):
        Mesh(kp, [net.transport("peerjs", kp)], config=MeshConfig(legacy_transport="nope"))


async def test_hedge_fires_when_the_best_is_slow_and_is_cancelled_when_it_is_not() -> None:
    cfg = MeshConfig(router_exploration=0.0, attempt_timeout_s=2.0)
    async with Pair(config=cfg, names=("integrated", "gun")) as p:
        p.net.set_conditions("integrated", latency_ms=5.0)
        p.net.set_conditions("gun", latency_ms=20.0)
        for k in range(10):  # learn: integrated is fast and reliable
            await p.run(p.a.send(p.kb.address, "t", bytes([k])), step=0.001)
        plan = p.a.router.plan(p.kb.address, ["integrated", "gun"], p.clock.now_ms())
        assert plan.now == ["integrated"]
        assert [t for t, _ in plan.hedges] == ["gun"]
        counters = p.a.stats()["counters"]
        assert isinstance(counters, dict)
        cancelled = counters.get("hedges_cancelled", 0)
        receipt = await p.run(p.a.send(p.kb.address, "t", b"fast"), step=0.001)
        assert (receipt.transport, receipt.attempts) == ("integrated", 1)
        counters = p.a.stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["hedges_cancelled"] == cancelled + 1  # the ack came first: never sent
        p.net.set_conditions("integrated", latency_ms=400.0)  # the best turns slow
        receipt = await p.run(p.a.send(p.kb.address, "t", b"slow"), step=0.001)
        assert (receipt.transport, receipt.attempts) == ("gun", 2)  # the hedge won
        counters = p.a.stats()["counters"]
        assert isinstance(counters, dict)
        assert counters["hedges"] >= 1


async def test_gossip_per_transport_bound_drops_new_frames_of_other_peers() -> None:
    clock = ManualClock()
    net = MemoryNetwork(clock=clock, queue_size=1)
    net.set_conditions("gun", latency_ms=10.0)
    ts = [net.transport("gun", _kp(i)) for i in range(3)]

    class Quiet:
        def on_link_up(self, transport: str, peer_id: str) -> None: ...
        def on_link_down(self, transport: str, peer_id: str, reason: str) -> None: ...
        def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None: ...

    for t in ts:
        await t.start(Quiet())
    await ts[0].dial(_kp(1).address)
    await ts[0].dial(_kp(2).address)
    boxes = Outboxes(per_peer=100, per_transport=3)
    for k in range(4):  # 1 on the wire, 3 queued: the transport is full
        boxes.fanout(ts[0], [_kp(1).address], bytes([k]))
    assert boxes.queued("gun") == 3
    boxes.fanout(ts[0], [_kp(2).address], b"x")  # on the wire at once (an empty link)
    boxes.fanout(ts[0], [_kp(2).address], b"y")  # would be queued: no room on the transport
    assert boxes.counters["dropped_full"] == 1
    assert boxes.queued("gun") == 3
    await clock.advance(0.2, step=0.005)
    assert boxes.queued() == 0
    await boxes.close()


async def test_only_the_recipient_can_acknowledge() -> None:
    async with Pair() as p:
        kc = _kp(4)
        tc = p.net.transport("integrated", kc)
        mc = Mesh(kc, [tc], clock=p.clock)
        async with mc:
            await p.a.connect(kc.address)
            for n in NAMES:
                p.net.set_conditions(n, loss=1.0, between=(p.ka.address, p.kb.address))
            task = asyncio.ensure_future(p.a.send(p.kb.address, "t", b"x", timeout=1.0))
            await _settle()
            (msg_id,) = list(p.a._pending)
            forged = Envelope("ack", msg_id, kc.public_key, "t", b"")
            await tc.send(p.ka.address, forged.to_bytes())  # C answers for B
            await p.clock.advance(1.5, step=0.1)
            with pytest.raises(DeliveryError):
                await task
            dropped = p.a.stats()["dropped"]
            assert isinstance(dropped, dict)
            assert dropped["foreign_ack"] == 1


async def test_a_relay_cannot_inflate_the_ttl() -> None:
    async with Pair(config=MeshConfig(broadcast_ttl=4)) as p:
        frames: list[bytes] = []

        class Recorder:
            def on_link_up(self, transport: str, peer_id: str) -> None: ...
            def on_link_down(self, transport: str, peer_id: str, reason: str) -> None: ...
            def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
                frames.append(frame)

        kc = _kp(4)
        tc = p.net.transport("integrated", kc)
        await tc.start(Recorder())
        await p.a.connect(kc.address)
        env = Envelope(
            "broadcast", b"\x09" * 16, p.kb.public_key, "news", b"x", ttl=255, timestamp_ms=p.clock.wall_ms()
        ).signed(p.kb)
        await p.tb[0].send(p.ka.address, env.to_bytes())
        await _settle()
        (got,) = [Envelope.from_bytes(f) for f in frames]
        assert got.message_id == env.message_id
        assert got.ttl == 3
        assert got.hops == 1
        assert got.verify()
        await tc.stop()


@pytest.mark.parametrize(
    ("priors", "dead_role"),
    [
        ({"integrated": 1.0, "gun": 0.8, "peerjs": 0.6}, "primary"),
        ({"gun": 1.0, "integrated": 0.8, "peerjs": 0.6}, "hedge"),
    ],
)
async def test_a_dead_route_in_the_plan_does_not_cost_the_send_its_hedge(
    priors: dict[str, float], dead_role: str
) -> None:
    # The planned route over "integrated" has no link and its dial fails at once (killed):
    # the attempt is never written. The routes not started yet must be planned again at
    # once, so "peerjs" (the only one that works) starts before "gun" (which loses every
    # frame) has waited out its attempt timeout, instead of being a fallback behind it.
    cfg = MeshConfig(router_exploration=0.0, attempt_timeout_s=2.0, priors=priors)
    async with Pair(config=cfg) as p:
        for name, ms in (("integrated", 5.0), ("gun", 5.0), ("peerjs", 20.0)):
            p.net.set_conditions(name, latency_ms=ms)
        for k in range(10):  # learn the best transport's latency: hedges, not parallel sends
            await p.run(p.a.send(p.kb.address, "t", bytes([k])), step=0.001)
        p.net.kill("integrated")
        p.net.set_conditions("gun", loss=1.0, latency_ms=5.0)
        plan = p.a.router.plan(p.kb.address, list(NAMES), p.clock.now_ms())
        first = "integrated" if dead_role == "primary" else "gun"
        second = "gun" if dead_role == "primary" else "integrated"
        assert (plan.now, [t for t, _ in plan.hedges], plan.fallbacks) == ([first], [second], ["peerjs"])
        before = p.a.stats()["counters"]
        assert isinstance(before, dict)
        receipt = await p.run(p.a.send(p.kb.address, "t", b"over the dead route"), step=0.001)
        counters = p.a.stats()["counters"]
        assert isinstance(counters, dict)
        assert (receipt.transport, receipt.attempts) == ("peerjs", 3)
        assert counters["attempt_failed:dial_killed"] == before.get("attempt_failed:dial_killed", 0) + 1
        # The ack came while gun's attempt was still waiting for its own: no timeout yet.
        assert counters.get("attempt_failed:timeout", 0) == before.get("attempt_failed:timeout", 0)
        assert counters["reroutes"] == before.get("reroutes", 0) + 1


async def test_a_relay_never_forwards_a_broadcast_back_to_its_origin() -> None:
    # Triangle a-b-c on one transport; the direct a-c link is slow, so c hears a's broadcast
    # from b first. c must forward it to neither b (it came from b) nor a (its origin).
    clock = ManualClock()
    net = MemoryNetwork(seed=3, clock=clock)
    ka, kb, kc = _kp(0), _kp(1), _kp(2)
    net.set_conditions("integrated", latency_ms=50.0, between=(ka.address, kc.address))
    meshes = [
        Mesh(k, [net.transport("integrated", k)], config=MeshConfig(seed=i), clock=clock)
        for i, k in enumerate((ka, kb, kc))
    ]
    a, b, c = meshes
    for m in meshes:
        await m.start()
    try:
        await a.connect(kb.address)
        await b.connect(kc.address)
        await a.connect(kc.address)
        subs = [m.subscribe("news") for m in (b, c)]
        await a.broadcast("news", b"hello")
        await clock.advance(0.2, step=0.01)
        assert all(s.get_nowait() is not None for s in subs)
        assert a.stats()["counters"].get("duplicates", 0) == 0  # nothing came back to the origin
        assert c.stats()["counters"].get("duplicates", 0) == 1  # a's own slow copy, dropped
    finally:
        for m in meshes:
            await m.stop()


async def test_a_silent_transport_fails_over_after_its_rtt_timeout_not_the_fixed_bound() -> None:
    # One transport at a time (no hedges): the fallback waits for the first attempt to time out.
    cfg = MeshConfig(router_exploration=0.0, max_parallel=1, attempt_timeout_s=2.0, min_attempt_timeout_s=0.2)
    async with Pair(config=cfg, names=("integrated", "gun")) as p:
        p.net.set_conditions("integrated", latency_ms=10.0)
        p.net.set_conditions("gun", latency_ms=10.0)
        for k in range(10):  # RTT samples of ~20 ms on integrated
            await p.run(p.a.send(p.kb.address, "t", bytes([k])), step=0.001)
        assert p.a.attempt_timeout(p.kb.address, "integrated") == pytest.approx(0.2)
        assert p.a.attempt_timeout(p.kb.address, "gun") == 2.0  # no sample yet: the bound
        p.net.set_conditions("integrated", loss=1.0)  # frames vanish, the link stays up
        start = p.clock.now()
        receipt = await p.run(p.a.send(p.kb.address, "t", b"x"), step=0.001)
        assert (receipt.transport, receipt.attempts) == ("gun", 2)
        assert p.clock.now() - start < 0.5  # 0.2 s timeout + one round trip, not 2 s


async def test_a_broadcast_replayed_after_the_dedup_ttl_is_refused_as_stale() -> None:
    cfg = MeshConfig(dedup_ttl_s=10.0, max_clock_skew_s=2.0)
    async with Pair(config=cfg) as p:
        sub = p.a.subscribe("news")
        env = Envelope(
            "broadcast", b"\x0b" * 16, p.kb.public_key, "news", b"once", timestamp_ms=p.clock.wall_ms()
        ).signed(p.kb)
        frame = env.to_bytes()
        await p.tb[0].send(p.ka.address, frame)
        await _settle()
        assert sub.get_nowait() is not None
        await p.clock.advance(5.0)
        await p.tb[1].send(p.ka.address, frame)  # within the TTL: a duplicate
        await _settle()
        assert sub.get_nowait() is None
        await p.clock.advance(25.0)  # 30 s after: the dedup filter has forgotten the id
        assert not p.a._dedup.contains(env.message_id, p.clock.now_ms())
        await p.tb[2].send(p.ka.address, frame)
        await _settle()
        assert sub.get_nowait() is None
        dropped = p.a.stats()["dropped"]
        assert isinstance(dropped, dict)
        assert dropped["stale_broadcast"] == 1
        assert not p.a.resilience.is_banned(p.kb.address)  # a clock matter, not misbehaviour


async def test_a_broadcast_from_far_ahead_is_refused_and_its_id_stays_acceptable() -> None:
    cfg = MeshConfig(dedup_ttl_s=10.0, max_clock_skew_s=2.0)
    async with Pair(config=cfg) as p:
        sub = p.a.subscribe("news")
        ahead = Envelope(
            "broadcast",
            b"\x0c" * 16,
            p.kb.public_key,
            "news",
            b"early",
            timestamp_ms=p.clock.wall_ms() + 5_000,
        ).signed(p.kb)
        await p.tb[0].send(p.ka.address, ahead.to_bytes())
        await _settle()
        assert sub.get_nowait() is None
        dropped = p.a.stats()["dropped"]
        assert isinstance(dropped, dict)
        assert dropped["future_broadcast"] == 1
        await p.clock.advance(4.0)  # now only 1 s ahead: inside the skew, and accepted
        await p.tb[0].send(p.ka.address, ahead.to_bytes())
        await _settle()
        msg = sub.get_nowait()
        assert msg is not None
        assert msg.payload == b"early"


def test_the_clock_skew_must_leave_the_dedup_ttl_room() -> None:
    with pytest.raises(ConfigError) as info:
        MeshConfig(dedup_ttl_s=10.0, max_clock_skew_s=10.0)
    assert info.value.field == "max_clock_skew_s"
    window = MeshConfig(dedup_ttl_s=10.0, max_clock_skew_s=2.0).freshness()
    assert (window.max_age_ms, window.max_skew_ms) == (7_999, 2_000)
