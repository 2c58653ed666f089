"""WebSocketTransport on real loopback sockets: links, handshake rejections, reconnect, bad frames, limits."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from swarmmesh import ConfigError, Keypair, WebSocketConfig, WebSocketTransport
from swarmmesh.clock import ManualClock
from swarmmesh.transports.base import (
    FrameTooLargeError,
    HandshakeError,
    Health,
    NotLinkedError,
    Transport,
    TransportError,
    TransportState,
    UnsupportedError,
    keep_link_dialled_by,
)
from swarmmesh.transports.handshake import Handshake

#: Short intervals so every test is quick; pings on so keep-alives run during the tests.
FAST = WebSocketConfig(
    handshake_timeout_s=5.0,
    ping_interval_s=1.0,
    ping_timeout_s=5.0,
    close_timeout_s=1.0,
    reconnect_base_s=0.02,
    reconnect_max_s=0.2,
)
#: Hang guard for condition waits (a stuck test fails with a message, not at pytest's timeout).
GUARD_S = 15.0


class Recorder:
    """A LinkHandler that remembers every event and wakes waiters."""

    def __init__(self) -> None:
        self.ups: list[str] = []
        self.downs: list[tuple[str, str]] = []
        self.frames: dict[str, list[bytes]] = collections.defaultdict(list)
        self._changed = asyncio.Event()

    def on_link_up(self, transport: str, peer_id: str) -> None:
        self.ups.append(peer_id)
        self._changed.set()

    def on_link_down(self, transport: str, peer_id: str, reason: str) -> None:
        self.downs.append((peer_id, reason))
        self._changed.set()

    def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
        self.frames[peer_id].append(frame)
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        async with asyncio.timeout(GUARD_S):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
        assert condition(), what


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (polling) until ``condition`` holds; fail after GUARD_S."""
    try:
        async with asyncio.timeout(GUARD_S):
            while not condition():  # noqa: ASYNC110 (transport state has no event to wait on)
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"gave up waiting for: {what}")


@contextlib.asynccontextmanager
async def nodes(
    n: int, *, config: WebSocketConfig = FAST, **kwargs: object
) -> AsyncIterator[list[tuple[WebSocketTransport, Recorder]]]:
    out: list[tuple[WebSocketTransport, Recorder]] = []
    try:
        for _ in range(n):
            transport = WebSocketTransport(Keypair.generate(), config=config, **kwargs)  # type: ignore[arg-type]
            recorder = Recorder()
            await transport.start(recorder)
            out.append((transport, recorder))
        yield out
    finally:
        await asyncio.gather(*(t.stop() for t, _ in out))


def url_of(transport: WebSocketTransport) -> str:
    assert transport.listen_url is not None
    return transport.listen_url


async def raw_link(url: str, keypair: Keypair, **kwargs: object) -> ClientConnection:
    """A bare websockets client that passes the handshake honestly."""
    ws = await connect(url, proxy=None, compression=None, max_size=None, **kwargs)  # type: ignore[arg-type]
    hs = Handshake(keypair, "websocket", dialler=True)
    await ws.send(hs.hello())
    reply = await ws.recv()
    assert isinstance(reply, bytes)
    await ws.send(hs.receive_hello(reply))
    proof = await ws.recv()
    assert isinstance(proof, bytes)
    hs.receive_proof(proof)
    return ws


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(GUARD_S):
            while True:
                await ws.recv()
    await ws.wait_closed()
    return ws.close_code


def queued(transport: WebSocketTransport, peer_id: str) -> int | None:
    info = transport.link_info(peer_id)
    return None if info is None else info.queued


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- links and frames ------------------------------------------------------------------------


