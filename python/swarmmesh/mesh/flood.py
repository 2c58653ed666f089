"""The broadcast flood: signed envelopes over every healthy transport, verified in batches.

A :class:`Flood` belongs to one :class:`~swarmmesh.Mesh`. Sending queues the frame for
every linked peer on every transport that is not down (through the mesh's bounded
outboxes). Receiving drops a message id the mesh's one ``DedupFilter`` has seen, queues the
others (bounded, oldest dropped) and verifies them together at the end of the loop
iteration (or once ``verify_batch_size`` are waiting) with ``verify_envelopes``, one check
per distinct (message, signature). Each valid new message is delivered once and forwarded
once, with its TTL lowered (and capped at our own ``broadcast_ttl``, since relays can change
it), to every peer that did not send it. A bad signature is dropped,
counted, and reported to ``Resilience.misbehaved``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from swarmmesh._core import DedupFilter
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.envelope import Envelope, split_frame, verify_envelopes
from swarmmesh.mesh.gossip import Message, Outboxes
from swarmmesh.transports.base import Health, Transport

if TYPE_CHECKING:
    from swarmmesh.mesh.orchestrator import Mesh

__all__ = ["Flood"]

Targets = list[tuple[Transport, int]]


class Flood:
    """Sends and receives the broadcasts of one mesh (see the module docstring)."""

    __slots__ = ("_config", "_dedup", "_mesh", "_outboxes", "_queue", "_scheduled")

    def __init__(self, mesh: Mesh, dedup: DedupFilter, outboxes: Outboxes, config: MeshConfig) -> None:
        """Made by the mesh, sharing its dedup filter and outboxes."""
        self._mesh = mesh
        self._dedup = dedup
        self._outboxes = outboxes
        self._config = config
        self._queue: deque[tuple[Envelope, str, str]] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        """Broadcasts waiting for verification."""
        return len(self._queue)

    def targets(self) -> Targets:
        """The transports a flood goes over now (active and not down), with their frame limits."""
        mesh = self._mesh
        out = []
        for t in mesh.active_transports():
            if t.health is Health.DOWN or mesh.health.health(t.name) is Health.DOWN:
                continue
            out.append((t, mesh.max_frame(t)))
        return out

    def send(
        self, frame: bytes, msg_id: bytes, exclude: Sequence[str] = (), targets: Targets | None = None
    ) -> None:
        """Queue ``frame`` for every linked peer not in ``exclude`` (chunked where too large)."""
        outboxes = self._outboxes
        for t, limit in targets if targets is not None else self.targets():
            peers = [p for p in t.linked() if p not in exclude] if exclude else t.linked()
            if len(frame) <= limit:
                outboxes.fanout(t, peers, frame)
            else:
                frames = split_frame(frame, limit, msg_id)
                for peer in peers:
                    outboxes.put(t, peer, frames)

    def receive(self, env: Envelope, transport: str, peer_id: str) -> None:
        """A broadcast arrived: drop it if seen, else queue it for the next verification batch."""
        if self._dedup.contains(env.message_id, self._mesh.clock.now_ms()):
            self._mesh.count("duplicates")
            return
        if len(self._queue) >= self._config.verify_queue:
            self._queue.popleft()
            self._mesh.drop("verify_queue_full")
        self._queue.append((env, transport, peer_id))
        if len(self._queue) >= self._config.verify_batch_size:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Verify and accept everything queued, in batches of at most ``verify_batch_size``."""
        self._scheduled = False
        size = self._config.verify_batch_size
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            self._accept(batch)

    def _accept(self, batch: list[tuple[Envelope, str, str]]) -> None:
        mesh = self._mesh
        now = mesh.clock.now_ms()
        # One signature check per distinct (message, signature): copies from other links are the same.
        first: dict[tuple[bytes, bytes | None], int] = {}
        unique: list[Envelope] = []
        senders: dict[bytes, list[str]] = {}
        for env, _, peer in batch:
            key = (env.message_id, env.signature)
            if key not in first:
                first[key] = len(unique)
                unique.append(env)
            senders.setdefault(env.message_id, []).append(peer)
        verdicts = verify_envelopes(unique, threads=self._config.verify_threads)
        mesh.count("verify_batches")
        mesh.count("verified", len(unique))
        targets: Targets | None = None
        for env, transport, peer in batch:
            if not verdicts[first[(env.message_id, env.signature)]]:
                mesh.drop("bad_signature")
                mesh.resilience.misbehaved(peer, "bad_signature")
                continue
            if not self._dedup.check_and_insert(env.message_id, now):
                mesh.count("duplicates")
                continue
            mesh.count("broadcasts_received")
            mesh.publish_local(Message(env.topic, env.payload, env.origin_id, env.message_id, transport))
            if env.ttl > 0:
                mesh.count("forwarded")
                if targets is None:
                    targets = self.targets()
                # Never back to the peers it came from, nor to its origin (which has it).
                exclude = [*senders[env.message_id], env.origin_id]
                self.send(self._forwarded(env).to_bytes(), env.message_id, exclude, targets)

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
