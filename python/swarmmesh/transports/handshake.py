"""The link handshake: both ends prove their key by signing the other's fresh challenge.

Sans-I/O: :class:`Handshake` turns received bytes into bytes to send and, at the end, the
proven peer id; the transport moves the bytes. Every transport runs it on every new link
before reporting the link up, so no transport lets one peer pose as another.

Wire format (both ends send the same two messages; neither waits for the other to start)::

    HELLO = b"SMHS" | 0x01 | version u8 (1) | public key (32) | nonce (32) | len u8 | transport name
    PROOF = b"SMHS" | 0x02 | signature (64)

The proof signs ``b"swarmmesh/link/v1" | transport name | role | own key | peer key | own nonce |
peer nonce`` where ``role`` is ``0x00`` for the dialler and ``0x01`` for the listener. The
peer's nonce makes every proof fresh (no replay from an older link); the role byte stops a
proof from being reflected back; the transport name stops a proof made on one transport from
being used on another.
"""

from __future__ import annotations

import enum
import secrets
from typing import Final

from swarmmesh._core import address_of, verify
from swarmmesh.identity import Keypair
from swarmmesh.transports.base import HandshakeError

__all__ = ["HELLO_SIZE_MAX", "PROOF_SIZE", "Handshake", "HandshakeStep"]

_MAGIC: Final = b"SMHS"
_HELLO: Final = 0x01
_PROOF: Final = 0x02
_VERSION: Final = 1
_DOMAIN: Final = b"swarmmesh/link/v1"
#: Largest HELLO (a 255-byte transport name).
HELLO_SIZE_MAX: Final = 4 + 1 + 1 + 32 + 32 + 1 + 255
#: Size of a PROOF.
PROOF_SIZE: Final = 4 + 1 + 64


class HandshakeStep(enum.Enum):
    """Where a handshake is."""

    AWAIT_HELLO = "await_hello"
    AWAIT_PROOF = "await_proof"
    DONE = "done"
    FAILED = "failed"


class Handshake:
    """One end of a link handshake.

    ``dialler`` is ``True`` at the end that opened the link. ``expect`` is the peer id the
    dialler wants; a peer proving another key fails the handshake. Use: send :meth:`hello`
    at once; feed the peer's first message to :meth:`receive_hello` and send what it
    returns; feed the second to :meth:`receive_proof`, which returns the proven peer id.
    Any error raises :class:`~swarmmesh.transports.base.HandshakeError` and fails the
    handshake for good.
    """

    __slots__ = (
        "_dialler",
        "_expect",
        "_keypair",
        "_nonce",
        "_peer_key",
        "_peer_nonce",
        "_step",
        "_transport",
    )

    def __init__(self, keypair: Keypair, transport: str, *, dialler: bool, expect: str | None = None) -> None:
        """Start a handshake for ``keypair`` on the transport named ``transport``."""
        name = transport.encode()
        if not 1 <= len(name) <= 255:
            raise HandshakeError(transport, "transport name must be 1-255 bytes")
        self._keypair = keypair
        self._transport = transport
        self._dialler = dialler
        self._expect = expect
        self._nonce = secrets.token_bytes(32)
        self._peer_key = b""
        self._peer_nonce = b""
        self._step = HandshakeStep.AWAIT_HELLO

    @property
    def step(self) -> HandshakeStep:
        """Where the handshake is."""
        return self._step

    @property
    def peer_public_key(self) -> bytes:
        """The peer's public key (empty until its HELLO arrived)."""
        return self._peer_key

    def hello(self) -> bytes:
        """The HELLO to send first."""
        name = self._transport.encode()
        return b"".join(
            (
                _MAGIC,
                bytes((_HELLO, _VERSION)),
                self._keypair.public_key,
                self._nonce,
                bytes((len(name),)),
                name,
            )
        )

    def receive_hello(self, data: bytes) -> bytes:
        """Take the peer's HELLO; return the PROOF to send."""
        if self._step is not HandshakeStep.AWAIT_HELLO:
            self._fail("HELLO out of order")
        if len(data) > HELLO_SIZE_MAX or len(data) < 71 or data[:4] != _MAGIC or data[4] != _HELLO:
            self._fail("malformed HELLO")
        if data[5] != _VERSION:
            self._fail(f"unsupported handshake version {data[5]}")
        name_len = data[70]
        if len(data) != 71 + name_len or data[71:] != self._transport.encode():
            self._fail("HELLO names another transport")
        peer_key = bytes(data[6:38])
        if peer_key == self._keypair.public_key:
            self._fail("peer presented our own key")
        if self._expect is not None and address_of(peer_key) != self._expect:
            self._fail(f"peer is {address_of(peer_key)}, expected {self._expect}")
        self._peer_key = peer_key
        self._peer_nonce = bytes(data[38:70])
        self._step = HandshakeStep.AWAIT_PROOF
        own_role = 0 if self._dialler else 1
        return _MAGIC + bytes((_PROOF,)) + self._keypair.sign(self._transcript(own_role, mine=True))

    def receive_proof(self, data: bytes) -> str:
        """Take the peer's PROOF; return its proven peer id (address)."""
        if self._step is not HandshakeStep.AWAIT_PROOF:
            self._fail("PROOF out of order")
        if len(data) != PROOF_SIZE or data[:4] != _MAGIC or data[4] != _PROOF:
            self._fail("malformed PROOF")
        peer_role = 1 if self._dialler else 0
        if not verify(self._peer_key, self._transcript(peer_role, mine=False), data[5:]):
            self._fail("bad signature: the peer cannot prove its key")
        self._step = HandshakeStep.DONE
        return address_of(self._peer_key)

    def _transcript(self, role: int, *, mine: bool) -> bytes:
        own, peer = self._keypair.public_key, self._peer_key
        own_nonce, peer_nonce = self._nonce, self._peer_nonce
        if not mine:
            own, peer, own_nonce, peer_nonce = peer, own, peer_nonce, own_nonce
        name = self._transport.encode()
        return b"".join(
            (_DOMAIN, bytes((len(name),)), name, bytes((role,)), own, peer, own_nonce, peer_nonce)
        )

    def _fail(self, message: str) -> None:
        self._step = HandshakeStep.FAILED
        raise HandshakeError(self._transport, message)