async def test_two_nodes_link_and_exchange_frames_both_ways() -> None:
    async with nodes(2) as [(a, ra), (b, rb)]:
        assert isinstance(a, Transport)
        assert a.state is TransportState.RUNNING
        assert a.health is Health.UP
        assert url_of(b).startswith("ws://127.0.0.1:")
        assert await a.dial(address=url_of(b)) == b.peer_id
        await rb.wait_for(lambda: a.peer_id in b.linked(), "b sees a")
        assert a.linked() == {b.peer_id}
        assert ra.ups == [b.peer_id]
        assert rb.ups == [a.peer_id]
        # dialling again (by address or by the learnt peer id) returns the existing link
        assert await a.dial(address=url_of(b)) == b.peer_id
        assert await a.dial(b.peer_id) == b.peer_id
        assert a.stats()["handshakes_ok"] == 1

        for i in range(50):
            await a.send(b.peer_id, b"a->b %d" % i)
            await b.send(a.peer_id, b"b->a %d" % i)
        big = os.urandom(a.capabilities.max_frame)
        await a.send(b.peer_id, big)
        await rb.wait_for(lambda: len(rb.frames[a.peer_id]) == 51, "b got every frame")
        await ra.wait_for(lambda: len(ra.frames[b.peer_id]) == 50, "a got every frame")
        assert rb.frames[a.peer_id] == [b"a->b %d" % i for i in range(50)] + [big]
        assert ra.frames[b.peer_id] == [b"b->a %d" % i for i in range(50)]
        info = a.link_info(b.peer_id)
        assert info is not None
        assert info.dialled
        assert info.url == url_of(b)
        peer_info = b.link_info(a.peer_id)
        assert peer_info is not None
        assert not peer_info.dialled
        assert peer_info.url is None


async def test_ten_nodes_fully_linked_with_frames_between_every_pair() -> None:
    async with nodes(10) as group:
        transports = [t for t, _ in group]
        ids = {t.peer_id for t in transports}
        # every node dials every other at once: 90 dials, 45 pairs, each resolved to one link
        await asyncio.gather(*(a.dial(address=url_of(b)) for a, b in itertools.permutations(transports, 2)))

        def settled() -> bool:
            for a, b in itertools.combinations(transports, 2):
                ia, ib = a.link_info(b.peer_id), b.link_info(a.peer_id)
                if ia is None or ib is None or ia.dialled == ib.dialled:
                    return False
            return True

        await until(settled, "45 links, one per pair")
        for t in transports:
            assert t.linked() == ids - {t.peer_id}
        for a, b in itertools.combinations(transports, 2):
            info = a.link_info(b.peer_id)
            assert info is not None
            assert info.dialled == keep_link_dialled_by(a._keypair.public_key, b._keypair.public_key)

        for a, b in itertools.permutations(transports, 2):
            await a.send(b.peer_id, f"{a.peer_id}>{b.peer_id}".encode())
        for t, r in group:
            await r.wait_for(
                lambda t=t, r=r: sum(len(f) for f in r.frames.values()) == 9, "9 frames at each node"
            )
            assert r.frames.keys() == ids - {t.peer_id}
            for sender, frames in r.frames.items():
                assert frames == [f"{sender}>{t.peer_id}".encode()]


async def test_simultaneous_dials_keep_the_link_dialled_by_the_lower_key() -> None:
    async with nodes(2) as [(a, ra), (b, rb)]:
        got = await asyncio.gather(a.dial(address=url_of(b)), b.dial(address=url_of(a)))
        assert got == [b.peer_id, a.peer_id]

        def one_link() -> bool:
            ia, ib = a.link_info(b.peer_id), b.link_info(a.peer_id)
            return ia is not None and ib is not None and ia.dialled != ib.dialled

        await until(one_link, "one link, the same at both ends")
        a_keeps_own = keep_link_dialled_by(a._keypair.public_key, b._keypair.public_key)
        info = a.link_info(b.peer_id)
        assert info is not None
        assert info.dialled == a_keeps_own
        assert a.stats()["duplicates"] + b.stats()["duplicates"] >= 1
        await a.send(b.peer_id, b"ping")
        await b.send(a.peer_id, b"pong")
        await rb.wait_for(lambda: rb.frames[a.peer_id] == [b"ping"], "b got ping")
        await ra.wait_for(lambda: ra.frames[b.peer_id] == [b"pong"], "a got pong")
        # the losing link is closed for good: no re-dial loop
        assert a.stats()["reconnect_attempts"] == b.stats()["reconnect_attempts"] == 0


# -- handshake rejections --------------------------------------------------------------------


