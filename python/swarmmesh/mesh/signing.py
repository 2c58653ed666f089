"""Signing a node's own broadcasts: inline, or on the core's signer thread during a burst.

``Mesh.broadcast`` hands each new (unsigned) broadcast envelope to the mesh's
:class:`Publisher`, which signs it, encodes it and gives the frame to the flood. An Ed25519
signature costs about 18 µs, most of what a broadcast costs the loop; when a node publishes
a burst (at least ``sign_offload_min`` broadcasts in one loop iteration), the rest of the
burst is signed on an :class:`~swarmmesh._core.EnvelopeSigner`: a thread of the core that
never takes the GIL and wakes the loop through a file descriptor when a batch is signed.
The loop meanwhile goes on (building the next envelopes, delivering what arrives), so on
two cores a burst costs it the Python around the signature, not the signature.

Order and bounds: once a broadcast waits for the signer, every later one waits behind it,
so a node's broadcasts leave in the order they were made; at most four batches of
``verify_batch_size`` are with the thread and at most ``sign_queue`` broadcasts wait for
it; ``Mesh.broadcast`` waits (backpressure) while that queue is full. Small bursts, the
common case, are signed inline: a thread hop would cost more than it saves. Where the
platform or the event loop cannot watch a descriptor (Windows), everything is signed
inline. ``Mesh.stop`` lets the waiting broadcasts go out before it closes the transports.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from swarmmesh import _core
from swarmmesh._core import SigningKey
from swarmmesh.errors import SwarmMeshError
from swarmmesh.mesh._cores import spare_cores
from swarmmesh.mesh.config import MeshConfig
from swarmmesh.mesh.envelope import Envelope

if TYPE_CHECKING:
    from swarmmesh._core import EnvelopeSigner

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

#: The signer thread, where the platform has it (Unix).
_Signer: type[EnvelopeSigner] | None = getattr(_core, "EnvelopeSigner", None)
#: Batches with the signer thread at once.
_MAX_JOBS = 4
#: A threshold no burst reaches (offloading off).
_NEVER = 1 << 62


class Publisher:
    """Signs the broadcasts of one mesh and hands their frames to ``send`` (see the module docstring)."""

    __slots__ = (
        "_batch",
        "_burst",
        "_closed",
        "_counted",
        "_idle",
        "_jobs",
        "_key",
        "_loop",
        "_max_waiting",
        "_room",
        "_scheduled",
        "_send",
        "_signer",
        "_threads",
        "_threshold",
        "_waiting",
    )

    def __init__(
        self,
        key: SigningKey,
        config: MeshConfig,
        send: Callable[[bytes, bytes], None],
        count: Callable[[str, int], None],
    ) -> None:
        """``send(frame, msg_id)`` floods a signed frame; ``count(what, n)`` bumps a mesh counter."""
        self._key = key
        self._send = send
        self._counted = count
        threshold = config.sign_offload_min
        # A thread only pays where it has a core of its own.
        self._threshold = threshold if threshold is not None and spare_cores() else _NEVER
        self._batch = config.verify_batch_size
        self._threads = config.verify_threads
        self._max_waiting = config.sign_queue
        self._burst = 0  # broadcasts made in this loop iteration
        self._waiting: deque[tuple[Envelope, bytes]] = deque()  # not handed to the thread yet
        self._jobs: dict[int, list[bytes]] = {}  # signer job id -> its message ids, oldest first
        self._signer: EnvelopeSigner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._room = asyncio.Event()  # set while the waiting queue has room
        self._room.set()
        self._idle = asyncio.Event()  # set while nothing waits to be signed
        self._idle.set()
        self._scheduled = False
        self._closed = False

    def __len__(self) -> int:
        """Broadcasts not signed yet (waiting, or with the signer thread)."""
        return len(self._waiting) + sum(len(ids) for ids in self._jobs.values())

    async def publish(self, env: Envelope, msg_id: bytes) -> None:
        """Sign ``env`` (an unsigned broadcast of ours) and flood it, now or after the burst's batch."""
        if not self._waiting and not self._jobs and self._burst < self._threshold:
            self._count_burst()
            self._send(env.signed(self._key).to_bytes(), msg_id)
            return
        while len(self._waiting) >= self._max_waiting:
            self._room.clear()
            await self._room.wait()
        if self._closed:  # the mesh stopped while we waited for room
            self._counted("broadcast_stopped", 1)
            return
        self._count_burst()
        self._idle.clear()
        self._waiting.append((env, msg_id))
        if len(self._waiting) >= self._batch:
            self._hand_over()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._hand_over)

    def _count_burst(self) -> None:
        if self._burst == 0:
            asyncio.get_running_loop().call_soon(self._end_burst)
        self._burst += 1

    def _end_burst(self) -> None:
        self._burst = 0

    def _hand_over(self, *, inline: bool = True) -> None:
        """Give the waiting broadcasts to the signer thread, in batches.

        If it cannot take them (none on this platform, or it became unusable) they are
        signed here, unless ``inline`` is false (a batch it returned is not sent yet, and
        these must not overtake it).
        """
        self._scheduled = False
        waiting = self._waiting
        while waiting and len(self._jobs) < _MAX_JOBS:
            signer = self._signer if self._signer is not None else self._start()
            size = min(self._batch, len(waiting))
            if signer is not None:
                try:
                    job = signer.submit([waiting[i][0] for i in range(size)])
                except SwarmMeshError as exc:  # pragma: no cover - the thread cannot end on its own
                    log.warning("publisher: signer thread unusable (%s), signing on the loop", exc)
                    self._stop_signer()
                    self._threshold = _NEVER
                    job = None
                if job is not None:
                    self._jobs[job] = [waiting.popleft()[1] for _ in range(size)]
                    self._counted("sign_offloaded", 1)
                    continue
            if self._jobs or not inline:
                break  # the thread is full, or a batch of it goes first: more later
            # No thread (or none usable): sign here, in order.
            for _ in range(size):
                env, msg_id = waiting.popleft()
                self._send(env.signed(self._key).to_bytes(), msg_id)
        self._room.set()
        if not waiting and not self._jobs:
            self._idle.set()

    def _start(self) -> EnvelopeSigner | None:
        if _Signer is None or self._threshold == _NEVER:
            return None
        threads = self._threads
        if threads is None:  # every core but the one the loop runs on
            threads = max(1, spare_cores())
        signer = _Signer(self._key, threads=threads, max_jobs=_MAX_JOBS)
        loop = asyncio.get_running_loop()
        try:
            loop.add_reader(signer.fileno(), self._on_signed)
        except NotImplementedError:  # an event loop without add_reader (Windows' proactor)
            signer.close()
            self._threshold = _NEVER
            return None
        self._signer, self._loop = signer, loop
        return signer

    def _stop_signer(self) -> None:
        signer, loop = self._signer, self._loop
        self._signer = self._loop = None
        if signer is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(signer.fileno())
            signer.close()

    def _on_signed(self) -> None:
        """The signer thread finished batches: flood their frames in order (a reader callback)."""
        if self._signer is None:  # pragma: no cover - stopped with the wake-up pending
            return
        for job, frames in self._signer.results():
            ids = self._jobs.pop(job)
            if self._waiting:  # keep the thread busy while these go out
                self._hand_over(inline=False)
            if frames is None:  # pragma: no cover - signing is total
                log.error("publisher: the signer thread failed a batch of %d broadcasts", len(ids))
                self._counted("sign_failed", len(ids))
                continue
            for frame, msg_id in zip(frames, ids, strict=True):
                if not frame:  # pragma: no cover - a signed broadcast always encodes
                    self._counted("sign_failed", 1)
                    continue
                try:
                    self._send(frame, msg_id)
                except Exception:  # a reader callback must not lose the frames after this one
                    log.exception("publisher: flooding a signed broadcast failed")
        if self._waiting:
            self._hand_over()
        elif not self._jobs:
            self._idle.set()

    async def finish(self) -> None:
        """Wait until every broadcast made so far is signed and handed to the flood."""
        if self._waiting:
            self._hand_over()
        await self._idle.wait()

    def open(self) -> None:
        """Take broadcasts again (the mesh started)."""
        self._closed = False

    def close(self) -> None:
        """Stop the signer thread and forget what waits (the mesh stopped)."""
        self._closed = True
        self._stop_signer()
        self._waiting.clear()
        self._jobs.clear()
        self._room.set()
        self._idle.set()
