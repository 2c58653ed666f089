"""The broadcast flood: signed envelopes over every healthy transport, verified in batches.

A :class:`Flood` belongs to one :class:`~swarmmesh.Mesh`. Sending queues the frame for
every linked peer on every transport that is not down (through the mesh's bounded
outboxes). Receiving drops a message id the mesh's one ``DedupFilter`` has seen, and merges
a copy of a message already waiting for verification into it (the same frame but for the
``ttl`` and ``hops`` relays change: one check, and its sender is remembered so the message
is not forwarded back to it); a copy that differs in anything else (a tampered payload with
the original id and signature) waits on its own, so it cannot make the real one fail. The
others wait (bounded, oldest dropped) and are verified together at the end of the loop
iteration (or once ``verify_batch_size`` are waiting) with ``verify_envelopes``.
Each valid new message is delivered once and forwarded once,
with its TTL lowered (and capped at our own ``broadcast_ttl``, since relays can change it),
to every peer that did not send it, except its origin; the forwarded frame is only built
when such a peer exists. A bad signature is dropped, counted (once per copy) and every peer
that sent it is reported to ``Resilience.misbehaved``.

Verification runs in Rust without the GIL. A batch of at least ``verify_offload_min``
envelopes goes to an :class:`~swarmmesh._core.EnvelopeVerifier`: a thread of the core that
never takes the GIL (so it never waits for a busy loop, nor makes the loop wait) and wakes
the loop through a file descriptor when a batch is done. The loop meanwhile decodes and
queues the next frames and delivers the previous batch; batches are delivered in the order
they arrived, at most four are handed over at once, and while any is there the next ones
follow it (order again). Smaller batches, the common case at low rates, are verified
inline: a thread hop would cost more than it saves. Where the platform or the event loop
cannot watch a descriptor (Windows), every batch is verified inline.

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

from swarmmesh import _core
from swarmmesh._core import DedupFilter
from swarmmesh.errors import SwarmMeshError
from swarmmesh.mesh._cores import spare_cores
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.envelope import Envelope, split_frame, verify_envelopes
from swarmmesh.mesh.gossip import Message, Outboxes
from swarmmesh.transports.base import Health, Transport

if TYPE_CHECKING:
    from swarmmesh._core import EnvelopeVerifier
    from swarmmesh.mesh.orchestrator import Mesh

__all__ = ["Flood", "Target"]

log = logging.getLogger(__name__)


#: The verifier thread, where the platform has it (Unix).
_Verifier: type[EnvelopeVerifier] | None = getattr(_core, "EnvelopeVerifier", None)
#: Batches handed to the verifier thread and not delivered yet (it works through them while
#: the loop takes in more frames).
_MAX_JOBS = 4
#: Origin addresses remembered (bech32m costs about a microsecond a message).
_ADDRESS_CACHE = 4096
#: An offload threshold no batch reaches (offloading off).
_NEVER = 1 << 62


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
        "_addresses",
        "_config",
        "_dedup",
        "_fresh",
        "_jobs",
        "_loop",
        "_mesh",
        "_offload_min",
        "_outboxes",
        "_queue",
        "_scheduled",
        "_targets",
        "_verifier",
        "_waiting",
    )

    def __init__(self, mesh: Mesh, dedup: DedupFilter, outboxes: Outboxes, config: MeshConfig) -> None:
        """Made by the mesh, sharing its dedup filter and outboxes."""
        self._mesh = mesh
        self._dedup = dedup
        self._outboxes = outboxes
        self._config = config
        self._fresh = config.freshness()
        # Every broadcast not verified yet (in flight included), by its frame without the
        # ttl and hops bytes: a copy from another peer or link has the same key.
        self._waiting: dict[bytes, _Waiting] = {}
        self._queue: deque[bytes] = deque()  # the keys not in flight, oldest first
        self._jobs: dict[int, list[bytes]] = {}  # verifier job id -> its keys, oldest first
        self._verifier: EnvelopeVerifier | None = None  # started on first use
        self._loop: asyncio.AbstractEventLoop | None = None  # where its reader is registered
        offload = config.verify_offload_min
        # A thread only pays where it has a core of its own.
        self._offload_min = offload if offload is not None and spare_cores() else _NEVER
        self._scheduled = False
        self._targets: Targets | None = None
        self._addresses: dict[bytes, str] = {}

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
        stale = self._fresh.check(env.timestamp_ms, self._mesh.clock.wall_ms())
        if stale is not None:
            # Too old for the dedup filter to vouch it is new (a replay), or from an origin
            # whose clock is far ahead. Nothing is recorded: the id stays acceptable.
            self._mesh.drop(f"{stale}_broadcast")
            return
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
        if len(queue) >= self._config.verify_batch_size:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Verify and accept what is queued, in batches of at most ``verify_batch_size``.

        A batch of at least ``verify_offload_min`` goes to the verifier thread, and so does
        every batch while one is there (so that messages are delivered in the order they
        came); smaller ones are verified here.
        """
        self._scheduled = False
        queue = self._queue
        while queue:
            if self._jobs or len(queue) >= self._offload_min:
                if self._submit():
                    continue
                if self._jobs:
                    return  # the verifier is full: its next result flushes again
            batch = self._take()
            envs = [self._waiting[k].env for k in batch]
            self._accept(batch, verify_envelopes(envs, threads=self._config.verify_threads))

    def _take(self) -> list[bytes]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(self._config.verify_batch_size, len(queue)))]

    def _submit(self) -> bool:
        """Hand the next batch to the verifier thread; whether it took it."""
        if len(self._jobs) >= _MAX_JOBS:
            return False
        verifier = self._verifier if self._verifier is not None else self._start_verifier()
        if verifier is None:
            return False
        queue = self._queue
        size = min(self._config.verify_batch_size, len(queue))
        envs = [self._waiting[queue[i]].env for i in range(size)]
        try:
            job = verifier.submit(envs)
        except SwarmMeshError as exc:  # pragma: no cover - the thread cannot end on its own
            log.warning("flood: verifier thread unusable (%s), verifying on the loop", exc)
            self._stop_verifier()
            self._offload_min = _NEVER
            return False
        if job is None:
            return False
        self._jobs[job] = [queue.popleft() for _ in range(size)]
        self._mesh.count("verify_offloaded")
        return True

    def _start_verifier(self) -> EnvelopeVerifier | None:
        if _Verifier is None or self._offload_min == _NEVER:
            self._offload_min = _NEVER
            return None
        threads = self._config.verify_threads
        if threads is None:  # every core but the one the loop runs on
            threads = max(1, spare_cores())
        verifier = _Verifier(threads=threads, max_jobs=_MAX_JOBS)
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(verifier.fileno(), self._on_verified)
        except NotImplementedError:  # an event loop without add_reader (Windows' proactor)
            verifier.close()
            self._offload_min = _NEVER
            return None
        self._verifier, self._loop = verifier, loop
        return verifier

    def _stop_verifier(self) -> None:
        verifier, loop = self._verifier, self._loop
        self._verifier = self._loop = None
        if verifier is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(verifier.fileno())
            verifier.close()

    def _on_verified(self) -> None:
        """The verifier thread finished jobs: deliver them in order (a reader callback)."""
        if self._verifier is None:  # pragma: no cover - stopped with the wake-up pending
            return
        for job, verdicts in self._verifier.results():
            batch = self._jobs.pop(job)
            # Keep the thread busy: queue what waits before delivering this batch. Any
            # size goes: this batch is delivered first, so the order holds.
            while self._queue and self._submit():
                pass
            if verdicts is None:  # pragma: no cover - verification is total
                log.error("flood: the verifier thread failed a batch of %d broadcasts", len(batch))
                self._mesh.drop("verify_failed", len(batch))
                for key in batch:
                    self._waiting.pop(key, None)
                continue
            try:
                self._accept(batch, verdicts)
            except Exception:  # a reader callback must not lose the batches after this one
                log.exception("flood: delivering a verified batch failed")
                for key in batch:
                    self._waiting.pop(key, None)
        if self._queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def _accept(self, batch: list[bytes], verdicts: list[bool]) -> None:
        mesh = self._mesh
        dedup = self._dedup
        waiting = self._waiting
        linked = mesh.linked_peers()
        now = mesh.clock.now_ms()
        duplicates = received = forwarded = 0
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
                duplicates += len(senders)
                continue
            duplicates += len(senders) - 1
            origin = self._address(env)
            received += 1
            mesh.publish_local(Message(env.topic, env.payload, origin, msg_id, item.transport))
            if env.ttl > 0:
                # Never back to the peers it came from, nor to its origin (which has it).
                exclude = {*senders, origin}
                if not linked <= exclude and self._forward(env, msg_id, exclude):
                    forwarded += 1
        mesh.count("verify_batches")
        mesh.count("verified", len(batch))
        tally = (("duplicates", duplicates), ("broadcasts_received", received), ("forwarded", forwarded))
        for what, n in tally:
            if n:
                mesh.count(what, n)

    def _address(self, env: Envelope) -> str:
        """``env.origin_id``, from a bounded cache (most messages come from few origins)."""
        key = env.origin
        address = self._addresses.get(key)
        if address is None:
            if len(self._addresses) >= _ADDRESS_CACHE:
                self._addresses.clear()
            address = self._addresses[key] = env.origin_id
        return address

    def clear(self) -> None:
        """Forget everything waiting and stop the verifier thread (the mesh stopped)."""
        self._stop_verifier()
        self._jobs.clear()
        self._waiting.clear()
        self._queue.clear()
        self._targets = None
