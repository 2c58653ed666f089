"""The broadcast flood: signed envelopes over every healthy transport, verified in batches.

A :class:`Flood` belongs to one :class:`~swarmmesh.Mesh`. Sending queues the frame for
every linked peer on every transport that is not down (through the mesh's bounded
outboxes). Receiving drops a message id the mesh's one ``DedupFilter`` has seen, and merges
a copy of a message already waiting for verification into it (same id and signature: one
check, and its sender is remembered so the message is not forwarded back to it). The others
wait (bounded, oldest dropped) and are verified together at the end of the loop iteration
(or once ``verify_batch_size`` are waiting) with ``verify_envelopes``, one check per
distinct (message, signature). Each valid new message is delivered once and forwarded once,
with its TTL lowered (and capped at our own ``broadcast_ttl``, since relays can change it),
to every peer that did not send it, except its origin; the forwarded frame is only built
when such a peer exists. A bad signature is dropped, counted (once per copy) and every peer
that sent it is reported to ``Resilience.misbehaved``.

Verification runs in Rust without the GIL. A batch of at least ``verify_offload_min``
envelopes runs on a worker thread (``asyncio.to_thread``) so that it overlaps the event
loop, which meanwhile decodes and queues the next frames and delivers the previous batch;
one batch is in flight at a time and messages are delivered in the order they arrived.
Smaller batches (the common case at low rates) are verified inline: a thread hop would cost
more than it saves.

The flood targets (the transports a flood goes over now, with their frame limits) are
computed once per loop iteration and whenever a link, a flag or a health verdict changes:
a burst of broadcasts does not re-check every transport's health for every message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, NamedTuple

from swarmmesh._core import DedupFilter
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.envelope import Envelope, split_frame, verify_envelopes
from swarmmesh.mesh.gossip import Message, Outboxes
from swarmmesh.transports.base import Health, Transport

if TYPE_CHECKING:
    from swarmmesh.mesh.orchestrator import Mesh

__all__ = ["Flood", "Target"]

log = logging.getLogger(__name__)


class Target(NamedTuple):
    """One transport a flood goes over: its frame limit and its non-blocking write, if any."""

    transport: Transport
    max_frame: int
    try_send: Callable[[str, bytes], bool] | None


Targets = list[Target]


class _Waiting:
    """A broadcast waiting for verification: the first copy, and every peer that sent it."""

    __slots__ = ("env", "senders", "transport")

    def __init__(self, env: Envelope, transport: str, peer_id: str) -> None:
        self.env = env
        self.transport = transport  # the transport of the first copy (``Message.transport``)
        self.senders = [peer_id]


class Flood:
    """Sends and receives the broadcasts of one mesh (see the module docstring)."""

    __slots__ = (
        "_config",
        "_dedup",
        "_inflight",
        "_mesh",
        "_outboxes",
        "_queue",
        "_scheduled",
        "_targets",
        "_waiting",
    )

    def __init__(self, mesh: Mesh, dedup: DedupFilter, outboxes: Outboxes, config: MeshConfig) -> None:
        """Made by the mesh, sharing its dedup filter and outboxes."""
        self._mesh = mesh
        self._dedup = dedup
        self._outboxes = outboxes
        self._config = config
        # Every broadcast not verified yet (in flight included), by its frame without the
        # ttl and hops bytes: a copy from another peer or link has the same key.
        self._waiting: dict[bytes, _Waiting] = {}
        self._queue: deque[bytes] = deque()  # the keys not in flight, oldest first
        self._inflight = 0  # messages in the batch on the worker thread
        self._scheduled = False
        self._targets: Targets | None = None

    def __len__(self) -> int:
        """Broadcasts waiting for verification (queued or being verified)."""
        return len(self._waiting)

    # ------------------------------------------------------------------ sending

    def targets(self) -> Targets:
        """The transports a flood goes over now (active and not down), with their frame limits.

        Cached until the end of the loop iteration or the next :meth:`invalidate`.
        """
        targets = self._targets
        if targets is None:
            mesh = self._mesh
            health = mesh.health
            targets = [
                Target(t, mesh.max_frame(t), getattr(t, "try_send", None))
                for t in mesh.active_transports()
                if t.health is not Health.DOWN and health.health(t.name) is not Health.DOWN
            ]
            self._targets = targets
            asyncio.get_running_loop().call_soon(self.invalidate)
        return targets

    def invalidate(self) -> None:
        """Forget the cached targets (a link, a flag or a health verdict changed)."""
        self._targets = None

    def send(self, frame: bytes, msg_id: bytes, exclude: Collection[str] = ()) -> None:
        """Queue ``frame`` for every linked peer not in ``exclude`` (chunked where too large)."""
        outboxes = self._outboxes
        for t, limit, try_send in self.targets():
            peers: Collection[str] = t.linked()
            if exclude:
                peers = [p for p in peers if p not in exclude]
                if not peers:
                    continue
            if len(frame) <= limit:
                outboxes.fanout(t, peers, frame, try_send)
            else:
                frames = split_frame(frame, limit, msg_id)
                for peer in peers:
                    outboxes.put(t, peer, frames)

    def _forward(self, env: Envelope, msg_id: bytes, exclude: Collection[str]) -> bool:
        """Send ``env`` one hop on to every linked peer not in ``exclude``; whether any got it."""
        outboxes = self._outboxes
        frame: bytes | None = None
        for t, limit, try_send in self.targets():
            peers = [p for p in t.linked() if p not in exclude]
            if not peers:
                continue
            if frame is None:
                frame = self._forwarded(env).to_bytes()
            if len(frame) <= limit:
                outboxes.fanout(t, peers, frame, try_send)
            else:
                frames = split_frame(frame, limit, msg_id)
                for peer in peers:
                    outboxes.put(t, peer, frames)
        return frame is not None

    def _forwarded(self, env: Envelope) -> Envelope:
        """``env`` one hop on; the TTL (which relays can change) capped at our own ``broadcast_ttl``."""
        fwd = env.forwarded()
        cap = self._config.broadcast_ttl - 1
        if fwd.ttl <= cap:
            return fwd
        self._mesh.count("ttl_capped")
        return Envelope(
            fwd.kind, fwd.message_id, fwd.origin, fwd.topic, fwd.payload,
            ttl=cap, hops=fwd.hops, timestamp_ms=fwd.timestamp_ms, signature=fwd.signature,
        )  # fmt: skip

    # ------------------------------------------------------------------ receiving

    def merge(self, frame: bytes, peer_id: str) -> bool:
        """Whether ``frame`` is a copy of a broadcast waiting for verification (it joins it).

        A copy is the same frame but for the ``ttl`` and ``hops`` relays change: same
        message, same signature, so one check settles both, and its sender is remembered
        so that the message is not forwarded back to it. The caller has checked the dedup
        filter.
        """
        waiting = self._waiting.get(frame[:4] + frame[6:])
        if waiting is None:
            return False
        waiting.senders.append(peer_id)
        return True

    def receive(self, frame: bytes, env: Envelope, transport: str, peer_id: str) -> None:
        """A new broadcast (``env``, decoded from ``frame``): queue it for the next verification batch.

        The caller has checked the dedup filter and :meth:`merge`.
        """
        key = frame[:4] + frame[6:]
        if key in self._waiting:  # pragma: no cover - the caller merged it
            self._waiting[key].senders.append(peer_id)
            return
        queue = self._queue
        if len(queue) >= self._config.verify_queue:
            lost = self._waiting.pop(queue.popleft())
            self._mesh.drop("verify_queue_full", len(lost.senders))
        self._waiting[key] = _Waiting(env, transport, peer_id)
        queue.append(key)
        if self._inflight:
            return  # the batch in flight starts the next one when it is done
        if len(queue) >= self._config.verify_batch_size:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Verify and accept what is queued, in batches of at most ``verify_batch_size``.

        A batch of at least ``verify_offload_min`` goes to a worker thread (and the rest
        waits for it); smaller ones are verified here.
        """
        self._scheduled = False
        queue = self._queue
        while queue and not self._inflight:
            batch = self._take()
            if self._offload(batch):
                return
            envs = [self._waiting[k].env for k in batch]
            self._accept(batch, verify_envelopes(envs, threads=self._config.verify_threads))

    def _take(self) -> list[bytes]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(self._config.verify_batch_size, len(queue)))]

    def _offload(self, batch: list[bytes]) -> bool:
        """Start verifying ``batch`` on a worker thread if it is large enough; whether it was."""
        offload = self._config.verify_offload_min
        if offload is None or len(batch) < offload:
            return False
        self._inflight = len(batch)
        self._mesh.count("verify_offloaded")
        envs = [self._waiting[k].env for k in batch]
        self._mesh.spawn(self._verify_off_loop(batch, envs))
        return True

    async def _verify_off_loop(self, batch: list[bytes], envs: list[Envelope]) -> None:
        try:
            verdicts = await asyncio.to_thread(verify_envelopes, envs, threads=self._config.verify_threads)
        except BaseException:
            # Cancelled by Mesh.stop (which then clears the flood): nothing to deliver.
            self._inflight = 0
            raise
        self._inflight = 0
        # Start the next large batch first, so that the worker verifies it while this
        # one is delivered; a small rest is verified inline after this one (order kept).
        if len(self._queue) >= (self._config.verify_offload_min or 0):
            self._offload(self._take())
        self._accept(batch, verdicts)
        if not self._inflight and self._queue:
            self.flush()

    def _accept(self, batch: list[bytes], verdicts: list[bool]) -> None:
        mesh = self._mesh
        dedup = self._dedup
        waiting = self._waiting
        now = mesh.clock.now_ms()
        mesh.count("verify_batches")
        mesh.count("verified", len(batch))
        for key, ok in zip(batch, verdicts, strict=True):
            item = waiting.pop(key, None)
            if item is None:  # pragma: no cover - cleared by Mesh.stop while in flight
                continue
            senders = item.senders
            if not ok:
                mesh.drop("bad_signature", len(senders))
                for peer in senders:
                    mesh.resilience.misbehaved(peer, "bad_signature")
                continue
            env = item.env
            msg_id = env.message_id
            if not dedup.check_and_insert(msg_id, now):
                mesh.count("duplicates", len(senders))
                continue
            if len(senders) > 1:
                mesh.count("duplicates", len(senders) - 1)
            origin = env.origin_id
            mesh.count("broadcasts_received")
            mesh.publish_local(Message(env.topic, env.payload, origin, msg_id, item.transport))
            # Never back to the peers it came from, nor to its origin (which has it).
            if env.ttl > 0 and self._forward(env, msg_id, {*senders, origin}):
                mesh.count("forwarded")

    def clear(self) -> None:
        """Forget everything waiting (the mesh stopped)."""
        self._waiting.clear()
        self._queue.clear()
        self._inflight = 0
        self._targets = None
