"""EnvelopeVerifier: batches checked on a thread of the core that never takes the GIL."""

from __future__ import annotations

import select
import sys

import pytest

from swarmmesh import Envelope, Keypair
from swarmmesh.errors import InvalidArgumentError
from swarmmesh.mesh.envelope import verify_envelopes

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the verifier thread is Unix only")

if sys.platform != "win32":
    from swarmmesh._core import EnvelopeVerifier


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


def _wait(v: EnvelopeVerifier, jobs: int) -> list[tuple[int, list[bool]]]:
    got: list[tuple[int, list[bool]]] = []
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
