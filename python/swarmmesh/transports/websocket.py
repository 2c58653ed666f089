"""Direct node-to-node links over WebSocket (``ws://`` URLs), for server nodes.

:class:`WebSocketTransport` listens on a TCP port, dials ``ws://`` URLs, and carries binary
frames only. Every new connection, in either direction, runs the link
:class:`~swarmmesh.transports.handshake.Handshake` (under ``handshake_timeout_s``) before it
is reported up; the peer id is the address the handshake proved. Beyond the
:class:`~swarmmesh.transports.base.Transport` contract it keeps links alive with WebSocket
pings, gives each link a bounded send queue drained by its own writer task, and re-dials the
URLs it dialled, with exponential backoff and jitter, when their links drop.

Close codes it sends: 1000 (``disconnect``), 1001 (``stop``), 1003 (a text frame), 1008 (a
failed handshake), 1009 (a frame above ``max_frame``), 1013 (over ``max_links`` or
``max_pending_handshakes``) and 4000 (the losing link of a duplicate pair).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.protocol import State

from swarmmesh.clock import Clock, SystemClock
from swarmmesh.errors import ConfigError
from swarmmesh.identity import Keypair
from swarmmesh.transports._ws_support import (
    CLOSE_DUPLICATE,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    CLOSE_UNSUPPORTED_DATA,
    NO_REDIAL_CODES,
    STAT_NAMES,
    LinkInfo,
    WebSocketConfig,
    parse_listen,
    remember_bounded,
    remote_of,
    ws_url,
)
from swarmmesh.transports.base import (
    Capabilities,
    FrameTooLargeError,
    HandshakeError,
    Health,
    LinkHandler,
    NotLinkedError,
    TransportError,
    TransportState,
    UnsupportedError,
    keep_link_dialled_by,
)
from swarmmesh.transports.handshake import Handshake

if TYPE_CHECKING:
    from swarmmesh.transports.base import Transport

__all__ = [
    "CLOSE_DUPLICATE",
    "LinkInfo",
    "WebSocketConfig",
    "WebSocketTransport",
]

_log = logging.getLogger(__name__)


class _Link:
    """One authenticated connection and its send queue."""

    __slots__ = (
        "conn",
        "dialled",
        "dropped",
        "local_reason",
        "outbox",
        "peer_id",
        "peer_key",
        "ready",
        "space",
        "url",
    )

    def __init__(
        self, conn: Connection, peer_id: str, peer_key: bytes, *, dialled: bool, url: str | None
    ) -> None:
        self.conn = conn
        self.peer_id = peer_id
        self.peer_key = peer_key
        self.dialled = dialled
        self.url = url
        self.outbox: collections.deque[bytes] = collections.deque()
        self.ready = asyncio.Event()  # set when the outbox has frames (or the link dropped)
        self.space = asyncio.Event()  # set when the outbox lost a frame (or the link dropped)
        self.dropped = False
        self.local_reason: str | None = None  # why *we* closed it, if we did


class WebSocketTransport:
    """A :class:`~swarmmesh.transports.base.Transport` over WebSocket.

    ``listen`` is ``"host:port"`` (``"[::1]:0"`` for IPv6; port 0 picks a free one) or
    ``None`` to only dial. After :meth:`start`, :attr:`listen_url` is the ``ws://`` URL
    peers dial. :meth:`dial` takes a ``ws://`` address, or the peer id of a peer whose URL
    the transport has learnt (from an earlier dial or :meth:`add_address`).
    """

    def __init__(
        self,
        keypair: Keypair,
        *,
        listen: str | None = "127.0.0.1:0",
        name: str = "websocket",
        config: WebSocketConfig | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        """Build a stopped transport; ``seed`` fixes the reconnect jitter (tests)."""
        if not 1 <= len(name.encode()) <= 255:
            raise ConfigError("name", "must be 1-255 bytes of UTF-8")
        self._keypair = keypair
        self._name = name
        self._config = config if config is not None else WebSocketConfig()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._listen = parse_listen(listen) if listen is not None else None
        self._rng = random.Random(seed)
        self._capabilities = Capabilities(
            reliable=True, ordered=True, max_frame=self._config.max_frame, relayed=False
        )
        self._state = TransportState.NEW
        self._handler: LinkHandler | None = None
        self._server: Server | None = None
        self._listen_url: str | None = None
        self._links: dict[str, _Link] = {}
        self._pending_in = 0
        self._pending_out = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dials: dict[str, asyncio.Task[str]] = {}
        self._redials: dict[str, asyncio.Task[None]] = {}
        #: peer id -> URL (for ``dial(peer_id)``); URL -> peer id proven there (for re-dialling).
        self._addresses: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._dialled: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._failures: collections.deque[float] = collections.deque(maxlen=64)
        self._stats = dict.fromkeys(STAT_NAMES, 0)
        self._stopped = asyncio.Event()

    # -- the Transport protocol ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The transport's name for routing (``"websocket"`` unless told otherwise)."""
        return self._name

    @property
    def peer_id(self) -> str:
        """The peer id of this node (its keypair's address)."""
        return self._keypair.address

    @property
    def state(self) -> TransportState:
        """The life-cycle state."""
        return self._state

    @property
    def capabilities(self) -> Capabilities:
        """Reliable and ordered (TCP), direct, ``max_frame`` from the config."""
        return self._capabilities

    @property
    def config(self) -> WebSocketConfig:
        """The options the transport runs with."""
        return self._config

    @property
    def health(self) -> Health:
        """``down`` unless running; ``degraded`` after a dial failure or lost link in ``health_window_s``."""
        if self._state is not TransportState.RUNNING:
            return Health.DOWN
        if self._failures:
            horizon = self._clock.now() - self._config.health_window_s
            while self._failures and self._failures[0] < horizon:
                self._failures.popleft()
        return Health.DEGRADED if self._failures else Health.UP

    @property
    def listen_url(self) -> str | None:
        """The ``ws://host:port`` URL peers dial (``None`` before start or without a listener)."""
        return self._listen_url

    async def start(self, handler: LinkHandler) -> None:
        """Listen (if ``listen`` was given) and report links and frames to ``handler``."""
        if self._state is not TransportState.NEW:
            raise TransportError(self._name, f"cannot start from state {self._state.value}", code="state")
        self._state = TransportState.STARTING
        self._handler = handler
        if self._listen is not None:
            host, port = self._listen
            cfg = self._config
            try:
                self._server = await serve(
                    self._accept,
                    host,
                    port,
                    compression=None,
                    open_timeout=cfg.handshake_timeout_s,
                    ping_interval=cfg.ping_interval_s,
                    ping_timeout=cfg.ping_timeout_s,
                    close_timeout=cfg.close_timeout_s,
                    max_size=cfg.max_frame,
                    max_queue=cfg.recv_queue,
                    server_header=None,
                )
            except OSError as exc:
                self._state = TransportState.STOPPED
                self._stopped.set()
                raise TransportError(
                    self._name, f"cannot listen on {host}:{port}: {exc}", code="listen"
                ) from exc
            bound = self._server.sockets[0].getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            self._listen_url = f"ws://{shown}:{bound}"
            _log.info("%s: listening on %s", self._name, self._listen_url)
        self._state = TransportState.RUNNING

    async def stop(self) -> None:
        """Close every link (each reported down, peers told 1001), stop listening, await every task."""
        if self._state is TransportState.STOPPED:
            return
        if self._state is TransportState.STOPPING:
            await self._stopped.wait()
            return
        self._state = TransportState.STOPPING
        try:
            for task in [*self._redials.values(), *self._dials.values()]:
                task.cancel()
            links = list(self._links.values())
            for link in links:
                link.local_reason = "transport stopped"
                self._drop(link, "transport stopped")
            if links:
                await asyncio.gather(
                    *(self._close_conn(link.conn, CLOSE_GOING_AWAY, "going away") for link in links)
                )
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            while self._tasks:
                tasks = list(self._tasks)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._tasks.difference_update(tasks)
        finally:
            self._state = TransportState.STOPPED
            self._stopped.set()
            _log.info("%s: stopped", self._name)

    def supports(self, peer_id: str | None = None, *, address: str | None = None) -> bool:
        """``ws://`` URLs, and peers linked now or whose URL the transport has learnt."""
        if address is not None:
            return ws_url(address) is not None
        if peer_id is not None:
            return peer_id in self._links or peer_id in self._addresses
        return False

    async def dial(self, peer_id: str | None = None, *, address: str | None = None) -> str:
        """Open an authenticated link to ``address`` (a ``ws://`` URL) or to a known ``peer_id``.

        With both, the peer at ``address`` must prove ``peer_id``. Returns at once if the
        peer is already linked; concurrent dials of one URL share one attempt. Raises
        :class:`UnsupportedError` (not a ``ws://`` URL, unknown peer), :class:`HandshakeError`
        (the peer cannot prove its key, or proves another), and :class:`TransportError`
        (code ``dial`` when the connection fails, ``max_links``, ``state``, ``stopped``).
        """
        self._require_running()
        if address is not None:
            url = ws_url(address)
            if url is None:
                raise UnsupportedError(self._name, f"not a ws:// URL: {address!r}")
            known = self._dialled.get(url)
            if peer_id is None and known is not None and known in self._links:
                return known
        elif peer_id is not None:
            found = self._addresses.get(peer_id)
            if found is None:
                if peer_id in self._links:
                    return peer_id
                raise UnsupportedError(self._name, f"no ws:// URL known for {peer_id}")
            url = found
        else:
            raise UnsupportedError(self._name, "dial needs a peer id or an address")
        if peer_id is not None and peer_id in self._links:
            return peer_id
        return await self._dial_shared(url, peer_id)

    def linked(self) -> frozenset[str]:
        """The peers with an authenticated link up now."""
        return frozenset(self._links)

    async def send(self, peer_id: str, frame: bytes) -> None:
        """Queue ``frame`` on the link to ``peer_id``; waits while its queue holds ``send_queue`` frames.

        Raises :class:`FrameTooLargeError` above ``max_frame`` and :class:`NotLinkedError`
        without a link (also when the link drops while waiting).
        """
        size = len(frame)
        if size > self._config.max_frame:
            raise FrameTooLargeError(self._name, size, self._config.max_frame)
        capacity = self._config.send_queue
        while True:
            link = self._links.get(peer_id)
            if link is None:
                raise NotLinkedError(self._name, peer_id)
            if len(link.outbox) < capacity:
                link.outbox.append(bytes(frame))
                link.ready.set()
                return
            link.space.clear()
            await link.space.wait()

    async def disconnect(self, peer_id: str, reason: str) -> None:
        """Close the link to ``peer_id`` (code 1000) and stop re-dialling it. No-op without a link."""
        for url in [u for u, p in self._dialled.items() if p == peer_id]:
            del self._dialled[url]
            task = self._redials.pop(url, None)
            if task is not None:
                task.cancel()
        link = self._links.get(peer_id)
        if link is None:
            return
        link.local_reason = reason
        self._drop(link, reason)
        await self._close_conn(link.conn, CLOSE_NORMAL, reason)

    # -- extras ------------------------------------------------------------------------------

    def add_address(self, peer_id: str, url: str) -> None:
        """Remember that ``peer_id`` listens at ``url`` (so ``dial(peer_id)`` works).

        Raises :class:`UnsupportedError` if ``url`` is not a ``ws://`` URL. The book keeps
        the ``max_addresses`` most recent entries.
        """
        checked = ws_url(url)
        if checked is None:
            raise UnsupportedError(self._name, f"not a ws:// URL: {url!r}")
        remember_bounded(self._addresses, peer_id, checked, self._config.max_addresses)

    def link_info(self, peer_id: str) -> LinkInfo | None:
        """The link to ``peer_id`` (direction, URL, queued frames), or ``None``."""
        link = self._links.get(peer_id)
        if link is None:
            return None
        return LinkInfo(peer_id=peer_id, dialled=link.dialled, url=link.url, queued=len(link.outbox))

    def stats(self) -> dict[str, int]:
        """Counters (links, handshakes, frames, rejections, reconnects) and current sizes."""
        out = dict(self._stats)
        out["links"] = len(self._links)
        out["pending_handshakes"] = self._pending_in + self._pending_out
        out["queued_frames"] = sum(len(link.outbox) for link in self._links.values())
        out["tasks"] = len(self._tasks)
        return out

    def __repr__(self) -> str:
        return (
            f"WebSocketTransport(name={self._name!r}, peer_id={self.peer_id!r}, "
            f"state={self._state.value}, listen_url={self._listen_url!r}, links={len(self._links)})"
        )

    # -- dialling ----------------------------------------------------------------------------

    async def _dial_shared(self, url: str, expect: str | None) -> str:
        task = self._dials.get(url)
        if task is None:
            task = self._spawn(self._dial_url(url, expect))
            self._dials[url] = task

            def forget(done: asyncio.Task[str], url: str = url) -> None:
                if self._dials.get(url) is done:
                    del self._dials[url]

            task.add_done_callback(forget)
        try:
            peer = await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise TransportError(self._name, f"stopped while dialling {url}", code="stopped") from None
            raise
        if expect is not None and peer != expect:
            raise HandshakeError(self._name, f"peer at {url} is {peer}, expected {expect}")
        return peer

    async def _dial_url(self, url: str, expect: str | None) -> str:
        cfg = self._config
        if len(self._links) + self._pending_in + self._pending_out >= cfg.max_links:
            raise TransportError(self._name, f"max_links ({cfg.max_links}) reached", code="max_links")
        self._pending_out += 1
        try:
            try:
                conn = await connect(
                    url,
                    proxy=None,
                    compression=None,
                    user_agent_header=None,
                    open_timeout=cfg.handshake_timeout_s,
                    ping_interval=cfg.ping_interval_s,
                    ping_timeout=cfg.ping_timeout_s,
                    close_timeout=cfg.close_timeout_s,
                    max_size=cfg.max_frame,
                    max_queue=cfg.recv_queue,
                )
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._stats["dial_failures"] += 1
                self._record_failure()
                _log.info("%s: cannot connect to %s: %s", self._name, url, exc)
                raise TransportError(self._name, f"cannot connect to {url}: {exc}", code="dial") from exc
            try:
                peer_id, peer_key = await self._handshake(conn, dialler=True, expect=expect, remote=url)
            except HandshakeError:
                self._stats["dial_failures"] += 1
                self._record_failure()
                raise
        finally:
            self._pending_out -= 1
        remember_bounded(self._addresses, peer_id, url, cfg.max_addresses)
        remember_bounded(self._dialled, url, peer_id, cfg.max_addresses)
        link = await self._adopt(conn, peer_id, peer_key, dialled=True, url=url)
        if link is not None:
            self._spawn(self._run_link(link))
        elif peer_id not in self._links:
            raise TransportError(self._name, f"link to {peer_id} closed at once", code="dial")
        return peer_id

    def _schedule_redial(self, url: str, peer_id: str) -> None:
        if (
            not self._config.reconnect
            or self._state is not TransportState.RUNNING
            or self._dialled.get(url) != peer_id
            or url in self._redials
        ):
            return
        task = self._spawn(self._redial(url, peer_id))
        self._redials[url] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._redials.get(url) is done:
                del self._redials[url]

        task.add_done_callback(forget)

    async def _redial(self, url: str, peer_id: str) -> None:
        cfg = self._config
        attempt = 0
        while self._state is TransportState.RUNNING and self._dialled.get(url) == peer_id:
            nominal = min(cfg.reconnect_base_s * 2.0 ** min(attempt, 60), cfg.reconnect_max_s)
            delay = nominal * (1.0 + cfg.reconnect_jitter * self._rng.uniform(-1.0, 1.0))
            attempt += 1
            await self._clock.sleep(delay)
            if peer_id in self._links:
                return  # the peer came back on its own (it dialled us)
            self._stats["reconnect_attempts"] += 1
            try:
                await self._dial_shared(url, peer_id)
            except TransportError as exc:
                _log.info("%s: re-dial %d of %s failed: %s", self._name, attempt, url, exc)
                continue
            self._stats["reconnects"] += 1
            _log.info("%s: re-dialled %s after %d attempt(s)", self._name, url, attempt)
            return

    # -- accepting ---------------------------------------------------------------------------

    async def _accept(self, conn: ServerConnection) -> None:
        cfg = self._config
        if self._state is not TransportState.RUNNING:
            await self._close_conn(conn, CLOSE_GOING_AWAY, "going away")
            return
        refusal = None
        if self._pending_in >= cfg.max_pending_handshakes:
            refusal = "too many pending handshakes"
        elif len(self._links) + self._pending_in + self._pending_out >= cfg.max_links:
            refusal = "too many links"
        if refusal is not None:
            self._stats["rejected_capacity"] += 1
            _log.warning("%s: refusing %s: %s", self._name, remote_of(conn), refusal)
            await self._close_conn(conn, CLOSE_TRY_AGAIN, refusal)
            return
        self._pending_in += 1
        try:
            peer_id, peer_key = await self._handshake(
                conn, dialler=False, expect=None, remote=remote_of(conn)
            )
        except HandshakeError:
            return
        finally:
            self._pending_in -= 1
        link = await self._adopt(conn, peer_id, peer_key, dialled=False, url=None)
        if link is not None:
            await self._run_link(link)

    # -- links -------------------------------------------------------------------------------

    async def _handshake(
        self, conn: Connection, *, dialler: bool, expect: str | None, remote: str
    ) -> tuple[str, bytes]:
        hs = Handshake(self._keypair, self._name, dialler=dialler, expect=expect)
        error: HandshakeError
        try:
            async with asyncio.timeout(self._config.handshake_timeout_s):
                await conn.send(hs.hello())
                proof = hs.receive_hello(await self._recv_handshake(conn, "HELLO"))
                await conn.send(proof)
                peer_id = hs.receive_proof(await self._recv_handshake(conn, "PROOF"))
        except TimeoutError:
            error = HandshakeError(self._name, "handshake timed out")
        except HandshakeError as exc:
            error = exc
        except ConnectionClosed as exc:
            error = HandshakeError(self._name, f"connection closed during the handshake ({exc})")
        else:
            self._stats["handshakes_ok"] += 1
            return peer_id, hs.peer_public_key
        self._stats["handshake_failures"] += 1
        _log.warning("%s: handshake with %s failed: %s", self._name, remote, error)
        await self._close_conn(conn, CLOSE_POLICY, f"handshake failed: {error}")
        raise error

    async def _recv_handshake(self, conn: Connection, what: str) -> bytes:
        data = await conn.recv()
        if isinstance(data, str):
            raise HandshakeError(self._name, f"text frame instead of {what}")
        return data

    async def _adopt(
        self, conn: Connection, peer_id: str, peer_key: bytes, *, dialled: bool, url: str | None
    ) -> _Link | None:
        """Make a handshaken connection a link, resolving a duplicate; ``None`` if it lost."""
        if self._state is not TransportState.RUNNING:
            await self._close_conn(conn, CLOSE_GOING_AWAY, "going away")
            return None
        new = _Link(conn, peer_id, peer_key, dialled=dialled, url=url)
        old = self._links.get(peer_id)
        if old is None:
            self._links[peer_id] = new
            self._stats["links_up"] += 1
            _log.info("%s: link up with %s (%s)", self._name, peer_id, "dialled" if dialled else "accepted")
            self._report("on_link_up", peer_id)
            return new
        self._stats["duplicates"] += 1
        if old.dialled == new.dialled:
            keep_new = True  # same direction: a fresh link replaces one the peer gave up on
        else:
            keep_new = new.dialled == keep_link_dialled_by(self._keypair.public_key, peer_key)
        if not keep_new:
            _log.info("%s: duplicate link with %s: keeping the older one", self._name, peer_id)
            await self._close_conn(conn, CLOSE_DUPLICATE, "duplicate link")
            return None
        # Swap silently: the peer stays linked; queued frames move to the new link.
        _log.info("%s: duplicate link with %s: keeping the newer one", self._name, peer_id)
        new.outbox.extend(old.outbox)
        old.outbox.clear()
        if new.outbox:
            new.ready.set()
        self._links[peer_id] = new
        old.local_reason = "duplicate link"
        old.dropped = True
        old.ready.set()
        old.space.set()
        self._spawn(self._close_conn(old.conn, CLOSE_DUPLICATE, "duplicate link"))
        return new

    async def _run_link(self, link: _Link) -> None:
        writer = self._spawn(self._write(link))
        reason, redial = "connection lost", False
        try:
            reason, redial = await self._read(link)
        finally:
            self._drop(link, link.local_reason or reason)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            if link.conn.state is not State.CLOSED:
                await self._close_conn(link.conn, CLOSE_GOING_AWAY, "going away")
        if redial and link.url is not None and link.local_reason is None and link.peer_id not in self._links:
            self._schedule_redial(link.url, link.peer_id)

    async def _read(self, link: _Link) -> tuple[str, bool]:
        """Deliver frames until the link ends; return (reason, whether to re-dial)."""
        conn = link.conn
        handler = self._handler
        while True:
            try:
                data = await conn.recv()
            except ConnectionClosed as exc:
                return self._closed(link, exc)
            if isinstance(data, str):
                self._stats["text_frames"] += 1
                _log.warning("%s: %s sent a text frame: closing its link", self._name, link.peer_id)
                link.local_reason = "text frame from peer"
                self._drop(link, link.local_reason)
                await self._close_conn(conn, CLOSE_UNSUPPORTED_DATA, "binary frames only")
                return link.local_reason, False
            self._stats["frames_in"] += 1
            self._stats["bytes_in"] += len(data)
            if handler is not None and link.peer_id in self._links:
                try:
                    handler.on_frame(self._name, link.peer_id, data)
                except Exception:
                    self._stats["handler_errors"] += 1
                    _log.exception("%s: on_frame raised for a frame from %s", self._name, link.peer_id)

    def _closed(self, link: _Link, exc: ConnectionClosed) -> tuple[str, bool]:
        """Why a link closed that we did not close ourselves, and whether to re-dial it."""
        sent, rcvd = exc.sent, exc.rcvd
        if rcvd is not None and (sent is None or exc.rcvd_then_sent):
            detail = f" {rcvd.reason}" if rcvd.reason else ""
            if rcvd.code == CLOSE_DUPLICATE:
                return "duplicate link (closed by the peer)", False
            failure = rcvd.code not in NO_REDIAL_CODES and rcvd.code != CLOSE_GOING_AWAY
            if failure:
                self._record_failure()
            return f"closed by the peer ({rcvd.code}{detail})", rcvd.code not in NO_REDIAL_CODES
        if sent is not None:
            if sent.code == CLOSE_TOO_BIG:
                self._stats["oversized_frames"] += 1
                _log.warning("%s: %s sent a frame above max_frame: link closed", self._name, link.peer_id)
                return "oversized frame from peer", False
            if sent.code == CLOSE_PROTOCOL_ERROR:
                self._stats["protocol_errors"] += 1
                _log.warning("%s: %s broke the WebSocket protocol: link closed", self._name, link.peer_id)
                return "protocol error from peer", False
            if sent.code == CLOSE_INTERNAL_ERROR:
                self._record_failure()
                _log.info("%s: link with %s: keep-alive timed out", self._name, link.peer_id)
                return "keep-alive timeout", True
            return f"closed ({sent.code} {sent.reason})", False
        self._record_failure()
        return "connection lost", True

    async def _write(self, link: _Link) -> None:
        conn = link.conn
        try:
            while True:
                while not link.outbox:
                    if link.dropped:
                        return
                    link.ready.clear()
                    await link.ready.wait()
                if link.dropped:
                    return
                frame = link.outbox.popleft()
                link.space.set()
                await conn.send(frame)
                self._stats["frames_out"] += 1
                self._stats["bytes_out"] += len(frame)
        except ConnectionClosed:
            return

    def _drop(self, link: _Link, reason: str) -> None:
        """Mark ``link`` gone (idempotent); report the peer down if it was its current link."""
        if link.dropped:
            return
        link.dropped = True
        link.ready.set()
        link.space.set()
        if self._links.get(link.peer_id) is link:
            del self._links[link.peer_id]
            self._stats["links_down"] += 1
            _log.info("%s: link down with %s: %s", self._name, link.peer_id, reason)
            self._report("on_link_down", link.peer_id, reason)

    # -- helpers -----------------------------------------------------------------------------

    def _report(self, event: str, peer_id: str, *args: str) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            getattr(handler, event)(self._name, peer_id, *args)
        except Exception:
            self._stats["handler_errors"] += 1
            _log.exception("%s: %s raised for %s", self._name, event, peer_id)

    async def _close_conn(self, conn: Connection, code: int, reason: str) -> None:
        # A close reason is at most 123 bytes of UTF-8.
        short = reason.encode()[:120].decode(errors="ignore")
        try:
            # websockets bounds the closing handshake by close_timeout, but not the wait to
            # write the close frame behind a full socket buffer (a peer that stopped reading).
            async with asyncio.timeout(self._config.close_timeout_s * 2):
                await conn.close(code, short)
        except TimeoutError:
            _log.info("%s: %s did not take the close frame: aborting", self._name, remote_of(conn))
            conn.transport.abort()
        except (OSError, WebSocketException) as exc:  # the socket is gone already
            _log.debug("%s: closing %s: %s", self._name, remote_of(conn), exc)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, TransportError):
            _log.error("%s: task %r failed", self._name, task, exc_info=exc)

    def _record_failure(self) -> None:
        if self._state is TransportState.RUNNING:
            self._failures.append(self._clock.now())

    def _require_running(self) -> None:
        if self._state is not TransportState.RUNNING:
            raise TransportError(self._name, f"not running (state {self._state.value})", code="state")


if TYPE_CHECKING:

    def _conforms(transport: WebSocketTransport) -> Transport:
        """Type-checked only: WebSocketTransport implements the Transport protocol."""
        return transport
