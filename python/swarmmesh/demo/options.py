"""``DemoOptions``: what ``swarmmesh demo`` runs, validated; and the transports it runs on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from swarmmesh.errors import ConfigError

__all__ = ["MEMORY_TRANSPORTS", "DemoOptions", "TransportProfile"]


@dataclass(frozen=True, slots=True)
class TransportProfile:
    """How one simulated transport behaves: its loss is ``loss_factor`` times the base loss."""

    name: str
    loss_factor: float
    latency_ms: float
    jitter_ms: float

    def loss(self, base: float) -> float:
        """The loss of this transport for base loss ``base`` (capped at 0.95)."""
        return min(0.95, base * self.loss_factor)


#: The three transports of the seed design, as the MemoryNetwork simulates them: the
#: integrated one is the best (least loss, lowest latency), PeerJS the worst.
MEMORY_TRANSPORTS: Final = (
    TransportProfile("integrated", 1.0, 2.0, 1.0),
    TransportProfile("gun", 10.0, 8.0, 4.0),
    TransportProfile("peerjs", 40.0, 20.0, 10.0),
)


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Parameters of a demo run (validated: a bad value raises ``ConfigError`` naming it).

    ``nodes``: meshes on the :class:`~swarmmesh.MemoryNetwork` (two WebSocket nodes come on
    top). ``duration_s``: seconds of traffic (at most 600: the ledger keeps every message
    id of the run, so the run's length is what bounds it). ``loss``: the base loss; each transport's is a
    multiple of it (:data:`MEMORY_TRANSPORTS`). ``seed``: seeds the keys, the topology, the
    network's draws and the traffic schedule. ``links``: random links each node opens.
    ``live``: redraw rich tables in place (``None``: when the output is a terminal).
    ``senders``: concurrent unicast streams (``None``: from the node count);
    ``send_interval_s`` / ``broadcast_interval_s``: the pause between one stream's sends and
    between broadcasts.
    """

    nodes: int = 24
    duration_s: float = 10.0
    loss: float = 0.01
    seed: int = 1
    links: int = 3
    live: bool | None = None
    senders: int | None = None
    send_interval_s: float = 0.02
    broadcast_interval_s: float = 0.1

    def __post_init__(self) -> None:
        _int("nodes", self.nodes, 3, 500)
        _int("links", self.links, 1, 16)
        _int("seed", self.seed, 0, 2**32 - 1)
        _number("duration_s", self.duration_s, 1.0, 600.0)
        _number("loss", self.loss, 0.0, 0.2)
        _number("send_interval_s", self.send_interval_s, 0.001, 10.0)
        _number("broadcast_interval_s", self.broadcast_interval_s, 0.001, 10.0)
        if self.senders is not None:
            _int("senders", self.senders, 1, 64)
        if self.live is not None and not isinstance(self.live, bool):
            raise ConfigError("live", f"must be None or a bool, got {self.live!r}")

    @property
    def sender_count(self) -> int:
        """The number of concurrent unicast streams."""
        return self.senders if self.senders is not None else max(2, min(12, self.nodes // 2))

    @property
    def kill_at_s(self) -> float:
        """When the best transport is killed (40 % into the run)."""
        return 0.4 * self.duration_s

    @property
    def revive_at_s(self) -> float:
        """When it is revived (70 % into the run)."""
        return 0.7 * self.duration_s


def _int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(name, f"must be an integer in [{lo}, {hi}], got {value!r}")


def _number(name: str, value: object, lo: float, hi: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ConfigError(name, f"must be a number in [{lo}, {hi}], got {value!r}")