async def test_a_peer_sending_a_garbage_proof_is_rejected() -> None:
    async with nodes(1) as [(a, ra)]:
        ws = await connect(url_of(a), proxy=None, compression=None)
        hs = Handshake(Keypair.generate(), "websocket", dialler=True)
        await ws.send(hs.hello())
        server_hello = await ws.recv()
        assert isinstance(server_hello, bytes)
        hs.receive_hello(server_hello)
        await ws.send(b"SMHS\x02" + os.urandom(64))
        assert await closed_code(ws) == 1008
        assert ws.close_reason is not None
        assert "bad signature" in ws.close_reason
        await until(lambda: a.stats()["handshake_failures"] == 1, "failure counted")
        assert a.linked() == frozenset()
        assert ra.ups == []
        assert a.state is TransportState.RUNNING


async def test_a_peer_claiming_someone_elses_key_is_rejected() -> None:
    victim, mallory = Keypair.generate(), Keypair.generate()
    async with nodes(1) as [(a, ra)]:
        ws = await connect(url_of(a), proxy=None, compression=None)
        hs = Handshake(mallory, "websocket", dialler=True)
        hello = bytearray(hs.hello())
        hello[6:38] = victim.public_key  # a valid HELLO, but with the victim's key
        await ws.send(bytes(hello))
        server_hello = await ws.recv()
        assert isinstance(server_hello, bytes)
        await ws.send(hs.receive_hello(server_hello))  # signed by mallory, not the victim
        assert await closed_code(ws) == 1008
        await until(lambda: a.stats()["handshake_failures"] == 1, "failure counted")
        assert victim.address not in a.linked()
        assert ra.ups == []


async def test_a_text_hello_and_a_silent_peer_are_rejected() -> None:
    config = WebSocketConfig(handshake_timeout_s=0.3, ping_interval_s=None, close_timeout_s=0.5)
    async with nodes(1, config=config) as [(a, _)]:
        ws = await connect(url_of(a), proxy=None, compression=None)
        await ws.send("HELLO?")
        assert await closed_code(ws) == 1008
        silent = await connect(url_of(a), proxy=None, compression=None)  # never sends anything
        assert await closed_code(silent) == 1008
        assert silent.close_reason is not None
        assert "timed out" in silent.close_reason
        assert a.stats()["handshake_failures"] == 2
        assert a.linked() == frozenset()


async def test_a_peer_proving_another_id_than_the_one_dialled_is_rejected() -> None:
    async with nodes(2) as [(a, ra), (b, rb)]:
        someone_else = Keypair.generate().address
        with pytest.raises(HandshakeError, match="expected"):
            await a.dial(someone_else, address=url_of(b))
        assert a.linked() == frozenset()
        assert ra.ups == []
        await until(lambda: b.stats()["handshake_failures"] == 1, "b saw the dialler give up")
        assert b.linked() == frozenset()
        assert rb.ups == []
        assert a.health is Health.DEGRADED
        # the honest dial still works
        assert await a.dial(address=url_of(b)) == b.peer_id


# -- reconnect -------------------------------------------------------------------------------


async def test_reconnects_after_the_listener_restarts_on_the_same_port() -> None:
    port = free_port()
    key_b = Keypair.generate()
    a = WebSocketTransport(Keypair.generate(), config=FAST, seed=1)
    ra, rb = Recorder(), Recorder()
    b = WebSocketTransport(key_b, listen=f"127.0.0.1:{port}", config=FAST)
    await a.start(ra)
    await b.start(rb)
    try:
        assert b.listen_url == f"ws://127.0.0.1:{port}"
        await a.dial(address=b.listen_url)
        await b.stop()
        await ra.wait_for(lambda: b.peer_id not in a.linked(), "a saw the link drop")
        assert ra.downs[0][0] == b.peer_id
        assert "1001" in ra.downs[0][1]
        await until(lambda: a.stats()["reconnect_attempts"] >= 2, "a is re-dialling")
        assert a.health is Health.DEGRADED

        b = WebSocketTransport(key_b, listen=f"127.0.0.1:{port}", config=FAST)
        rb = Recorder()
        await b.start(rb)
        await ra.wait_for(lambda: b.peer_id in a.linked(), "the link came back")
        await until(lambda: a.stats()["reconnects"] == 1, "the re-dial counted")
        assert ra.ups == [b.peer_id, b.peer_id]
        await a.send(b.peer_id, b"after restart")
        await rb.wait_for(lambda: rb.frames[a.peer_id] == [b"after restart"], "frame after restart")
    finally:
        await a.stop()
        await b.stop()


