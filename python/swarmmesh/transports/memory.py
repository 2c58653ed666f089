"""An in-process network: transports over in-memory links with settable loss, latency and partitions.

:class:`MemoryNetwork` is the test double the whole mesh is proven on (aiortc's and netem's
idea): every transport it hands out implements the full
:class:`~swarmmesh.transports.base.Transport` contract, runs the real link
:class:`~swarmmesh.transports.handshake.Handshake` on every new link, and moves frames
between nodes of the same process through bounded per-link queues. Conditions (loss,
latency, jitter, bandwidth, duplication, reordering) are set per transport name or per
pair of peers; :meth:`MemoryNetwork.partition` splits the nodes into groups that cannot
reach each other; :meth:`MemoryNetwork.kill` takes a transport down (for every node or for
one) and :meth:`MemoryNetwork.revive` brings it back, restoring the links it tore down.

Everything random is drawn from one ``random.Random(seed)``, and every delay is a timer of
the injected clock, so a run with a :class:`~swarmmesh.clock.ManualClock` and a fixed seed
is reproducible. Frames with zero delay are delivered on the next loop iteration, in
batches per link, which is what lets a simulation of a hundred nodes run in seconds.

Peers are dialled by peer id alone (``dial(peer_id)``); ``supports(address=...)`` is always
``False``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from swarmmesh.clock import Clock, SystemClock
from swarmmesh.errors import ConfigError
from swarmmesh.identity import Keypair
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
)
from swarmmesh.transports.handshake import Handshake

__all__ = ["LinkConditions", "MemoryNetwork", "MemoryTransport", "create_memory_transport"]

log = logging.getLogger(__name__)

#: Default bound of frames in flight on one direction of one link.
DEFAULT_QUEUE_SIZE: Final = 1024
#: Default largest frame (1 MiB).
DEFAULT_MAX_FRAME: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """How a link behaves. Probabilities are per frame; times in milliseconds.

    ``loss``: a frame is dropped. ``latency_ms`` plus a uniform ``±jitter_ms``: its
    one-way delay (never below 0). ``bandwidth_bps``: frames are serialised at this rate
    (``None``: unlimited), so a burst queues behind itself. ``duplicate``: the frame is
    delivered twice. ``reorder``: the frame is held back by one more latency (at least
    1 ms) and may arrive after frames sent later; otherwise a link keeps order.
    """

    loss: float = 0.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_bps: float | None = None
    duplicate: float = 0.0
    reorder: float = 0.0
    #: No delay of any kind: frames go out on the next loop iteration (derived).
    immediate: bool = field(init=False, repr=False, compare=False, default=True)

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
                raise ConfigError(name, f"must be a probability in [0, 1], got {value!r}")
        for name in ("latency_ms", "jitter_ms"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0.0):
                raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
        bw = self.bandwidth_bps
        if bw is not None and not (isinstance(bw, int | float) and math.isfinite(bw) and bw > 0):
            raise ConfigError("bandwidth_bps", f"must be None or a finite number > 0, got {bw!r}")
        no_delay = self.latency_ms == 0.0 and self.jitter_ms == 0.0
        object.__setattr__(self, "immediate", no_delay and bw is None and not self.reorder)


_PERFECT: Final = LinkConditions()


class _Direction:
    """One direction of one link: frames from ``src`` to ``dst``, bounded in flight."""

    __slots__ = (
        "busy_until",
        "dst",
        "in_flight",
        "last_at",
        "link",
        "pending",
        "scheduled",
        "src",
        "waiters",
    )

    def __init__(self, link: _Link, src: MemoryTransport, dst: MemoryTransport) -> None:
        self.link = link
        self.src = src
        self.dst = dst
        self.in_flight = 0
        self.last_at = 0.0  # latest delivery time scheduled, for order
        self.busy_until = 0.0  # bandwidth: when the "wire" is free again
        self.pending: list[bytes] = []  # immediate frames awaiting the next loop iteration
        self.scheduled = False
        self.waiters: deque[asyncio.Future[None]] = deque()

    def release(self, n: int = 1) -> None:
        self.in_flight -= n
        self.src.network.frames_in_flight -= n
        while self.waiters and self.in_flight < self.src.queue_size:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def flush(self) -> None:
        """Deliver the batch of immediate frames (a loop callback)."""
        frames, self.pending = self.pending, []
        self.scheduled = False
        self.release(len(frames))
        link, dst = self.link, self.dst
        handler = dst._handler
        counters = self.src.network.counters
        if link.closed or handler is None or dst._state is not TransportState.RUNNING:
            counters["dropped_closed"] += len(frames)
            return
        name, src_id, on_frame = dst._name, self.src._peer_id, handler.on_frame
        for i, frame in enumerate(frames):
            if link.closed:  # the handler closed the link while we delivered
                counters["dropped_closed"] += len(frames) - i
                return
            counters["delivered"] += 1
            try:
                on_frame(name, src_id, frame)
            except Exception:
                log.exception("memory: on_frame handler failed (frame from %s dropped)", src_id)

    def deliver_later(self, frame: bytes) -> None:
        self.release()
        if self.link.closed:
            self.src.network.counters["dropped_closed"] += 1
            return
        self.src.network.counters["delivered"] += 1
        self.dst.receive(self.src.peer_id, frame)


class _Link:
    """An authenticated link between two transports of the same name."""

    __slots__ = ("a", "b", "closed", "directions")

    def __init__(self, a: MemoryTransport, b: MemoryTransport) -> None:
        self.a = a
        self.b = b
        self.closed = False
        self.directions = {a.peer_id: _Direction(self, a, b), b.peer_id: _Direction(self, b, a)}

    def close(self) -> None:
        self.closed = True
        for d in self.directions.values():
            for fut in d.waiters:
                if not fut.done():
                    fut.set_result(None)
            d.waiters.clear()


class MemoryNetwork:
    """An in-process network of :class:`MemoryTransport` s (see the module docstring).

    ``seed`` seeds every random draw; ``clock`` times every delay (default: the running
    loop's). ``queue_size`` bounds the frames in flight per link direction (a full
    direction makes ``send`` wait); ``max_frame`` is the default largest frame.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: Clock | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        if queue_size < 1:
            raise ConfigError("queue_size", f"must be >= 1, got {queue_size}")
        if max_frame < 1024:
            raise ConfigError("max_frame", f"must be at least 1024 bytes, got {max_frame}")
        self._rng = random.Random(seed)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.queue_size = queue_size
        self.max_frame = max_frame
        self._transports: dict[tuple[str, str], MemoryTransport] = {}
        self._conditions: dict[str, LinkConditions] = {}
        self._pair_conditions: dict[tuple[str, frozenset[str]], LinkConditions] = {}
        self._groups: dict[str, int] | None = None
        self._killed_names: set[str] = set()
        self._killed_peers: set[tuple[str, str]] = set()
        self._torn: set[tuple[str, frozenset[str]]] = set()  # links a kill tore down, restored on revive
        self.frames_in_flight = 0
        self.counters: dict[str, int] = dict.fromkeys(
            ("sent", "delivered", "lost", "duplicated", "partitioned", "dropped_closed", "links_up"), 0
        )

    @property
    def clock(self) -> Clock:
        """The clock that times every delay."""
        return self._clock

    def transport(self, name: str, keypair: Keypair, *, max_frame: int | None = None) -> MemoryTransport:
        """A new transport named ``name`` (its routing name, e.g. ``"gun"``) for ``keypair``'s node."""
        key = (name, keypair.address)
        if key in self._transports:
            raise TransportError(
                name, f"{keypair.address} already has a transport named {name!r}", code="duplicate"
            )
        t = MemoryTransport(self, name, keypair, max_frame=self.max_frame if max_frame is None else max_frame)
        self._transports[key] = t
        return t

    def set_conditions(
        self,
        name: str,
        *,
        loss: float = 0.0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        bandwidth_bps: float | None = None,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        between: tuple[str, str] | None = None,
    ) -> None:
        """Set the conditions of every link of transport ``name``, or of one pair with ``between``.

        A pair's conditions override the transport's. Takes effect for frames sent from now on.
        """
        cond = LinkConditions(
            loss=loss,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            bandwidth_bps=bandwidth_bps,
            duplicate=duplicate,
            reorder=reorder,
        )
        if between is None:
            self._conditions[name] = cond
        else:
            a, b = between
            if a == b:
                raise ConfigError("between", "needs two different peer ids")
            self._pair_conditions[(name, frozenset((a, b)))] = cond

    def conditions(self, name: str, between: tuple[str, str] | None = None) -> LinkConditions:
        """The conditions in force on transport ``name`` (for the pair ``between``, if given)."""
        if between is not None:
            pair = self._pair_conditions.get((name, frozenset(between)))
            if pair is not None:
                return pair
        return self._conditions.get(name, _PERFECT)

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network: peers in different groups cannot reach each other, on any transport.

        Peers named in no group form one more group together. Links stay up (as a real
        network partition, only timeouts reveal it) but frames across groups are dropped
        and dials across them fail. Replaces any previous partition.
        """
        mapping: dict[str, int] = {}
        for i, group in enumerate(groups):
            for peer in group:
                if peer in mapping:
                    raise ConfigError("groups", f"{peer} is in two groups")
                mapping[peer] = i
        self._groups = mapping

    def heal(self) -> None:
        """End the partition."""
        self._groups = None

    def reachable(self, a: str, b: str) -> bool:
        """Whether peers ``a`` and ``b`` are on the same side of the partition."""
        if self._groups is None:
            return True
        return self._groups.get(a, -1) == self._groups.get(b, -1)

    def kill(self, name: str, peer_id: str | None = None) -> None:
        """Take transport ``name`` down for every node, or only for ``peer_id``'s.

        Its links are torn down (reported down with reason ``"killed"``), frames in flight
        on them are lost, and dials fail with a :class:`TransportError` of code ``"killed"``
        until :meth:`revive`.
        """
        if peer_id is None:
            self._killed_names.add(name)
        else:
            self._killed_peers.add((name, peer_id))
        for (tname, pid), t in list(self._transports.items()):
            if tname != name or (peer_id is not None and pid != peer_id):
                continue
            for other in list(t.linked()):
                self._torn.add((name, frozenset((pid, other))))
                t.drop_link(other, "killed")

    def revive(self, name: str, peer_id: str | None = None) -> None:
        """Bring transport ``name`` back (for every node, or for ``peer_id``'s).

        The links a kill tore down come back (with a fresh handshake) once both ends are
        alive again, as a transport that reconnects to the peers it had.
        """
        if peer_id is None:
            self._killed_names.discard(name)
            self._killed_peers = {k for k in self._killed_peers if k[0] != name}
        else:
            self._killed_peers.discard((name, peer_id))
        for key in sorted(self._torn, key=lambda k: (k[0], sorted(k[1]))):
            tname, pair = key
            if tname != name:
                continue
            a, b = sorted(pair)
            ta, tb = self._transports.get((name, a)), self._transports.get((name, b))
            if ta is None or tb is None or not (ta.alive and tb.alive):
                continue
            self._torn.discard(key)
            try:
                self.link(ta, tb)
            except TransportError as exc:
                log.info("memory: re-link %s-%s on %s failed: %s", a, b, name, exc)

    def is_killed(self, name: str, peer_id: str) -> bool:
        """Whether transport ``name`` is down for ``peer_id``."""
        return name in self._killed_names or (name, peer_id) in self._killed_peers

    def stats(self) -> dict[str, int]:
        """Counters of the network.

        Frames ``sent``, ``delivered``, ``lost``, ``duplicated``, dropped by a partition
        (``partitioned``) or by a closed link (``dropped_closed``), and ``links_up``.
        """
        return dict(self.counters)

    def in_flight(self) -> int:
        """Frames on the wire now (sent, neither delivered nor dropped yet)."""
        return self.frames_in_flight

    # -- internals used by MemoryTransport

    def lookup(self, name: str, peer_id: str) -> MemoryTransport | None:
        """The transport ``name`` of ``peer_id``, if one was created."""
        return self._transports.get((name, peer_id))

    def forget(self, t: MemoryTransport) -> None:
        """Remove a stopped transport from the network."""
        if self._transports.get((t.name, t.peer_id)) is t:
            del self._transports[(t.name, t.peer_id)]

    def link(self, dialler: MemoryTransport, listener: MemoryTransport) -> _Link:
        """Run the handshake between two transports and, if it succeeds, link them."""
        name = dialler.name
        existing = dialler.link_to(listener.peer_id)
        if existing is not None:
            return existing
        if not dialler.alive or not listener.alive:
            raise TransportError(name, f"cannot reach {listener.peer_id}: transport killed", code="killed")
        if not self.reachable(dialler.peer_id, listener.peer_id):
            raise TransportError(name, f"cannot reach {listener.peer_id}: partitioned", code="unreachable")
        hd = Handshake(dialler.keypair, name, dialler=True, expect=listener.peer_id)
        hl = Handshake(listener.keypair, name, dialler=False)
        proof_d = hd.receive_hello(hl.hello())
        proof_l = hl.receive_hello(hd.hello())
        proven = hd.receive_proof(proof_l)
        hl.receive_proof(proof_d)
        if proven != listener.peer_id:  # pragma: no cover - the handshake already checks `expect`
            raise HandshakeError(name, f"peer proved {proven}, expected {listener.peer_id}")
        link = _Link(dialler, listener)
        self.counters["links_up"] += 1
        dialler.attach(listener.peer_id, link)
        listener.attach(dialler.peer_id, link)
        return link

    def transmit(self, d: _Direction, frame: bytes) -> None:
        """Put one frame on the wire of direction ``d`` (conditions, loss, timing)."""
        src, dst = d.src, d.dst
        counters = self.counters
        counters["sent"] += 1
        if self._groups is not None and not self.reachable(src._peer_id, dst._peer_id):
            counters["partitioned"] += 1
            return
        cond = None
        if self._pair_conditions:
            cond = self._pair_conditions.get((src._name, frozenset((src._peer_id, dst._peer_id))))
        if cond is None:
            cond = self._conditions.get(src._name, _PERFECT)
        if cond is _PERFECT:  # the common case: no loss, no copies, next loop iteration
            d.in_flight += 1
            self.frames_in_flight += 1
            d.pending.append(frame)
            if not d.scheduled:
                d.scheduled = True
                asyncio.get_running_loop().call_soon(d.flush)
            return
        rng = self._rng
        if cond.loss and rng.random() < cond.loss:
            counters["lost"] += 1
            return
        copies = 1
        if cond.duplicate and rng.random() < cond.duplicate:
            copies = 2
            counters["duplicated"] += 1
        for _ in range(copies):
            d.in_flight += 1
            self.frames_in_flight += 1
            if cond.immediate:
                d.pending.append(frame)
                if not d.scheduled:
                    d.scheduled = True
                    asyncio.get_running_loop().call_soon(d.flush)
                continue
            now = self._clock.now()
            delay = cond.latency_ms / 1000.0
            if cond.jitter_ms:
                delay = max(0.0, delay + rng.uniform(-cond.jitter_ms, cond.jitter_ms) / 1000.0)
            if cond.bandwidth_bps is not None:
                start = max(now, d.busy_until)
                d.busy_until = start + len(frame) * 8.0 / cond.bandwidth_bps
                delay += d.busy_until - now
            at = now + delay
            if cond.reorder and rng.random() < cond.reorder:
                at += max(cond.latency_ms, 1.0) / 1000.0
            else:
                at = max(at, d.last_at)
                d.last_at = at
            self._clock.call_later(at - now, functools.partial(d.deliver_later, frame))


class MemoryTransport:
    """One node's transport on a :class:`MemoryNetwork` (made by :meth:`MemoryNetwork.transport`)."""

    __slots__ = (
        "_capabilities",
        "_handler",
        "_links",
        "_max_frame",
        "_name",
        "_peer_id",
        "_state",
        "keypair",
        "network",
        "queue_size",
    )

    def __init__(self, network: MemoryNetwork, name: str, keypair: Keypair, *, max_frame: int) -> None:
        """Use :meth:`MemoryNetwork.transport`."""
        self.network = network
        self.keypair = keypair
        self.queue_size = network.queue_size
        self._name = name
        self._peer_id = keypair.address
        self._state = TransportState.NEW
        self._handler: LinkHandler | None = None
        self._links: dict[str, _Link] = {}
        self._capabilities = Capabilities(reliable=False, ordered=True, max_frame=max_frame, relayed=False)
        self._max_frame = max_frame

    @property
    def name(self) -> str:
        """The transport's routing name."""
        return self._name

    @property
    def peer_id(self) -> str:
        """The peer id of this node."""
        return self._peer_id

    @property
    def state(self) -> TransportState:
        """The life-cycle state."""
        return self._state

    @property
    def capabilities(self) -> Capabilities:
        """Reliable while the transport's ``loss`` is 0, ordered while its ``reorder`` is 0."""
        cond = self.network.conditions(self._name)
        return replace(self._capabilities, reliable=cond.loss == 0.0, ordered=cond.reorder == 0.0)

    @property
    def health(self) -> Health:
        """``down`` when killed or not running, else ``up``."""
        return Health.UP if self.alive else Health.DOWN

    @property
    def alive(self) -> bool:
        """Running and not killed."""
        return self._state is TransportState.RUNNING and not self.network.is_killed(self._name, self._peer_id)

    async def start(self, handler: LinkHandler) -> None:
        """Start reporting links and frames to ``handler``."""
        if self._state is TransportState.RUNNING:
            return
        if self._state is not TransportState.NEW and self._state is not TransportState.STOPPED:
            raise TransportError(self._name, f"cannot start from {self._state.value}", code="state")
        if self.network.lookup(self._name, self._peer_id) is not self:
            raise TransportError(self._name, "this transport was stopped and removed", code="state")
        self._handler = handler
        self._state = TransportState.RUNNING

    async def stop(self) -> None:
        """Close every link (reported down with ``"stopped"``) and leave the network. Idempotent."""
        if self._state in (TransportState.STOPPED, TransportState.NEW):
            self._state = TransportState.STOPPED
            self.network.forget(self)
            return
        self._state = TransportState.STOPPING
        for peer in list(self._links):
            self.drop_link(peer, "stopped")
        self._state = TransportState.STOPPED
        self.network.forget(self)

    def supports(self, peer_id: str | None = None, *, address: str | None = None) -> bool:
        """Whether ``peer_id`` has a transport of this name on the network (addresses: never)."""
        if peer_id is None or address is not None:
            return False
        return peer_id != self._peer_id and self.network.lookup(self._name, peer_id) is not None

    async def dial(self, peer_id: str | None = None, *, address: str | None = None) -> str:
        """Link to ``peer_id`` (by peer id only) after a handshake; return it."""
        if peer_id is None or address is not None:
            raise UnsupportedError(self._name, "the memory transport dials by peer id only")
        if peer_id in self._links:
            return peer_id
        if self._state is not TransportState.RUNNING:
            raise TransportError(self._name, f"transport is {self._state.value}", code="state")
        remote = self.network.lookup(self._name, peer_id)
        if remote is None or peer_id == self._peer_id:
            raise UnsupportedError(self._name, f"no node {peer_id} on this network")
        if remote.state is not TransportState.RUNNING:
            raise TransportError(self._name, f"{peer_id} is not running", code="unreachable")
        self.network.link(self, remote)
        return peer_id

    def linked(self) -> frozenset[str]:
        """The peers linked now."""
        return frozenset(self._links)

    async def send(self, peer_id: str, frame: bytes) -> None:
        """Put ``frame`` on the link to ``peer_id``; waits while that direction is full."""
        link = self._links.get(peer_id)
        if link is None:
            raise NotLinkedError(self._name, peer_id)
        if len(frame) > self._max_frame:
            raise FrameTooLargeError(self._name, len(frame), self._max_frame)
        d = link.directions[self._peer_id]
        if d.in_flight < self.queue_size:
            self.network.transmit(d, frame if type(frame) is bytes else bytes(frame))
            return
        while d.in_flight >= self.queue_size:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            d.waiters.append(fut)
            await fut
            if link.closed:
                raise NotLinkedError(self._name, peer_id)
        self.network.transmit(d, frame if type(frame) is bytes else bytes(frame))

    def try_send(self, peer_id: str, frame: bytes) -> bool:
        """Put ``frame`` on the link without waiting; ``False`` if that direction is full.

        An optional fast path beyond the :class:`~swarmmesh.transports.base.Transport`
        protocol (the mesh's gossip uses it when a transport has it). Raises as ``send``.
        """
        link = self._links.get(peer_id)
        if link is None:
            raise NotLinkedError(self._name, peer_id)
        if len(frame) > self._max_frame:
            raise FrameTooLargeError(self._name, len(frame), self._max_frame)
        d = link.directions[self._peer_id]
        if d.in_flight >= self.queue_size:
            return False
        self.network.transmit(d, frame if type(frame) is bytes else bytes(frame))
        return True

    async def disconnect(self, peer_id: str, reason: str) -> None:
        """Close the link to ``peer_id``; both ends report it down."""
        self.drop_link(peer_id, reason)

    # -- internals used by MemoryNetwork

    def link_to(self, peer_id: str) -> _Link | None:
        """The link to ``peer_id``, if any."""
        return self._links.get(peer_id)

    def attach(self, peer_id: str, link: _Link) -> None:
        """Record a new link and report it up."""
        self._links[peer_id] = link
        if self._handler is not None:
            try:
                self._handler.on_link_up(self._name, peer_id)
            except Exception:
                log.exception("memory: on_link_up handler failed")

    def drop_link(self, peer_id: str, reason: str) -> None:
        """Close the link to ``peer_id`` at both ends; each end reports it down."""
        link = self._links.get(peer_id)
        if link is None:
            return
        link.close()
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if end._links.get(other.peer_id) is link:
                del end._links[other.peer_id]
                why = reason if end is self else f"peer:{reason}"
                end.report_down(other.peer_id, why)

    def report_down(self, peer_id: str, reason: str) -> None:
        """Tell the handler a link is down."""
        if self._handler is not None:
            try:
                self._handler.on_link_down(self._name, peer_id, reason)
            except Exception:
                log.exception("memory: on_link_down handler failed")

    def receive(self, peer_id: str, frame: bytes) -> None:
        """A frame arrived from ``peer_id``: hand it to the handler."""
        if self._handler is None or self._state is not TransportState.RUNNING:
            return
        try:
            self._handler.on_frame(self._name, peer_id, frame)
        except Exception:
            log.exception("memory: on_frame handler failed (frame from %s dropped)", peer_id)


def create_memory_transport(
    *, keypair: Keypair, network: MemoryNetwork, name: str = "memory", max_frame: int | None = None
) -> MemoryTransport:
    """The transport registry's factory for ``"memory"``: ``network.transport(name, keypair)``."""
    return network.transport(name, keypair, max_frame=max_frame)
