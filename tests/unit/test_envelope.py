"""The mesh envelope codec, signatures (pynacl as the oracle) and chunking."""

from __future__ import annotations

import random
import struct

import nacl.exceptions
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import swarmmesh
from swarmmesh import ArgumentTypeError, DecodeError, InvalidArgumentError, Keypair, SwarmMeshError
from swarmmesh._core import SigningKey
from swarmmesh.mesh.envelope import (
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

KINDS = ["data", "ack", "nack", "broadcast", "ping", "pong"]
KIND_BYTE = {k: i + 1 for i, k in enumerate(KINDS)}
DOMAIN = b"swarmmesh/envelope/v1\0"
ALICE = Keypair.from_seed(bytes([1]) * 32)
BOB = Keypair.from_seed(bytes([2]) * 32)
MID = bytes(range(16))


def reference_encode(
    kind: str,
    message_id: bytes,
    origin: bytes,
    topic: str,
    payload: bytes,
    *,
    ttl: int = 8,
    hops: int = 0,
    timestamp_ms: int = 0,
    target: bytes | None = None,
    signature: bytes | None = None,
) -> bytes:
    """An independent encoder of the documented layout (docs/protocol.md)."""
    flags = (1 if target is not None else 0) | (2 if signature is not None else 0)
    t = topic.encode()
    return b"".join(
        [
            struct.pack(
                "<BBBBBB16sQ32s", 0xE1, 1, KIND_BYTE[kind], flags, ttl, hops, message_id, timestamp_ms, origin
            ),
            target or b"",
            struct.pack("<B", len(t)),
            t,
            struct.pack("<I", len(payload)),
            payload,
            signature or b"",
        ]
    )


def reference_signing_bytes(env: Envelope) -> bytes:
    """The documented signing rule, computed independently."""
    t = env.topic.encode()
    return b"".join(
        [
            DOMAIN,
            struct.pack("<BBB", 1, KIND_BYTE[env.kind], 1 if env.target is not None else 0),
            env.message_id,
            struct.pack("<Q", env.timestamp_ms),
            env.origin,
            env.target or b"",
            struct.pack("<Q", len(t)),
            t,
            struct.pack("<Q", len(env.payload)),
            env.payload,
        ]
    )


def data(**kw: object) -> Envelope:
    args: dict[str, object] = {"target": BOB.public_key, "timestamp_ms": 1_700_000_000_000}
    args.update(kw)
    return Envelope("data", MID, ALICE.public_key, "chat", b"hello", **args)  # type: ignore[arg-type]


def broadcast(payload: bytes = b"to all", key: Keypair = ALICE, mid: bytes = MID) -> Envelope:
    return Envelope("broadcast", mid, key.public_key, "news", payload, timestamp_ms=42).signed(key)


def decode_reason(frame: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        Envelope.from_bytes(frame)
    assert isinstance(info.value, SwarmMeshError)
    assert info.value.code == f"decode.{info.value.reason}"
    assert info.value.what == "Envelope"
    return info.value.reason


# ---------------------------------------------------------------- values and layout


def test_exported_from_the_package() -> None:
    assert swarmmesh.Envelope is Envelope
    assert FRAME_ENVELOPE == 0xE1
    assert FRAME_CHUNK == 0xC1
    assert MAX_PAYLOAD == 16 << 20
    assert MAX_TOPIC == 255
    assert CHUNK_HEADER_LEN == 26


def test_fields_and_defaults() -> None:
    e = Envelope("data", MID, ALICE.public_key, "t", b"p")
    assert (e.kind, e.message_id, e.origin, e.topic, e.payload) == ("data", MID, ALICE.public_key, "t", b"p")
    assert (e.ttl, e.hops, e.timestamp_ms, e.target, e.signature) == (8, 0, 0, None, None)
    assert e.origin_id == ALICE.address
    assert e.origin_id is e.origin_id  # computed once
    assert e.signed(ALICE).forwarded().origin_id == ALICE.address
    assert Envelope("data", MID, BOB.public_key, "t", b"").origin_id == BOB.address
    assert "data" in repr(e)
    assert ALICE.address in repr(e)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_every_kind(kind: str) -> None:
    target = None if kind == "broadcast" else BOB.public_key
    e = Envelope(
        kind,
        MID,
        ALICE.public_key,
        "topic/é",
        b"\x00\x01" * 10,
        ttl=3,
        hops=2,
        timestamp_ms=2**63,
        target=target,
    )
    if kind == "broadcast":
        e = e.signed(ALICE)
    frame = e.to_bytes()
    assert frame[0] == FRAME_ENVELOPE
    assert frame == reference_encode(
        kind,
        MID,
        ALICE.public_key,
        "topic/é",
        b"\x00\x01" * 10,
        ttl=3,
        hops=2,
        timestamp_ms=2**63,
        target=target,
        signature=e.signature,
    )
    d = Envelope.from_bytes(frame)
    assert d == e
    assert hash(d) == hash(e)
    assert d.to_bytes() == frame


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    mid=st.binary(min_size=16, max_size=16),
    topic=st.text(max_size=60),
    payload=st.binary(max_size=600),
    ttl=st.integers(0, 255),
    hops=st.integers(0, 255),
    ts=st.integers(0, 2**64 - 1),
    targeted=st.booleans(),
)
def test_round_trip_property(
    kind: str, mid: bytes, topic: str, payload: bytes, ttl: int, hops: int, ts: int, targeted: bool
) -> None:
    if kind in ("ack", "nack", "ping", "pong"):
        payload = payload[:MAX_CONTROL_PAYLOAD]
    target = BOB.public_key if targeted and kind != "broadcast" else None
    e = Envelope(
        kind, mid, ALICE.public_key, topic, payload, ttl=ttl, hops=hops, timestamp_ms=ts, target=target
    )
    if kind == "broadcast" or targeted:
        e = e.signed(ALICE)
    frame = e.to_bytes()
    assert frame == reference_encode(
        kind,
        mid,
        ALICE.public_key,
        topic,
        payload,
        ttl=ttl,
        hops=hops,
        timestamp_ms=ts,
        target=target,
        signature=e.signature,
    )
    assert Envelope.from_bytes(frame) == e


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_crashes(raw: bytes) -> None:
    for frame in (raw, b"\xe1\x01" + raw):
        try:
            e = Envelope.from_bytes(frame)
        except DecodeError:
            continue
        # Whatever decodes is canonical: it encodes back to the same bytes.
        assert e.to_bytes() == frame


def test_equality_and_hash() -> None:
    a, b = data(), data()
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != data(ttl=7)
    assert a != Envelope("data", MID, ALICE.public_key, "chat", b"hellp", target=BOB.public_key)
    assert a != "not an envelope"
    assert a.signed(ALICE) != a


def test_payload_accepts_buffers_but_not_str() -> None:
    assert Envelope("data", MID, ALICE.public_key, "t", bytearray(b"ab")).payload == b"ab"
    assert Envelope("data", MID, ALICE.public_key, "t", memoryview(b"ab")).payload == b"ab"
    with pytest.raises(ArgumentTypeError) as info:
        Envelope("data", MID, ALICE.public_key, "t", "ab")  # type: ignore[arg-type]
    assert info.value.argument == "payload"


# ---------------------------------------------------------------- construction errors


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"kind": "Data"}, "kind"),
        ({"kind": "gossip"}, "kind"),
        ({"message_id": bytes(15)}, "message_id"),
        ({"message_id": bytes(17)}, "message_id"),
        ({"origin": bytes(31)}, "origin"),
        ({"target": bytes(33)}, "target"),
        ({"signature": bytes(63)}, "signature"),
        ({"topic": "x" * 256}, "topic"),
        ({"topic": "é" * 128}, "topic"),
        ({"ttl": 256}, "ttl"),
        ({"ttl": -1}, "ttl"),
        ({"hops": 300}, "hops"),
        ({"timestamp_ms": -5}, "timestamp_ms"),
        ({"kind": "ack", "payload": bytes(MAX_CONTROL_PAYLOAD + 1)}, "payload"),
        ({"kind": "broadcast", "target": bytes(32)}, "target"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], argument: str) -> None:
    args: dict[str, object] = {
        "kind": "data",
        "message_id": MID,
        "origin": ALICE.public_key,
        "topic": "t",
        "payload": b"",
    }
    args.update(kwargs)
    pos = [args.pop(k) for k in ("kind", "message_id", "origin", "topic", "payload")]
    with pytest.raises(InvalidArgumentError) as info:
        Envelope(*pos, **args)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert info.value.code == "invalid_argument"