async def test_disconnect_stops_redialling() -> None:
    async with nodes(2) as [(a, ra), (b, rb)]:
        await a.dial(address=url_of(b))
        await a.disconnect(b.peer_id, "not needed")
        assert ra.downs == [(b.peer_id, "not needed")]
        await rb.wait_for(lambda: rb.downs != [], "b saw the close")
        assert "1000" in rb.downs[0][1]
        await a.disconnect(b.peer_id, "again")  # no-op
        assert a.stats()["reconnect_attempts"] == 0
        assert a.linked() == frozenset()
        # b does not re-dial a link it accepted
        assert b.stats()["reconnect_attempts"] == 0


# -- bad frames from a peer ------------------------------------------------------------------


async def test_text_oversized_and_malformed_frames_close_only_that_link() -> None:
    config = WebSocketConfig(max_frame=4096, ping_interval_s=None, close_timeout_s=0.5)
    async with nodes(2, config=config) as [(a, ra), (b, _)]:
        await b.dial(address=url_of(a))  # an honest peer, which must stay linked
        keys = [Keypair.generate() for _ in range(4)]

        text = await raw_link(url_of(a), keys[0])
        await until(lambda: keys[0].address in a.linked(), "text peer linked")
        await text.send("not binary")
        assert await closed_code(text) == 1003

        big = await raw_link(url_of(a), keys[1])
        await until(lambda: keys[1].address in a.linked(), "oversized peer linked")
        await big.send(b"x" * 4097)
        assert await closed_code(big) == 1009

        bad = await raw_link(url_of(a), keys[2])
        await until(lambda: keys[2].address in a.linked(), "malformed peer linked")
        bad.transport.write(b"\x82\x05hello")  # an unmasked client frame: a protocol error
        assert await closed_code(bad) == 1002

        # garbage instead of an HTTP upgrade never becomes a link
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url_of(a).rsplit(":", 1)[1]))
        writer.write(b"\x00\x01garbage\r\n\r\n")
        await writer.drain()
        assert b" 101 " not in await reader.read(1024)  # no upgrade: rejected or just closed
        writer.close()
        await writer.wait_closed()

        await ra.wait_for(lambda: len(ra.downs) == 3, "three links reported down")
        assert {p for p, _ in ra.downs} == {k.address for k in keys[:3]}
        stats = a.stats()
        assert stats["text_frames"] == stats["oversized_frames"] == stats["protocol_errors"] == 1
        assert a.linked() == {b.peer_id}
        assert a.state is TransportState.RUNNING
        await b.send(a.peer_id, b"still here")
        await ra.wait_for(lambda: ra.frames[b.peer_id] == [b"still here"], "honest peer unaffected")

        # a frame of exactly max_frame passes; one byte more is refused by send
        ok = await raw_link(url_of(a), keys[3])
        await until(lambda: keys[3].address in a.linked(), "fourth peer linked")
        await a.send(keys[3].address, b"y" * 4096)
        assert await ok.recv() == b"y" * 4096
        with pytest.raises(FrameTooLargeError) as info:
            await a.send(keys[3].address, b"y" * 4097)
        assert info.value.code == "frame_too_large"
        assert info.value.limit == 4096
        await ok.close()


async def test_a_failing_handler_does_not_kill_the_link() -> None:
    class Exploding(Recorder):
        def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
            super().on_frame(transport, peer_id, frame)
            if frame == b"boom":
                raise RuntimeError("handler bug")

    a, b = (
        WebSocketTransport(Keypair.generate(), config=FAST),
        WebSocketTransport(Keypair.generate(), config=FAST),
    )
    ra, rb = Exploding(), Recorder()
    await a.start(ra)
    await b.start(rb)
    try:
        await b.dial(address=url_of(a))
        await until(lambda: b.peer_id in a.linked(), "linked")
        await b.send(a.peer_id, b"boom")
        await b.send(a.peer_id, b"after")
        await ra.wait_for(lambda: ra.frames[b.peer_id] == [b"boom", b"after"], "both frames")
        assert a.stats()["handler_errors"] == 1
        assert b.peer_id in a.linked()
    finally:
        await a.stop()
        await b.stop()


# -- backpressure, limits --------------------------------------------------------------------


