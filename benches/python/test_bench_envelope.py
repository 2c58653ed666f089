"""The mesh envelope through the FFI against a pure-Python codec and pynacl.

* **encode + decode**: ``Envelope.to_bytes`` + ``Envelope.from_bytes`` beside a
  ``struct``-based pure-Python codec of the same layout with the same strict
  checks (flags, lengths, UTF-8, kind rules, trailing bytes); a test checks that
  both produce and accept the same bytes before anything is timed.
* **signature checks**: ``verify_envelopes`` of 256 signed broadcasts (one batch
  equation, GIL released) beside ``Envelope.verify`` one by one and pynacl's
  ``VerifyKey.verify`` one by one over precomputed signing bytes (its keys
  cached, which favours pynacl).

Group names start with ``mesh-`` so the mesh's benchmarks sit together in
docs/benchmarks.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import nacl.signing
import pytest

from benches.python.conftest import scaled
from swarmmesh import Envelope, Keypair
from swarmmesh.mesh.envelope import verify_envelopes

KINDS = ("data", "ack", "nack", "broadcast", "ping", "pong")
KIND_OF = {i + 1: k for i, k in enumerate(KINDS)}
BYTE_OF = {k: i + 1 for i, k in enumerate(KINDS)}
MAX_PAYLOAD = 16 << 20
MAX_CONTROL = 1024
HEAD = struct.Struct("<BBBBBB16sQ32s")
N_CODEC = scaled(20_000, 2_000)
N_VERIFY = 256


@dataclass(frozen=True, slots=True)
class PyEnvelope:
    """The pure-Python baseline: the same fields and the same strict codec."""

    kind: str
    message_id: bytes
    origin: bytes
    topic: str
    payload: bytes
    ttl: int = 8
    hops: int = 0
    timestamp_ms: int = 0
    target: bytes | None = None
    signature: bytes | None = None

    def to_bytes(self) -> bytes:
        t = self.topic.encode()
        if len(t) > 255 or len(self.payload) > MAX_PAYLOAD:
            raise ValueError("over a limit")
        if self.kind == "broadcast" and (self.signature is None or self.target is not None):
            raise ValueError("a broadcast is signed and untargeted")
        flags = (1 if self.target is not None else 0) | (2 if self.signature is not None else 0)
        head = HEAD.pack(
            0xE1,
            1,
            BYTE_OF[self.kind],
            flags,
            self.ttl,
            self.hops,
            self.message_id,
            self.timestamp_ms,
            self.origin,
        )
        return b"".join(
            (
                head,
                self.target or b"",
                bytes((len(t),)),
                t,
                len(self.payload).to_bytes(4, "little"),
                self.payload,
                self.signature or b"",
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PyEnvelope:
        if len(data) < HEAD.size:
            raise ValueError("truncated")
        frame, version, kind_b, flags, ttl, hops, mid, ts, origin = HEAD.unpack_from(data)
        if frame != 0xE1 or version != 1:
            raise ValueError("bad frame type or version")
        kind = KIND_OF.get(kind_b)
        if kind is None:
            raise ValueError("unknown kind")
        if flags & ~3:
            raise ValueError("unknown flags")
        pos = HEAD.size
        target = None
        if flags & 1:
            target = data[pos : pos + 32]
            if len(target) != 32:
                raise ValueError("truncated")
            pos += 32
        if pos >= len(data):
            raise ValueError("truncated")
        tlen = data[pos]
        pos += 1
        raw_topic = data[pos : pos + tlen]
        if len(raw_topic) != tlen:
            raise ValueError("truncated")
        topic = raw_topic.decode()  # UnicodeDecodeError is a ValueError
        pos += tlen
        if pos + 4 > len(data):
            raise ValueError("truncated")
        (plen,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if plen > MAX_PAYLOAD or (kind in ("ack", "nack", "ping", "pong") and plen > MAX_CONTROL):
            raise ValueError("length limit")
        payload = data[pos : pos + plen]
        if len(payload) != plen:
            raise ValueError("truncated")
        pos += plen
        signature = None
        if flags & 2:
            signature = data[pos : pos + 64]
            if len(signature) != 64:
                raise ValueError("truncated")
            pos += 64
        if pos != len(data):
            raise ValueError("trailing bytes")
        if kind == "broadcast" and (signature is None or target is not None):
            raise ValueError("a broadcast is signed and untargeted")
        return cls(kind, mid, origin, topic, payload, ttl, hops, ts, target, signature)


KEYS = [Keypair.from_seed(bytes([i + 1]) * 32) for i in range(16)]


def make_broadcasts(n: int, payload_len: int) -> list[Envelope]:
    return [
        Envelope(
            "broadcast",
            i.to_bytes(16, "little"),
            KEYS[i % len(KEYS)].public_key,
            "mesh/bench",
            bytes([i % 251]) * payload_len,
            timestamp_ms=1_700_000_000_000 + i,
        ).signed(KEYS[i % len(KEYS)])
        for i in range(n)
    ]


def as_py(e: Envelope) -> PyEnvelope:
    return PyEnvelope(
        e.kind,
        e.message_id,
        e.origin,
        e.topic,
        e.payload,
        e.ttl,
        e.hops,
        e.timestamp_ms,
        e.target,
        e.signature,
    )


@pytest.mark.parametrize("payload_len", [100, 64 << 10])
def test_baseline_agrees(payload_len: int) -> None:
    for e in make_broadcasts(20, payload_len):
        frame = e.to_bytes()
        p = as_py(e)
        assert p.to_bytes() == frame
        assert PyEnvelope.from_bytes(frame) == p
        assert Envelope.from_bytes(p.to_bytes()) == e
    bad = bytearray(make_broadcasts(1, 10)[0].to_bytes())
    bad[3] |= 0x80
    with pytest.raises(ValueError, match="unknown flags"):
        PyEnvelope.from_bytes(bytes(bad))


CODEC = ["swarmmesh.Envelope to_bytes + from_bytes", "struct pure-Python codec"]


@pytest.mark.parametrize("payload_len", [100, 64 << 10])
@pytest.mark.parametrize("impl", CODEC)
def test_encode_decode(benchmark: Any, impl: str, payload_len: int) -> None:
    n = N_CODEC if payload_len <= 1024 else max(N_CODEC // 20, 100)
    benchmark.group = f"mesh-envelope: encode + decode ({payload_len}-byte signed broadcast)"
    benchmark.extra_info["items"] = n
    envs = make_broadcasts(64, payload_len)
    seq = [envs[i % len(envs)] for i in range(n)]
    if impl.startswith("swarmmesh"):

        def run() -> Any:
            decode = Envelope.from_bytes
            return [decode(e.to_bytes()) for e in seq]

    else:
        py_seq = [as_py(e) for e in seq]

        def run() -> Any:
            decode = PyEnvelope.from_bytes
            return [decode(e.to_bytes()) for e in py_seq]

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


VERIFY = [
    "swarmmesh.verify_envelopes (batch)",
    "swarmmesh.verify_envelopes (batch, 1 thread)",
    "swarmmesh.Envelope.verify one by one",
    "pynacl VerifyKey.verify one by one",
]


@pytest.mark.parametrize("impl", VERIFY)
def test_verify_256(benchmark: Any, impl: str) -> None:
    benchmark.group = f"mesh-envelope: verify {N_VERIFY} signed broadcasts (100-byte payloads)"
    benchmark.extra_info["items"] = N_VERIFY
    envs = make_broadcasts(N_VERIFY, 100)
    if impl == VERIFY[0]:

        def run() -> Any:
            return verify_envelopes(envs)

    elif impl == VERIFY[1]:

        def run() -> Any:
            return verify_envelopes(envs, threads=1)

    elif impl == VERIFY[2]:

        def run() -> Any:
            return [e.verify() for e in envs]

    else:
        verify_keys = {k.public_key: nacl.signing.VerifyKey(k.public_key) for k in KEYS}
        triples = [(verify_keys[e.origin], e.signing_bytes(), e.signature) for e in envs]

        def run() -> Any:
            return [vk.verify(msg, sig) for vk, msg, sig in triples]

    result = benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
    assert len(result) == N_VERIFY
    if impl.startswith("swarmmesh"):
        assert all(result)