def test_limits_are_inclusive() -> None:
    e = Envelope("data", MID, ALICE.public_key, "x" * MAX_TOPIC, bytes(MAX_PAYLOAD))
    frame = e.to_bytes()
    assert len(frame) == MAX_ENVELOPE_LEN - 32 - 64
    assert Envelope.from_bytes(frame).payload == bytes(MAX_PAYLOAD)
    with pytest.raises(InvalidArgumentError) as info:
        Envelope("data", MID, ALICE.public_key, "", bytes(MAX_PAYLOAD + 1))
    assert info.value.argument == "payload"
    Envelope("pong", MID, ALICE.public_key, "", bytes(MAX_CONTROL_PAYLOAD)).to_bytes()


def test_unsigned_broadcast_cannot_be_encoded() -> None:
    e = Envelope("broadcast", MID, ALICE.public_key, "news", b"x")
    with pytest.raises(InvalidArgumentError) as info:
        e.to_bytes()
    assert info.value.argument == "signature"
    e.signed(ALICE).to_bytes()


# ---------------------------------------------------------------- every decode reason


def test_decode_reasons() -> None:
    good = data().to_bytes()
    topic_at = 62 + 32 + 1
    payload_len_at = topic_at + 4
    assert decode_reason(b"") == "truncated"
    assert decode_reason(good[:-1]) == "truncated"
    assert decode_reason(good[:30]) == "truncated"
    assert decode_reason(good + b"\x00") == "trailing_bytes"
    assert decode_reason(b"\xc1" + good[1:]) == "bad_magic"
    assert decode_reason(good[:1] + b"\x02" + good[2:]) == "unknown_version"
    for k in (0, 7, 255):
        assert decode_reason(good[:2] + bytes([k]) + good[3:]) == "unknown_kind"
    assert decode_reason(good[:3] + bytes([good[3] | 0x80]) + good[4:]) == "non_canonical"
    bad_topic = bytearray(good)
    bad_topic[topic_at] = 0xFF
    assert decode_reason(bytes(bad_topic)) == "non_canonical"
    too_long = bytearray(good)
    too_long[payload_len_at : payload_len_at + 4] = struct.pack("<I", MAX_PAYLOAD + 1)
    assert decode_reason(bytes(too_long)) == "length_limit"
    beyond = bytearray(good)
    beyond[payload_len_at : payload_len_at + 4] = struct.pack("<I", 6)
    assert decode_reason(bytes(beyond)) == "truncated"