async def test_send_waits_while_the_queue_is_full_and_resumes_in_order() -> None:
    config = WebSocketConfig(send_queue=4, max_frame=64 << 10, ping_interval_s=None)
    async with nodes(1, config=config) as [(a, _)]:
        # a peer that does not read, with a small socket buffer so TCP fills quickly
        port = int(url_of(a).rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        peer = Keypair.generate()
        ws = await raw_link(url_of(a), peer, sock=sock, max_queue=1)
        await until(lambda: peer.address in a.linked(), "peer linked")
        total, filler = 256, b"z" * ((64 << 10) - 4)  # 16 MiB in all: far more than the buffers hold

        async def produce() -> None:
            for i in range(total):
                await a.send(peer.address, i.to_bytes(4, "big") + filler)

        producer = asyncio.create_task(produce())

        await until(lambda: queued(a, peer.address) == 4, "the send queue fills")
        assert not producer.done()  # send is waiting, the queue did not grow past its bound
        info = a.link_info(peer.address)
        assert info is not None
        assert info.queued == 4

        received = []
        for _ in range(total):
            frame = await ws.recv()
            assert isinstance(frame, bytes)
            received.append(int.from_bytes(frame[:4], "big"))
        await producer
        assert received == list(range(total))
        await ws.close()


async def test_a_send_waiting_on_a_full_queue_fails_when_the_link_drops() -> None:
    config = WebSocketConfig(send_queue=2, max_frame=64 << 10, ping_interval_s=None, close_timeout_s=0.2)
    async with nodes(1, config=config) as [(a, ra)]:
        port = int(url_of(a).rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        peer = Keypair.generate()
        ws = await raw_link(url_of(a), peer, sock=sock, max_queue=1)
        await until(lambda: peer.address in a.linked(), "peer linked")

        async def produce() -> None:
            while True:
                await a.send(peer.address, b"q" * (64 << 10))

        producer = asyncio.create_task(produce())
        await until(lambda: queued(a, peer.address) == 2, "queue full")
        await a.disconnect(peer.address, "going")
        with pytest.raises(NotLinkedError):
            await producer
        assert ra.downs == [(peer.address, "going")]
        ws.transport.abort()
        await ws.wait_closed()


async def test_max_links_and_pending_handshakes_are_enforced() -> None:
    config = WebSocketConfig(max_links=1, max_pending_handshakes=1, ping_interval_s=None)
    async with nodes(1, config=config) as [(a, _)], nodes(2) as [(b, _), (c, _)]:
        await b.dial(address=url_of(a))
        with pytest.raises(TransportError) as info:
            await c.dial(address=url_of(a))
        assert info.value.code in {"dial", "handshake"}
        await until(lambda: a.stats()["rejected_capacity"] == 1, "refusal counted")
        assert a.linked() == {b.peer_id}
        with pytest.raises(TransportError, match="max_links") as own:
            await a.dial(address=url_of(c))
        assert own.value.code == "max_links"


# -- unsupported, health, life cycle ---------------------------------------------------------


async def test_unsupported_targets_and_dial_failures() -> None:
    clock = ManualClock()
    config = WebSocketConfig(health_window_s=10.0, ping_interval_s=None)
    async with nodes(1, config=config, clock=clock) as [(a, _)]:
        stranger = Keypair.generate().address
        assert a.supports(address="ws://127.0.0.1:9")
        assert not a.supports(address="wss://example.org")
        assert not a.supports(address="http://x")
        assert not a.supports(stranger)
        assert not a.supports()
        for bad in ("http://127.0.0.1:1", "ws://", "ws://127.0.0.1:99999", "not a url"):
            with pytest.raises(UnsupportedError):
                await a.dial(address=bad)
        with pytest.raises(UnsupportedError):
            await a.dial(stranger)
        with pytest.raises(UnsupportedError):
            a.add_address(stranger, "udp://127.0.0.1:1")

        a.add_address(stranger, f"ws://127.0.0.1:{free_port()}")  # nobody listens there
        assert a.supports(stranger)
        assert a.health is Health.UP
        with pytest.raises(TransportError) as info:
            await a.dial(stranger)
        assert info.value.code == "dial"
        assert a.stats()["dial_failures"] == 1
        assert a.health is Health.DEGRADED
        await clock.advance(11.0)
        assert a.health is Health.UP


async def test_stop_reports_links_down_and_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    a, b = (
        WebSocketTransport(Keypair.generate(), config=FAST),
        WebSocketTransport(Keypair.generate(), config=FAST),
    )
    ra, rb = Recorder(), Recorder()
    await a.start(ra)
    await b.start(rb)
    await a.dial(address=url_of(b))
    await until(lambda: a.peer_id in b.linked(), "linked")
    await a.send(b.peer_id, b"x")
    await rb.wait_for(lambda: rb.frames[a.peer_id] == [b"x"], "frame")
    assert a.stats()["tasks"] >= 2  # the link's reader and writer
    await a.stop()
    await a.stop()  # idempotent
    assert ra.downs == [(b.peer_id, "transport stopped")]
    await rb.wait_for(lambda: rb.downs != [], "b saw a leave")
    await b.stop()
    assert a.state is b.state is TransportState.STOPPED
    assert a.health is Health.DOWN
    assert a.linked() == frozenset()
    assert a.stats()["tasks"] == b.stats()["tasks"] == 0
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before
    with pytest.raises(TransportError) as info:
        await a.dial(address=url_of(b))
    assert info.value.code == "state"
    with pytest.raises(TransportError):
        await a.start(ra)


async def test_stop_during_a_pending_dial() -> None:
    async with nodes(1, config=WebSocketConfig(handshake_timeout_s=30.0, ping_interval_s=None)) as [(a, _)]:
        # a listener that accepts TCP but never answers the upgrade
        silent: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda r, w: silent.append(w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            dial = asyncio.create_task(a.dial(address=f"ws://127.0.0.1:{port}"))
            await until(lambda: a.stats()["pending_handshakes"] == 1, "dial in progress")
            await a.stop()
            with pytest.raises(TransportError) as info:
                await dial
            assert info.value.code == "stopped"
            assert a.stats()["tasks"] == 0
        finally:
            for writer in silent:
                writer.close()
            server.close()
            await server.wait_closed()


def test_config_is_validated() -> None:
    for field, value in [
        ("max_frame", 100),
        ("max_frame", 1 << 30),
        ("send_queue", 0),
        ("handshake_timeout_s", 0.0),
        ("ping_interval_s", -1.0),
        ("reconnect_jitter", 1.0),
        ("max_links", 0),
        ("max_pending_handshakes", 0),
    ]:
        with pytest.raises(ConfigError) as info:
            WebSocketConfig(**{field: value})  # type: ignore[arg-type]
        assert info.value.field == field
    with pytest.raises(ConfigError) as info:
        WebSocketConfig(reconnect_base_s=2.0, reconnect_max_s=1.0)
    assert info.value.field == "reconnect_max_s"
    for listen in ("nohost", "127.0.0.1:x", "127.0.0.1:70000", ":80", "[zz::1]:0"):
        with pytest.raises(ConfigError) as info:
            WebSocketTransport(Keypair.generate(), listen=listen)
        assert info.value.field == "listen"
    assert WebSocketConfig(ping_interval_s=None).ping_interval_s is None
    with pytest.raises(AttributeError):
        WebSocketConfig().max_frame = 1  # type: ignore[misc]


async def test_a_peer_that_stops_answering_pings_is_dropped_and_redialled() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    key = Keypair.generate()
    accepted = 0

    async def deaf_after_handshake(ws: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        hs = Handshake(key, "websocket", dialler=False)
        await ws.send(hs.hello())
        hello = await ws.recv()
        assert isinstance(hello, bytes)
        await ws.send(hs.receive_hello(hello))
        proof = await ws.recv()
        assert isinstance(proof, bytes)
        hs.receive_proof(proof)
        if accepted == 1:
            ws.transport.pause_reading()  # never sees the pings again, so never answers them
        await ws.wait_closed()

    config = WebSocketConfig(
        ping_interval_s=0.05, ping_timeout_s=0.1, close_timeout_s=0.1, reconnect_base_s=0.02
    )
    async with serve(deaf_after_handshake, "127.0.0.1", 0, compression=None, close_timeout=0.1) as server:
        port = server.sockets[0].getsockname()[1]
        async with nodes(1, config=config) as [(a, ra)]:
            assert await a.dial(address=f"ws://127.0.0.1:{port}") == key.address
            await ra.wait_for(lambda: ra.downs != [], "the deaf link dropped")
            assert ra.downs[0] == (key.address, "keep-alive timeout")
            await ra.wait_for(lambda: ra.ups == [key.address, key.address], "re-dialled")
            assert accepted == 2
