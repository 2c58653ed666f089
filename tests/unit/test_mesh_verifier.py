"""EnvelopeVerifier and EnvelopeSigner: batches checked or signed on threads of the core that
never take the GIL, and wake the loop through a descriptor."""

from __future__ import annotations

import select
import sys
from typing import Any

import pytest

from swarmmesh import Envelope, Keypair
from swarmmesh.errors import InvalidArgumentError
from swarmmesh.mesh.envelope import verify_envelopes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the verifier thread is Unix only")

if sys.platform != "win32":
    from swarmmesh._core import EnvelopeSigner, EnvelopeVerifier, SigningKey


def _envelopes(n: int) -> list[Envelope]:
    kp, other = Keypair.from_seed(b"\x31" * 32), Keypair.from_seed(b"\x32" * 32)
    out = []
    for i in range(n):
        env = Envelope("broadcast", i.to_bytes(16, "big"), kp.public_key, "t", bytes([i % 256]) * 50)
        if i % 7 == 3:  # signed by someone else: invalid
            forged = other.sign(env.signing_bytes())
            env = Envelope("broadcast", env.message_id, kp.public_key, "t", env.payload, signature=forged)
        else:
            env = env.signed(kp)
        out.append(env)
    return out


def _wait(v: EnvelopeVerifier | EnvelopeSigner, jobs: int) -> list[tuple[int, list[Any]]]:
    got: list[tuple[int, list[Any]]] = []
    while len(got) < jobs:
        ready, _, _ = select.select([v.fileno()], [], [], 30.0)
        assert ready, "the verifier never woke the reader"
        got.extend(v.results())
    return got


def test_verdicts_equal_verify_envelopes_in_submission_order() -> None:
    envs = _envelopes(100)
    v = EnvelopeVerifier(threads=2, max_jobs=3)
    try:
        ids = [v.submit(envs[:40]), v.submit(envs[40:41]), v.submit(envs[41:])]
        assert ids == [0, 1, 2]
        assert v.pending == 3
        got = _wait(v, 3)
        assert [job for job, _ in got] == ids
        assert [ok for _, verdicts in got for ok in verdicts] == verify_envelopes(envs)
        assert v.pending == 0
        assert v.results() == []
    finally:
        v.close()


def test_max_jobs_bounds_what_is_pending() -> None:
    envs = _envelopes(8)
    v = EnvelopeVerifier(threads=1, max_jobs=1)
    try:
        assert v.submit(envs) == 0
        assert v.submit(envs) is None  # full: the caller verifies that batch itself
        _wait(v, 1)
        assert v.submit(envs) == 1
        _wait(v, 1)
    finally:
        v.close()


def test_an_empty_batch_and_close() -> None:
    v = EnvelopeVerifier()
    assert v.submit([]) == 0
    assert _wait(v, 1) == [(0, [])]
    v.close()
    v.close()  # idempotent
    with pytest.raises(InvalidArgumentError):
        v.submit(_envelopes(1))
    assert "closed=True" in repr(v)


@pytest.mark.parametrize("max_jobs", [0, -1, 1025])
def test_bad_arguments(max_jobs: int) -> None:
    with pytest.raises(InvalidArgumentError):
        EnvelopeVerifier(max_jobs=max_jobs)
    with pytest.raises(InvalidArgumentError):
        EnvelopeVerifier(threads=0)


def test_signer_frames_are_the_frames_of_signed_envelopes_in_order() -> None:
    kp = Keypair.from_seed(b"\x33" * 32)
    unsigned = [
        Envelope("broadcast", i.to_bytes(16, "big"), kp.public_key, "t", bytes([i]) * i, ttl=5)
        for i in range(100)
    ]
    for threads in (1, 2, 3):
        s = EnvelopeSigner(SigningKey(kp.seed()), threads=threads, max_jobs=2)
        try:
            ids = [s.submit(unsigned[:70]), s.submit(unsigned[70:])]
            frames = [f for job, batch in _wait(s, 2) for f in batch if job in ids]
            # Ed25519 is deterministic: the same bytes as signing on the loop.
            assert frames == [e.signed(kp).to_bytes() for e in unsigned]
            assert all(Envelope.from_bytes(f).verify() for f in frames)
        finally:
            s.close()


def test_signer_refuses_envelopes_of_another_origin() -> None:
    kp, other = Keypair.from_seed(b"\x34" * 32), Keypair.from_seed(b"\x35" * 32)
    s = EnvelopeSigner(SigningKey(kp.seed()), max_jobs=1)
    try:
        foreign = Envelope("broadcast", bytes(16), other.public_key, "t", b"x")
        with pytest.raises(InvalidArgumentError) as info:
            s.submit([foreign])
        assert info.value.argument == "key"
        mine = Envelope("broadcast", bytes(16), kp.public_key, "t", b"x")
        assert s.submit([mine]) == 0
        assert s.submit([mine]) is None  # max_jobs=1
        assert s.pending == 1
        _wait(s, 1)
    finally:
        s.close()
    with pytest.raises(InvalidArgumentError):
        s.submit([mine])
