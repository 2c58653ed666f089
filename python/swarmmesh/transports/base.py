"""The transport contract: what every transport (memory, WebSocket, WebRTC, Gun, PeerJS, ...) provides.

A transport moves opaque frames (``bytes``) between this node and authenticated peers. It
knows nothing of envelopes, routing, dedup or breakers: the :class:`~swarmmesh.Mesh` does
all of that above it. The contract, in short:

* **Explicit state** (:class:`TransportState`) and ``async start(handler)`` / ``async stop()``.
  ``start`` hands the transport the :class:`LinkHandler` it reports to; ``stop`` closes every
  link (each reported down) and cancels every task the transport owns.
* **Capabilities** (:class:`Capabilities`): reliable, ordered, the largest frame, relayed.
  The mesh chunks anything larger than ``max_frame``.
* **Links are authenticated.** A link is reported up (``on_link_up``) only after both ends
  proved their keys with the handshake of :mod:`swarmmesh.transports.handshake`, so the peer
  id a transport reports is the address of a key that signed this link's fresh challenge.
  When two links to one peer exist on one transport, both ends keep the link dialled by the
  peer whose public key sorts lower (:func:`keep_link_dialled_by`) and close the other.
* **"Unsupported" is an ordinary answer.** :meth:`Transport.supports` says whether the
  transport can reach a peer (or an address) at all; :meth:`Transport.dial` raises
  :class:`UnsupportedError` when it cannot, and the orchestrator moves on to the next
  transport. Other failures raise :class:`TransportError` subclasses.
* **Frames in** arrive through ``handler.on_frame(transport, peer_id, frame)``, a plain
  (synchronous, non-blocking) callback, in the order the link delivered them.
* **Frames out**: ``await send(peer_id, frame)`` returns once the transport has taken the
  frame (queued or written); it waits while the link's bounded queue is full, raises
  :class:`NotLinkedError` without a link and :class:`FrameTooLargeError` above ``max_frame``.
  Delivery is confirmed end to end by the mesh's acknowledgements, never by ``send``.
* **Health** (:class:`Health`): ``up``, ``degraded`` or ``down``, as the transport sees it;
  the mesh's health monitor adds what it measures.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from swarmmesh.errors import ConfigError, SwarmMeshError

__all__ = [
    "Capabilities",
    "FrameTooLargeError",
    "HandshakeError",
    "Health",
    "LinkHandler",
    "NotLinkedError",
    "Transport",
    "TransportError",
    "TransportState",
    "UnsupportedError",
    "keep_link_dialled_by",
]


class TransportError(SwarmMeshError):
    """A transport could not do what was asked. ``transport`` names it; ``code`` says why."""

    code: str
    transport: str

    def __init__(self, transport: str, message: str, *, code: str = "transport") -> None:
        super().__init__(f"[{transport}] {message}")
        self.transport = transport
        self.code = code


class UnsupportedError(TransportError):
    """The transport cannot reach this peer or address at all: try the next transport."""

    def __init__(self, transport: str, message: str) -> None:
        super().__init__(transport, message, code="unsupported")


class NotLinkedError(TransportError):
    """There is no (authenticated) link to the peer on this transport."""

    def __init__(self, transport: str, peer_id: str) -> None:
        super().__init__(transport, f"no link to {peer_id}", code="not_linked")
        self.peer_id = peer_id


class FrameTooLargeError(TransportError):
    """A frame exceeds the transport's ``max_frame``; the caller must chunk it."""

    def __init__(self, transport: str, size: int, limit: int) -> None:
        message = f"frame of {size} bytes exceeds max_frame {limit}"
        super().__init__(transport, message, code="frame_too_large")
        self.size = size
        self.limit = limit


class HandshakeError(TransportError):
    """A link's handshake failed: bad signature, wrong peer, malformed or late message."""

    def __init__(self, transport: str, message: str) -> None:
        super().__init__(transport, message, code="handshake")


class TransportState(enum.Enum):
    """Where a transport is in its life: ``NEW -> STARTING -> RUNNING -> STOPPING -> STOPPED``."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Health(enum.Enum):
    """How a transport judges itself (the mesh's monitor refines this per peer)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a transport guarantees.

    ``reliable``: frames are not lost while the link is up. ``ordered``: frames arrive in
    the order sent. ``max_frame``: the largest frame ``send`` takes, in bytes. ``relayed``:
    frames pass through a third party (a relay or signalling server) rather than directly.
    """

    reliable: bool
    ordered: bool
    max_frame: int
    relayed: bool

    def __post_init__(self) -> None:
        if self.max_frame < 1024:
            raise ConfigError("max_frame", f"must be at least 1024 bytes, got {self.max_frame}")


class LinkHandler(Protocol):
    """What a transport reports to (the mesh). Every method is synchronous and must not block."""

    def on_link_up(self, transport: str, peer_id: str) -> None:
        """An authenticated link to ``peer_id`` is up on ``transport``."""

    def on_link_down(self, transport: str, peer_id: str, reason: str) -> None:
        """The link to ``peer_id`` on ``transport`` is gone; ``reason`` says why."""

    def on_frame(self, transport: str, peer_id: str, frame: bytes) -> None:
        """A frame arrived from ``peer_id`` on ``transport``."""


@runtime_checkable
class Transport(Protocol):
    """A way to move frames between authenticated peers. See the module docstring."""

    @property
    def name(self) -> str:
        """The transport's name for routing (``"memory"``, ``"websocket"``, ``"gun"``, ...)."""

    @property
    def peer_id(self) -> str:
        """The peer id of this node (its keypair's address)."""

    @property
    def state(self) -> TransportState:
        """The transport's life-cycle state."""

    @property
    def capabilities(self) -> Capabilities:
        """What the transport guarantees."""

    @property
    def health(self) -> Health:
        """``up``, ``degraded`` or ``down``."""

    async def start(self, handler: LinkHandler) -> None:
        """Start (listen, connect to servers) and report links and frames to ``handler``."""

    async def stop(self) -> None:
        """Close every link (each reported down) and stop every task. Idempotent."""

    def supports(self, peer_id: str | None = None, *, address: str | None = None) -> bool:
        """Whether this transport could reach ``peer_id`` (or ``address``) at all."""

    async def dial(self, peer_id: str | None = None, *, address: str | None = None) -> str:
        """Open an authenticated link; return the peer id proven by the handshake.

        Returns at once if a link to ``peer_id`` is already up. Raises
        :class:`UnsupportedError` if the transport cannot reach the target,
        :class:`HandshakeError` if the peer cannot prove its key (or proves another
        key than ``peer_id``), and :class:`TransportError` for other failures.
        """

    def linked(self) -> frozenset[str]:
        """The peer ids with an authenticated link up now."""

    async def send(self, peer_id: str, frame: bytes) -> None:
        """Hand one frame to the link to ``peer_id`` (waits while its bounded queue is full)."""

    async def disconnect(self, peer_id: str, reason: str) -> None:
        """Close the link to ``peer_id`` (reported down with ``reason``). No-op without a link."""


def keep_link_dialled_by(local_public_key: bytes, remote_public_key: bytes) -> bool:
    """For a duplicate pair of links: ``True`` keeps the one *we* dialled.

    Both ends keep the link dialled by the peer whose public key sorts lower (bytewise),
    so both make the same choice without talking to each other.
    """
    return local_public_key < remote_public_key
