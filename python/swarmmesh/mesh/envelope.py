"""The mesh wire format: envelopes, chunks and batch signature checks.

Every frame a transport carries is either an :class:`Envelope` (first byte
:data:`FRAME_ENVELOPE`, ``0xE1``) or a chunk of one (first byte
:data:`FRAME_CHUNK`, ``0xC1``). The codec is the Rust core's: strict (one
canonical encoding per envelope; anything else raises
:class:`~swarmmesh.errors.DecodeError` with a ``reason`` such as
``"truncated"``, ``"trailing_bytes"``, ``"unknown_kind"`` or
``"non_canonical"``) and never crashes on hostile input. The layout, the
signing rule and every limit are in ``docs/protocol.md``.

An envelope's origin signs :meth:`Envelope.signing_bytes`: every field but the
``ttl`` and ``hops`` that relays change, so :meth:`Envelope.forwarded` keeps
the signature valid. A broadcast must be signed, so relays cannot forge one;
:func:`verify_envelopes` checks a batch of them at once in Rust with the GIL
released (run it through ``asyncio.to_thread`` for large batches).

Frames larger than a transport's ``max_frame`` are cut by :func:`split_frame`
and put back together by a :class:`Reassembler`, which is bounded in messages,
bytes, message size and time::

    >>> from swarmmesh import Keypair
    >>> from swarmmesh.mesh.envelope import Envelope, Reassembler, split_frame
    >>> kp = Keypair.from_seed(bytes(32))
    >>> env = Envelope("broadcast", bytes(16), kp.public_key, "news", b"x" * 1000).signed(kp)
    >>> frame = env.to_bytes()
    >>> chunks = split_frame(frame, 256, b"chunk-id-16bytes")
    >>> r = Reassembler()
    >>> [r.push("peer", c, now_ms=0) for c in chunks][-1] == frame
    True
    >>> Envelope.from_bytes(frame).forwarded().verify()
    True
"""

from __future__ import annotations

from swarmmesh._core import (
    CHUNK_HEADER_LEN,
    FRAME_CHUNK,
    FRAME_ENVELOPE,
    MAX_CONTROL_PAYLOAD,
    MAX_ENVELOPE_LEN,
    MAX_PAYLOAD,
    MAX_TOPIC,
    Envelope,
    Reassembler,
    split_frame,
    verify_envelopes,
)

__all__ = [
    "CHUNK_HEADER_LEN",
    "FRAME_CHUNK",
    "FRAME_ENVELOPE",
    "MAX_CONTROL_PAYLOAD",
    "MAX_ENVELOPE_LEN",
    "MAX_PAYLOAD",
    "MAX_TOPIC",
    "Envelope",
    "Reassembler",
    "split_frame",
    "verify_envelopes",
]
