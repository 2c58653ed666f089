"""Configuration, close codes and address handling of the WebSocket transport.

Split from :mod:`swarmmesh.transports.websocket`, which holds the transport itself (links,
handshakes, reading and writing); nothing here touches a socket.
"""

from __future__ import annotations

import collections
import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from websockets.asyncio.connection import Connection

from swarmmesh.errors import ConfigError

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN: Final = 1013
#: Close code of the losing link of a duplicate pair (the peer keeps the other one).
CLOSE_DUPLICATE: Final = 4000
#: Largest frame the transport accepts as ``max_frame`` (the envelope payload limit).
MAX_FRAME_LIMIT: Final = 16 << 20
#: Peer codes after which a dialled link is not re-dialled: a deliberate close by the peer.
NO_REDIAL_CODES: Final = frozenset(
    {
        CLOSE_NORMAL,
        CLOSE_PROTOCOL_ERROR,
        CLOSE_UNSUPPORTED_DATA,
        CLOSE_POLICY,
        CLOSE_TOO_BIG,
        CLOSE_DUPLICATE,
    }
)

STAT_NAMES: Final = (
    "links_up",
    "links_down",
    "handshakes_ok",
    "handshake_failures",
    "rejected_capacity",
    "duplicates",
    "frames_in",
    "frames_out",
    "bytes_in",
    "bytes_out",
    "text_frames",
    "oversized_frames",
    "protocol_errors",
    "dial_failures",
    "reconnect_attempts",
    "reconnects",
    "handler_errors",
)


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """Options of :class:`WebSocketTransport` (validated; :class:`~swarmmesh.ConfigError` names the field).

    * ``max_frame``: largest frame, in bytes, either way (1024 .. 16 MiB; default 1 MiB).
      ``send`` refuses larger frames; a peer sending one loses its link (close 1009).
    * ``send_queue``: frames queued per link before ``send`` waits (bounded).
    * ``recv_queue``: frames buffered per link before the socket stops being read.
    * ``handshake_timeout_s``: the WebSocket upgrade and the link handshake must each finish in it.
    * ``ping_interval_s`` / ``ping_timeout_s``: keep-alive pings; a link whose pong is later than
      the timeout is closed (and re-dialled if we dialled it). ``None`` disables pings.
    * ``close_timeout_s``: how long a closing handshake may take before the socket is dropped.
    * ``reconnect``: re-dial dialled URLs whose links drop; delays grow from
      ``reconnect_base_s`` by doubling up to ``reconnect_max_s``, each spread by
      ``reconnect_jitter`` (a fraction: each delay is multiplied by ``1 ± jitter``).
    * ``max_links``: links up plus handshakes in progress; more are refused (close 1013).
    * ``max_pending_handshakes``: incoming connections still in their handshake; more are refused.
    * ``max_addresses``: peer URLs remembered for ``dial(peer_id)`` and re-dialling (oldest forgotten).
    * ``health_window_s``: a dial failure or lost link within this window makes health ``degraded``.
    """

    max_frame: int = 1 << 20
    send_queue: int = 256
    recv_queue: int = 16
    handshake_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    close_timeout_s: float = 5.0
    reconnect: bool = True
    reconnect_base_s: float = 0.5
    reconnect_max_s: float = 30.0
    reconnect_jitter: float = 0.2
    max_links: int = 1024
    max_pending_handshakes: int = 64
    max_addresses: int = 4096
    health_window_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1024 <= self.max_frame <= MAX_FRAME_LIMIT:
            raise ConfigError("max_frame", f"must be in [1024, {MAX_FRAME_LIMIT}], got {self.max_frame}")
        for field in ("send_queue", "recv_queue", "max_links", "max_pending_handshakes", "max_addresses"):
            value = getattr(self, field)
            if not 1 <= value <= 1_000_000:
                raise ConfigError(field, f"must be in [1, 1000000], got {value}")
        for field in ("handshake_timeout_s", "close_timeout_s", "reconnect_base_s", "health_window_s"):
            value = getattr(self, field)
            if not 0.0 < value <= 86_400.0:
                raise ConfigError(field, f"must be in (0, 86400] seconds, got {value}")
        for field in ("ping_interval_s", "ping_timeout_s"):
            value = getattr(self, field)
            if value is not None and not 0.0 < value <= 86_400.0:
                raise ConfigError(field, f"must be None or in (0, 86400] seconds, got {value}")
        if not self.reconnect_base_s <= self.reconnect_max_s <= 86_400.0:
            raise ConfigError(
                "reconnect_max_s",
                f"must be in [reconnect_base_s, 86400] seconds, got {self.reconnect_max_s}",
            )
        if not 0.0 <= self.reconnect_jitter < 1.0:
            raise ConfigError("reconnect_jitter", f"must be in [0, 1), got {self.reconnect_jitter}")


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """One link as :meth:`WebSocketTransport.link_info` sees it.

    ``dialled``: this end opened it; ``url``: the URL dialled (``None`` for an accepted
    link); ``queued``: frames waiting in its send queue.
    """

    peer_id: str
    dialled: bool
    url: str | None
    queued: int


def remember_bounded(book: collections.OrderedDict[str, str], key: str, value: str, limit: int) -> None:
    book[key] = value
    book.move_to_end(key)
    while len(book) > limit:
        book.popitem(last=False)


def remote_of(conn: Connection) -> str:
    try:
        address = conn.remote_address
    except (AttributeError, OSError):
        return "?"
    return str(address[0]) + ":" + str(address[1]) if isinstance(address, tuple) else str(address)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host:
        raise ConfigError("listen", f"expected host:port, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError("listen", f"port must be an integer, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError("listen", f"port must be in [0, 65535], got {port}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError("listen", f"not an IPv6 address: {host!r}") from None
    return host, port


def ws_url(address: str) -> str | None:
    """``address`` if it is a usable ``ws://`` URL, else ``None``."""
    if not isinstance(address, str) or len(address) > 2048:
        return None
    try:
        parts = urlsplit(address)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme != "ws" or not parts.hostname or parts.username or parts.password or parts.fragment:
        return None
    return address
