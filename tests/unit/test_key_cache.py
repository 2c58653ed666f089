"""The cache of decompressed public keys behind `verify` and `verify_batch`.

Verdicts must never depend on it (cold, off or warm give the same answers, checked against
pynacl as an independent oracle); it must count what it serves, keep only keys whose
signature verified, and stay within its bound.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

import swarmmesh
from swarmmesh import ArgumentTypeError, InvalidArgumentError, Keypair, key_cache_stats, reset_key_cache


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    reset_key_cache()
    yield
    reset_key_cache()


def pynacl(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(pk).verify(msg, sig)
    except BadSignatureError:
        return False
    return True


def cases() -> tuple[list[bytes], list[bytes], list[bytes]]:
    keys = [Keypair.from_seed(bytes([i]) * 32) for i in range(1, 9)]
    pks, msgs, sigs = [], [], []
    for n in range(40):
        k = keys[n % len(keys)]
        msg = f"message {n}".encode()
        sig = bytearray(k.sign(msg))
        if n % 7 == 3:
            sig[n % 64] ^= 0x10
        pks.append(k.public_key)
        msgs.append(msg)
        sigs.append(bytes(sig))
    return pks, msgs, sigs


@pytest.mark.parametrize("capacity", [0, 4, None])
def test_verdicts_are_the_same_cold_off_tiny_and_warm(capacity: int | None) -> None:
    pks, msgs, sigs = cases()
    want = [pynacl(*t) for t in zip(pks, msgs, sigs, strict=True)]
    assert not all(want)
    assert any(want)
    reset_key_cache(capacity)
    for _ in range(3):
        assert [swarmmesh.verify(*t) for t in zip(pks, msgs, sigs, strict=True)] == want
        assert swarmmesh.verify_batch(pks, msgs, sigs, threads=1) == want
        assert swarmmesh.verify_batch(pks, msgs, sigs, threads=2) == want
        assert key_cache_stats()["entries"] <= (capacity if capacity is not None else 16_384)


def test_hits_and_misses_are_counted_and_only_verified_keys_kept() -> None:
    k = Keypair.from_seed(b"\x42" * 32)
    sig = k.sign(b"m")
    assert not swarmmesh.verify(k.public_key, b"m", bytes(64))
    s = key_cache_stats()
    assert (s["entries"], s["hits"], s["misses"]) == (0, 0, 1)
    assert swarmmesh.verify(k.public_key, b"m", sig)
    assert key_cache_stats()["entries"] == 1
    assert swarmmesh.verify(k.public_key, b"m", sig)
    s = key_cache_stats()
    assert (s["entries"], s["hits"], s["misses"]) == (1, 1, 2)


def test_a_batch_caches_its_keys_once_it_verifies() -> None:
    keys = [Keypair.from_seed(bytes([i + 50]) * 32) for i in range(5)]
    msgs = [b"x%d" % i for i in range(5)]
    sigs = [k.sign(m) for k, m in zip(keys, msgs, strict=True)]
    pks = [k.public_key for k in keys]
    assert all(swarmmesh.verify_batch(pks, msgs, sigs, threads=1))
    assert key_cache_stats()["entries"] == 5
    assert all(swarmmesh.verify_batch(pks, msgs, sigs, threads=1))
    assert key_cache_stats()["hits"] >= 5


def test_reset_sets_the_bound_and_rejects_bad_values() -> None:
    reset_key_cache(2)
    assert key_cache_stats() == {"entries": 0, "capacity": 2, "hits": 0, "misses": 0}
    for i in range(10):
        k = Keypair.from_seed(bytes([i + 100]) * 32)
        assert swarmmesh.verify(k.public_key, b"z", k.sign(b"z"))
        assert key_cache_stats()["entries"] <= 2
    with pytest.raises(InvalidArgumentError) as e:
        reset_key_cache(-1)
    assert e.value.argument == "capacity"
    with pytest.raises(InvalidArgumentError):
        reset_key_cache(1 << 21)
    with pytest.raises(ArgumentTypeError):
        reset_key_cache("10")  # type: ignore[arg-type]
    assert key_cache_stats()["capacity"] == 2
