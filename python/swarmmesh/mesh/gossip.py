"""The mesh's fire-and-forget side: bounded outboxes per link and bounded subscriptions.

Frames nobody awaits (acks, pongs, broadcast forwards) go through an :class:`Outboxes`: one
bounded queue per (transport, peer), drained by a writer task that exists only while the
queue is non-empty. A full queue drops its **oldest** frame (gossip is best effort; a lost
ack only makes the sender retry), and every drop is counted. Reliable sends never go
through here: they await the transport themselves and so wait when it is full.

A :class:`Subscription` is what ``Mesh.subscribe`` returns: an async iterator over a
bounded queue of :class:`Message`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from swarmmesh.transports.base import Transport, TransportError

__all__ = ["Message", "Outboxes", "Receipt", "Subscription"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The proof that a ``send`` was acknowledged end to end.

    ``transport``: the transport whose attempt was acknowledged first; ``rtt_ms``: the
    time from that attempt's send to its ack; ``attempts``: how many attempts the send
    started (1 when the first transport answered before any hedge).
    """

    transport: str
    rtt_ms: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Message:
    """A message delivered to the application (exactly once per ``message_id``).

    ``topic`` and ``payload`` as sent; ``origin`` is the originator's peer id (for a
    broadcast, proven by its signature); ``transport`` the transport it arrived on first.
    """

    topic: str
    payload: bytes
    origin: str
    message_id: bytes
    transport: str


