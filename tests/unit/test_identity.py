"""Keypair, signatures and addresses, checked against `cryptography` as an independent oracle."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

import swarmmesh
from swarmmesh import InvalidArgumentError, KeyFileError, Keypair
from swarmmesh._core import sha256


def _oracle_public(seed: bytes) -> bytes:
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=300))
def test_keys_and_signatures_match_cryptography(seed: bytes, msg: bytes) -> None:
    kp = Keypair.from_seed(seed)
    assert kp.public_key == _oracle_public(seed)
    sig = kp.sign(msg)
    # Ed25519 signing is deterministic: the oracle makes the same bytes.
    assert sig == Ed25519PrivateKey.from_private_bytes(seed).sign(msg)
    Ed25519PublicKey.from_public_bytes(kp.public_key).verify(sig, msg)
    assert swarmmesh.verify(kp.public_key, msg, sig)


def test_verify_rejects_tampering() -> None:
    kp = Keypair.from_seed(bytes(range(32)))
    sig = kp.sign(b"payload")
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert not swarmmesh.verify(kp.public_key, b"payload", bad)
    assert not swarmmesh.verify(kp.public_key, b"payloaD", sig)
    assert not swarmmesh.verify(Keypair.from_seed(bytes(32)).public_key, b"payload", sig)
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(kp.public_key).verify(bad, b"payload")


def test_verify_wrong_lengths_name_the_argument() -> None:
    kp = Keypair.generate()
    with pytest.raises(InvalidArgumentError) as e:
        swarmmesh.verify(kp.public_key[:31], b"x", bytes(64))
    assert e.value.argument == "public_key"
    with pytest.raises(InvalidArgumentError) as e:
        swarmmesh.verify(kp.public_key, b"x", bytes(63))
    assert e.value.argument == "signature"
    with pytest.raises(InvalidArgumentError) as e:
        Keypair.from_seed(b"short")
    assert e.value.argument == "seed"


@pytest.mark.parametrize("threads", [1, 2])
def test_verify_batch_marks_exactly_the_bad(threads: int) -> None:
    kps = [Keypair.from_seed(bytes([i]) * 32) for i in range(40)]
    msgs = [f"m{i}".encode() for i in range(200)]
    keys = [kps[i % 40].public_key for i in range(200)]
    sigs = [kps[i % 40].sign(m) for i, m in enumerate(msgs)]
    bad = {3, 77, 150}
    for b in bad:
        sigs[b] = bytes(64 - 1) + b"\x01"
    verdicts = swarmmesh.verify_batch(keys, msgs, sigs, threads=threads)
    assert verdicts == [i not in bad for i in range(200)]
    assert swarmmesh.verify_batch([], [], []) == []


def test_verify_batch_length_mismatch() -> None:
    with pytest.raises(InvalidArgumentError):
        swarmmesh.verify_batch([bytes(32)], [], [])
    with pytest.raises(InvalidArgumentError) as e:
        swarmmesh.verify_batch([], [], [], threads=0)
    assert e.value.argument == "threads"


def test_address_shape_round_trip_and_checksum() -> None:
    kp = Keypair.from_seed(bytes(32))
    a = kp.address
    assert a.startswith("sw1")
    assert len(a) == 61
    assert swarmmesh.public_key_of(a) == kp.public_key
    assert swarmmesh.address_of(kp.public_key) == a
    for i in range(3, 61):  # every single-character substitution is caught
        c = "q" if a[i] != "q" else "p"
        with pytest.raises(InvalidArgumentError):
            swarmmesh.public_key_of(a[:i] + c + a[i + 1 :])
    with pytest.raises(InvalidArgumentError):
        swarmmesh.public_key_of(a.upper())


def test_sha256_matches_hashlib() -> None:
    import hashlib

    for data in (b"", b"abc", os.urandom(1000)):
        assert sha256(data) == hashlib.sha256(data).digest()


def test_keypair_value_semantics() -> None:
    a = Keypair.from_seed(bytes(32))
    b = Keypair.from_seed(bytes(32))
    assert a == b
    assert hash(a) == hash(b)
    assert a != Keypair.generate()
    assert a.address in repr(a)
    assert a.seed().hex() not in repr(a)
    with pytest.raises(TypeError):
        pickle.dumps(a)


def test_generate_is_random() -> None:
    assert len({Keypair.generate().public_key for _ in range(20)}) == 20


def test_save_load_round_trip_mode_0600(tmp_path: Path) -> None:
    kp = Keypair.generate()
    path = tmp_path / "node.key"
    kp.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Keypair.load(path)
    assert loaded == kp
    assert loaded.sign(b"x") == kp.sign(b"x")
    kp2 = Keypair.generate()
    kp2.save(path)  # overwrite atomically
    assert Keypair.load(path) == kp2
    assert [p.name for p in tmp_path.iterdir()] == ["node.key"]


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640, 0o660])
def test_load_refuses_open_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    Keypair.generate().save(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as e:
        Keypair.load(path)
    assert "too open" in str(e.value)
    assert e.value.path == str(path)
    assert isinstance(e.value, swarmmesh.SwarmMeshError)


def test_load_refuses_corrupt_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "k"
    kp = Keypair.generate()
    kp.save(path)
    text = path.read_text().replace(kp.address, Keypair.generate().address)
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="does not match"):
        Keypair.load(path)
    path.write_bytes(b"{not json")
    with pytest.raises(KeyFileError, match="malformed"):
        Keypair.load(path)
    path.write_bytes(b"x" * 10000)
    with pytest.raises(KeyFileError, match="larger"):
        Keypair.load(path)
    with pytest.raises(KeyFileError, match="cannot open"):
        Keypair.load(tmp_path / "missing")
    with pytest.raises(KeyFileError, match="regular"):
        Keypair.load(tmp_path)
