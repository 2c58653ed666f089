"""The link handshake: mutual proof of keys, rejection of impostors, replays and reflections."""

from __future__ import annotations

import pytest

from swarmmesh import Keypair
from swarmmesh.transports.base import HandshakeError
from swarmmesh.transports.handshake import Handshake, HandshakeStep


def _pair(a: Keypair, b: Keypair, transport: str = "memory") -> tuple[Handshake, Handshake]:
    return Handshake(a, transport, dialler=True, expect=b.address), Handshake(b, transport, dialler=False)


def test_both_ends_learn_the_other() -> None:
    a, b = Keypair.generate(), Keypair.generate()
    ha, hb = _pair(a, b)
    pa = ha.receive_hello(hb.hello())
    pb = hb.receive_hello(ha.hello())
    assert ha.receive_proof(pb) == b.address
    assert hb.receive_proof(pa) == a.address
    assert ha.step is hb.step is HandshakeStep.DONE


def test_impostor_claiming_a_key_without_the_secret_fails() -> None:
    a, b, mallory = Keypair.generate(), Keypair.generate(), Keypair.generate()
    ha = Handshake(a, "memory", dialler=True)
    # Mallory sends b's public key in its HELLO but can only sign with its own key.
    hm = Handshake(mallory, "memory", dialler=False)
    hello = bytearray(hm.hello())
    hello[6:38] = b.public_key
    ha.receive_hello(bytes(hello))
    proof = hm.receive_hello(ha.hello())
    with pytest.raises(HandshakeError, match="bad signature"):
        ha.receive_proof(proof)
    assert ha.step is HandshakeStep.FAILED


def test_expected_peer_mismatch_fails() -> None:
    a, b, c = Keypair.generate(), Keypair.generate(), Keypair.generate()
    ha = Handshake(a, "memory", dialler=True, expect=c.address)
    with pytest.raises(HandshakeError, match="expected"):
        ha.receive_hello(Handshake(b, "memory", dialler=False).hello())


def test_replayed_proof_from_an_older_link_fails() -> None:
    a, b = Keypair.generate(), Keypair.generate()
    ha, hb = _pair(a, b)
    ha.receive_hello(hb.hello())
    old_proof = hb.receive_hello(ha.hello())
    ha.receive_proof(old_proof)
    # A new link: fresh nonces, so the old proof does not verify.
    ha2, hb2 = _pair(a, b)
    ha2.receive_hello(hb2.hello())
    with pytest.raises(HandshakeError):
        ha2.receive_proof(old_proof)


def test_reflected_proof_fails() -> None:
    a, b = Keypair.generate(), Keypair.generate()
    ha, hb = _pair(a, b)
    own_proof = ha.receive_hello(hb.hello())
    with pytest.raises(HandshakeError):
        ha.receive_proof(own_proof)


def test_proof_from_another_transport_fails() -> None:
    a, b = Keypair.generate(), Keypair.generate()
    ha = Handshake(a, "gun", dialler=True)
    hb = Handshake(b, "peerjs", dialler=False)
    with pytest.raises(HandshakeError, match="another transport"):
        ha.receive_hello(hb.hello())


@pytest.mark.parametrize(
    "bad",
    [b"", b"SMHS", b"XXXX" + bytes(80), b"SMHS\x02" + bytes(66), b"SMHS\x01\x09" + bytes(70), bytes(400)],
)
def test_malformed_hello_fails_cleanly(bad: bytes) -> None:
    h = Handshake(Keypair.generate(), "memory", dialler=True)
    with pytest.raises(HandshakeError):
        h.receive_hello(bad)
    with pytest.raises(HandshakeError, match="out of order"):
        h.receive_hello(bad)


def test_out_of_order_and_own_key() -> None:
    a = Keypair.generate()
    h = Handshake(a, "memory", dialler=True)
    with pytest.raises(HandshakeError, match="out of order"):
        h.receive_proof(b"SMHS\x02" + bytes(64))
    h2 = Handshake(a, "memory", dialler=True)
    with pytest.raises(HandshakeError, match="own key"):
        h2.receive_hello(Handshake(a, "memory", dialler=False).hello())