class Subscription:
    """An async iterator of the :class:`Message` s of one topic (``async for m in sub``).

    Bounded: when the queue is full, :meth:`offer` refuses (the mesh then does not
    acknowledge a unicast message, so the sender tries again) and :meth:`push` drops the
    oldest message (broadcasts), counted in :attr:`dropped`. :meth:`close` ends the
    iteration.
    """

    __slots__ = ("_closed", "_on_close", "_queue", "_waiter", "dropped", "maxsize", "topic")

    def __init__(self, topic: str, maxsize: int, on_close: Callable[[Subscription], None]) -> None:
        """Made by ``Mesh.subscribe``."""
        self.topic = topic
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._on_close = on_close

    @property
    def full(self) -> bool:
        """Whether the queue is at its bound."""
        return len(self._queue) >= self.maxsize

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, message: Message) -> bool:
        """Queue ``message`` unless full; ``False`` if it was refused."""
        if self._closed or self.full:
            return False
        self._append(message)
        return True

    def push(self, message: Message) -> None:
        """Queue ``message``, dropping the oldest if full."""
        if self._closed:
            return
        if self.full:
            self._queue.popleft()
            self.dropped += 1
        self._append(message)

    def _append(self, message: Message) -> None:
        self._queue.append(message)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def get_nowait(self) -> Message | None:
        """The next message, or ``None`` if none is queued."""
        return self._queue.popleft() if self._queue else None

    async def get(self) -> Message:
        """Wait for the next message; raises :class:`StopAsyncIteration` once closed and drained."""
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def close(self) -> None:
        """Stop the subscription: queued messages can still be read, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self.get()


class _Outbox:
    __slots__ = ("frames", "writer")

    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.writer: asyncio.Task[None] | None = None


class Outboxes:
    """Bounded queues of gossip frames per (transport, peer), each drained by a short-lived task."""

    __slots__ = ("_boxes", "_per_peer", "_per_transport", "_tasks", "_totals", "counters")

    def __init__(self, *, per_peer: int, per_transport: int) -> None:
        """``per_peer`` / ``per_transport``: the bounds on queued frames."""
        self._per_peer = per_peer
        self._per_transport = per_transport
        self._boxes: dict[tuple[str, str], _Outbox] = {}
        self._totals: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: ``written`` frames, of which ``queued`` waited in a queue first; ``dropped_full``
        #: dropped by a bound; ``send_errors`` dropped because the link failed.
        self.counters: dict[str, int] = dict.fromkeys(("queued", "written", "dropped_full", "send_errors"), 0)

    def put(self, transport: Transport, peer_id: str, frames: list[bytes]) -> None:
        """Queue ``frames`` for ``peer_id`` on ``transport``, dropping the oldest when full."""
        if len(frames) == 1:
            self.fanout(transport, (peer_id,), frames[0])
            return
        name = transport.name
        key = (name, peer_id)
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = _Outbox()
        total = self._totals.get(name, 0)
        q = box.frames
        if len(frames) == 1 and len(q) < self._per_peer and total < self._per_transport:
            q.append(frames[0])  # the common case
            total += 1
        else:
            for frame in frames:
                if len(q) >= self._per_peer or total >= self._per_transport:
                    self.counters["dropped_full"] += 1
                    if not q:
                        continue  # the transport is full of other peers' frames: drop the new one
                    q.popleft()
                    total -= 1
                q.append(frame)
                total += 1
        self._totals[name] = total
        self.counters["queued"] += len(frames)
        if box.writer is None and q:
            task = asyncio.get_running_loop().create_task(self._drain(transport, peer_id, box))
            box.writer = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def fanout(
        self,
        transport: Transport,
        peers: Iterable[str],
        frame: bytes,
        try_send: Callable[[str, bytes], bool] | None = None,
    ) -> None:
        """Queue one ``frame`` for each of ``peers`` on ``transport`` (the flood's hot path).

        A transport with a non-blocking ``try_send(peer_id, frame) -> bool`` (the memory
        transport) takes the frame at once when nothing is queued for that peer, without a
        queue or a task. ``try_send``: that method, when the caller has it at hand (it is
        looked up otherwise).
        """
        name = transport.name
        boxes = self._boxes
        if try_send is None:
            try_send = getattr(transport, "try_send", None)
        counters = self.counters
        total = -1  # read on first use: the fast path never needs it
        written = 0
        for peer_id in peers:
            key = (name, peer_id)
            box = boxes.get(key)
            if box is None:
                if try_send is not None:
                    try:
                        if try_send(peer_id, frame):
                            written += 1
                            continue
                    except TransportError as exc:
                        counters["send_errors"] += 1
                        log.debug("gossip to %s on %s dropped: %s", peer_id, name, exc)
                        continue
                box = boxes[key] = _Outbox()
            if total < 0:
                total = self._totals.get(name, 0)
            q = box.frames
            if len(q) >= self._per_peer or total >= self._per_transport:
                counters["dropped_full"] += 1
                if not q:
                    continue
                q.popleft()
                total -= 1
            q.append(frame)
            total += 1
            counters["queued"] += 1
            if box.writer is None:
                task = asyncio.get_running_loop().create_task(self._drain(transport, peer_id, box))
                box.writer = task
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if written:
            counters["written"] += written
        if total >= 0:
            self._totals[name] = total

    def queued(self, transport: str | None = None) -> int:
        """Frames queued now (on one transport, or all)."""
        if transport is not None:
            return self._totals.get(transport, 0)
        return sum(self._totals.values())

    def drop_peer(self, transport: str, peer_id: str) -> None:
        """Forget what is queued for a link that went down."""
        box = self._boxes.pop((transport, peer_id), None)
        if box is not None:
            self._totals[transport] = self._totals.get(transport, 0) - len(box.frames)
            box.frames.clear()

    async def _drain(self, transport: Transport, peer_id: str, box: _Outbox) -> None:
        name = transport.name
        q = box.frames
        try:
            while q:
                frame = q.popleft()
                self._totals[name] = self._totals.get(name, 0) - 1
                try:
                    await transport.send(peer_id, frame)
                except TransportError as exc:
                    self.counters["send_errors"] += 1 + len(q)
                    log.debug("gossip to %s on %s dropped: %s", peer_id, name, exc)
                    self._totals[name] = self._totals.get(name, 0) - len(q)
                    q.clear()
                    break
                self.counters["written"] += 1
        finally:
            box.writer = None
            if not q and self._boxes.get((name, peer_id)) is box:
                del self._boxes[(name, peer_id)]

    async def close(self) -> None:
        """Cancel every writer and forget every queued frame."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._boxes.clear()
        self._totals.clear()