def test_decode_rejects_broken_kind_rules() -> None:
    raw = reference_encode("broadcast", MID, ALICE.public_key, "news", b"x")
    assert decode_reason(raw) == "non_canonical"  # unsigned broadcast
    raw = reference_encode(
        "broadcast", MID, ALICE.public_key, "n", b"x", target=BOB.public_key, signature=bytes(64)
    )
    assert decode_reason(raw) == "non_canonical"  # targeted broadcast
    raw = reference_encode("ack", MID, ALICE.public_key, "", bytes(MAX_CONTROL_PAYLOAD + 1))
    assert decode_reason(raw) == "length_limit"
    # A data frame claiming a signature it does not carry.
    raw = bytearray(data().to_bytes())
    raw[3] |= 0x02
    assert decode_reason(bytes(raw)) == "truncated"


# ---------------------------------------------------------------- signatures (pynacl as the oracle)


def nacl_key(kp: Keypair) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(kp.seed())


def nacl_ok(env: Envelope) -> bool:
    if env.signature is None:
        return False
    try:
        nacl.signing.VerifyKey(env.origin).verify(reference_signing_bytes(env), env.signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def test_signing_bytes_follow_the_documented_rule() -> None:
    for e in (data(), broadcast(), data(target=None), data().signed(ALICE)):
        assert e.signing_bytes() == reference_signing_bytes(e)
        assert e.signing_bytes().startswith(DOMAIN)


def test_signatures_agree_with_pynacl() -> None:
    e = broadcast()
    assert e.signature is not None
    assert e.signature == nacl_key(ALICE).sign(e.signing_bytes()).signature
    assert nacl_ok(e)
    assert e.verify()
    # A signature made by pynacl, attached by the constructor.
    unsigned = data()
    sig = nacl_key(ALICE).sign(unsigned.signing_bytes()).signature
    signed = data(signature=sig)
    assert signed.verify()
    assert Envelope.from_bytes(signed.to_bytes()).verify()
    # Signing with the core key gives the same bytes as with the Keypair.
    assert data().signed(SigningKey(ALICE.seed())) == data().signed(ALICE)


def test_signed_checks_the_key() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        data().signed(BOB)
    assert info.value.argument == "key"
    with pytest.raises(InvalidArgumentError):
        data().signed(SigningKey(BOB.seed()))
    with pytest.raises(ArgumentTypeError) as type_info:
        data().signed(object())  # type: ignore[arg-type]
    assert type_info.value.argument == "key"


def test_verify_rejects_tampering_and_unsigned() -> None:
    assert not data().verify()
    e = data().signed(ALICE)
    assert e.verify()
    forged = Envelope(
        "data",
        MID,
        ALICE.public_key,
        "chat",
        b"hellO",
        target=BOB.public_key,
        timestamp_ms=1_700_000_000_000,
        signature=e.signature,
    )
    assert not forged.verify()
    assert not nacl_ok(forged)
    stolen = Envelope("data", MID, BOB.public_key, "chat", b"hello", signature=e.signature)
    assert not stolen.verify()


def test_every_covered_byte_is_covered() -> None:
    frame = broadcast(b"payload bytes").to_bytes()
    for i in range(len(frame)):
        mutated = bytearray(frame)
        mutated[i] ^= 0x01 if i % 2 else 0x80
        try:
            accepted = Envelope.from_bytes(bytes(mutated)).verify()
        except DecodeError:
            accepted = False
        assert accepted == (i in (4, 5)), f"byte {i}"


def test_forwarded_keeps_the_signature() -> None:
    e = broadcast()
    f = e.forwarded()
    assert (f.ttl, f.hops) == (7, 1)
    assert (e.ttl, e.hops) == (8, 0)
    assert f.signing_bytes() == e.signing_bytes()
    assert f.verify()
    assert nacl_ok(f)
    assert Envelope.from_bytes(f.to_bytes()) == f
    assert f.payload is e.payload


def test_forwarded_stops_at_the_edges() -> None:
    last = data(ttl=1).forwarded()
    assert last.ttl == 0
    with pytest.raises(InvalidArgumentError) as info:
        last.forwarded()
    assert info.value.argument == "ttl"
    with pytest.raises(InvalidArgumentError) as info:
        data(hops=255).forwarded()
    assert info.value.argument == "hops"


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_batch_verification_with_bad_ones(threads: int | None) -> None:
    keys = [Keypair.from_seed(bytes([i + 10]) * 32) for i in range(8)]
    rng = random.Random(4)
    envs = [
        broadcast(rng.randbytes(rng.randrange(200)), keys[i % 8], i.to_bytes(16, "big")) for i in range(150)
    ]
    bad = {3, 40, 41, 99, 149}
    for i in bad:
        e = envs[i]
        if i == 40:  # unsigned
            envs[i] = Envelope("data", e.message_id, e.origin, e.topic, e.payload)
        elif i == 41:  # another origin's signature
            envs[i] = Envelope(
                "data", e.message_id, BOB.public_key, e.topic, e.payload, signature=e.signature
            )
        else:  # payload changed after signing
            envs[i] = Envelope(
                "broadcast",
                e.message_id,
                e.origin,
                e.topic,
                e.payload + b"!",
                timestamp_ms=e.timestamp_ms,
                signature=e.signature,
            )
    verdicts = verify_envelopes(envs, threads=threads)
    assert verdicts == [i not in bad for i in range(150)]
    assert verdicts == [nacl_ok(e) for e in envs]
    assert verdicts == [e.verify() for e in envs]


def test_batch_edges() -> None:
    assert verify_envelopes([]) == []
    assert verify_envelopes([broadcast()]) == [True]
    assert verify_envelopes((data(),)) == [False]
    with pytest.raises(InvalidArgumentError):
        verify_envelopes([broadcast()], threads=0)
    with pytest.raises(TypeError):
        verify_envelopes([b"not an envelope"])  # type: ignore[list-item]


# ---------------------------------------------------------------- chunks


def frame_of(n: int) -> bytes:
    return Envelope("data", MID, ALICE.public_key, "big", random.Random(n).randbytes(n)).to_bytes()


def test_split_keeps_a_frame_that_fits() -> None:
    f = frame_of(100)
    assert split_frame(f, len(f), MID) == [f]
    assert split_frame(f, len(f), MID)[0] is f


def test_split_layout() -> None:
    f = frame_of(1000)
    chunks = split_frame(f, 200, b"c" * 16)
    per = 200 - CHUNK_HEADER_LEN
    assert len(chunks) == -(-len(f) // per)
    for i, c in enumerate(chunks):
        assert len(c) <= 200
        kind, version, cid, index, count, total = struct.unpack_from("<BB16sHHI", c)
        assert (kind, version, cid, index, count, total) == (
            FRAME_CHUNK,
            1,
            b"c" * 16,
            i,
            len(chunks),
            len(f),
        )
        assert c[CHUNK_HEADER_LEN:] == f[i * per : (i + 1) * per]


def test_split_errors() -> None:
    f = frame_of(1000)
    with pytest.raises(InvalidArgumentError) as info:
        split_frame(f, CHUNK_HEADER_LEN, MID)
    assert info.value.argument == "max_frame"
    with pytest.raises(InvalidArgumentError) as info:
        split_frame(f, 100, bytes(15))
    assert info.value.argument == "chunk_id"
    with pytest.raises(InvalidArgumentError):
        split_frame(f, -1, MID)


def test_reassembly_out_of_order_with_duplicates() -> None:
    f = frame_of(5000)
    chunks = split_frame(f, 300, MID)
    rng = random.Random(7)
    shuffled = rng.sample(chunks, len(chunks))
    # Everything but the completing chunk arrives shuffled, five of them twice.
    body = shuffled[:-1] + rng.sample(shuffled[:-1], 5)
    rng.shuffle(body)
    r = Reassembler()
    assert all(r.push("peer", c, 0) is None for c in body)
    done = r.push("peer", shuffled[-1], 0)
    assert done == f
    assert Envelope.from_bytes(done).payload == random.Random(5000).randbytes(5000)
    s = r.stats()
    assert (s["completed"], s["duplicates"], s["pending"], s["bytes"]) == (1, 5, 0, 0)
    assert set(s) == {"pending", "bytes", "completed", "expired", "evicted", "rejected", "duplicates"}


def test_reassembly_keeps_peers_apart() -> None:
    f, g = frame_of(700), frame_of(800)
    cf, cg = split_frame(f, 200, MID), split_frame(g, 200, MID)
    r = Reassembler()
    results = []
    for a, b in zip(cf, cg, strict=False):
        results.append(r.push("a", a, 0))
        results.append(r.push("b", b, 0))
    for b in cg[len(cf) :]:
        results.append(r.push("b", b, 0))
    assert [x for x in results if x is not None] == [f, g]


def test_timeouts() -> None:
    chunks = split_frame(frame_of(1000), 300, MID)
    r = Reassembler(timeout_ms=1000)
    assert r.push("p", chunks[0], 5000) is None
    assert r.expire(5999) == 0
    assert r.expire(6000) == 1
    assert r.stats()["expired"] == 1
    assert r.stats()["pending"] == 0
    # The rest arrives too late: it starts over and cannot complete.
    assert all(r.push("p", c, 6000) is None for c in chunks[1:])
    # push expires on its own.
    r.push("p", split_frame(frame_of(1000), 300, b"x" * 16)[0], 7000)
    assert r.stats()["expired"] == 2
    assert r.stats()["pending"] == 1


def test_pending_bound_evicts_the_oldest() -> None:
    r = Reassembler(max_pending=3)
    firsts = [split_frame(frame_of(1000), 300, bytes([i]) * 16) for i in range(4)]
    for chunks in firsts:
        r.push("p", chunks[0], 0)
    s = r.stats()
    assert (s["pending"], s["evicted"]) == (3, 1)
    # Message 1 survived and completes; message 0 was evicted.
    assert [r.push("p", c, 0) for c in firsts[1][1:]][-1] == frame_of(1000)
    assert all(r.push("p", c, 0) is None for c in firsts[0][1:])


def test_byte_bound_evicts_the_oldest() -> None:
    f = frame_of(2000)
    a, b = split_frame(f, 1000, b"a" * 16), split_frame(f, 1000, b"b" * 16)
    r = Reassembler(max_bytes=len(f) + 1000)
    r.push("p", a[0], 0)
    r.push("p", a[1], 0)
    r.push("p", b[0], 0)
    assert r.stats()["evicted"] == 0
    r.push("p", b[1], 0)
    s = r.stats()
    assert s["evicted"] == 1
    assert s["bytes"] <= len(f) + 1000
    assert [r.push("p", c, 0) for c in b[2:]][-1] == f


def test_one_peer_cannot_crowd_out_the_others() -> None:
    r = Reassembler(max_pending=8, max_pending_per_peer=2)
    honest = split_frame(frame_of(1000), 300, b"h" * 16)
    r.push("honest", honest[0], 0)
    for i in range(20):
        r.push("flood", split_frame(frame_of(1000), 300, bytes([i]) * 16)[0], 0)
    s = r.stats()
    assert (s["pending"], s["evicted"]) == (3, 18)
    assert [r.push("honest", c, 0) for c in honest[1:]][-1] == frame_of(1000)


def test_byte_pressure_evicts_the_heaviest_peer() -> None:
    f = frame_of(2000)
    light = split_frame(f, 1000, b"l" * 16)
    r = Reassembler(max_bytes=3 * 974 + 100)
    r.push("light", light[0], 0)
    for i in range(4):
        r.push("heavy", split_frame(f, 1000, bytes([i]) * 16)[0], 0)
    assert r.stats()["evicted"] == 2
    assert [r.push("light", c, 0) for c in light[1:]][-1] == f


def test_message_bound_rejects() -> None:
    f = frame_of(3000)
    r = Reassembler(max_message=len(f) - 1)
    with pytest.raises(DecodeError) as info:
        r.push("p", split_frame(f, 500, MID)[0], 0)
    assert info.value.reason == "length_limit"
    assert r.stats()["rejected"] == 1
    # max_bytes caps a message too.
    r = Reassembler(max_bytes=len(f) - 1)
    with pytest.raises(DecodeError):
        r.push("p", split_frame(f, 500, MID)[0], 0)


def test_inconsistent_and_malformed_chunks() -> None:
    f, g = frame_of(3000), frame_of(4000)
    cf, cg = split_frame(f, 500, MID), split_frame(g, 500, MID)
    r = Reassembler()
    r.push("p", cf[0], 0)
    with pytest.raises(DecodeError) as info:
        r.push("p", cg[1], 0)  # same id, another total
    assert info.value.reason == "inconsistent"
    assert info.value.what == "Chunk"
    assert r.stats()["pending"] == 0
    for bad, reason in [
        (b"", "truncated"),
        (b"\xe1" + cf[0][1:], "bad_magic"),
        (cf[0][:1] + b"\x09" + cf[0][2:], "unknown_version"),
        (cf[0][:CHUNK_HEADER_LEN], "non_canonical"),
        (cf[0][:20] + struct.pack("<H", 1) + cf[0][22:], "non_canonical"),
        (cf[0][:18] + struct.pack("<H", 999) + cf[0][20:], "inconsistent"),
    ]:
        with pytest.raises(DecodeError) as info:
            r.push("p", bad, 0)
        assert info.value.reason == reason
    assert r.stats()["rejected"] == 7


def test_forget_and_config_errors() -> None:
    r = Reassembler()
    r.push("a", split_frame(frame_of(1000), 300, MID)[0], 0)
    r.push("b", split_frame(frame_of(1000), 300, MID)[0], 0)
    assert r.forget("a") == 1
    assert r.forget("a") == 0
    assert r.stats()["pending"] == 1
    assert "Reassembler(" in repr(r)
    for kw in ("max_pending", "max_bytes", "timeout_ms", "max_message", "max_pending_per_peer"):
        with pytest.raises(InvalidArgumentError) as info:
            Reassembler(**{kw: 0})
        assert info.value.argument == kw
    with pytest.raises(InvalidArgumentError):
        r.push("p", b"", -1)
