"""The demo's swarm: keys, topology, meshes on a MemoryNetwork, and two WebSocket nodes.

Node ``n00`` ... ``n{N-1}`` run the three simulated transports of
:data:`~swarmmesh.demo.options.MEMORY_TRANSPORTS` on one :class:`~swarmmesh.MemoryNetwork`.
``ws-a`` runs them too plus a real :class:`~swarmmesh.WebSocketTransport` listening on
127.0.0.1 (port 0); ``ws-b`` runs only a WebSocketTransport and dials ``ws-a``. So
gossip crosses from simulated links to a real socket and back through ``ws-a``.

Every node opens ``links`` links to random others (seeded); components left apart are
joined by one more random link each, so the link graph is connected.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from dataclasses import dataclass

from swarmmesh import Keypair, MemoryNetwork, Mesh, MeshConfig, WebSocketTransport
from swarmmesh.clock import Clock
from swarmmesh.demo.options import MEMORY_TRANSPORTS, DemoOptions
from swarmmesh.demo.topology import adjacency, bfs_within, build_topology, diameter
from swarmmesh.mesh.health import HealthConfig
from swarmmesh.mesh.resilience import ResilienceConfig
from swarmmesh.transports.base import Transport, TransportError

__all__ = ["WS_TRANSPORT", "Node", "Swarm", "demo_config", "keypair_for"]

#: The routing name of the WebSocket transport.
WS_TRANSPORT = "websocket"


@dataclass(slots=True)
class Node:
    """One mesh of the swarm and what the scenario needs to know about it."""

    label: str
    keypair: Keypair
    mesh: Mesh
    #: the transport names this node runs
    transports: tuple[str, ...]

    @property
    def peer_id(self) -> str:
        """The node's peer id."""
        return self.keypair.address


def keypair_for(seed: int, label: str) -> Keypair:
    """The deterministic keypair of node ``label`` in a run seeded ``seed``."""
    return Keypair.from_seed(hashlib.sha256(f"swarmmesh-demo:{seed}:{label}".encode()).digest())


def demo_config(seed: int, ttl: int) -> MeshConfig:
    """The mesh settings of the demo: short timeouts and fast breakers, so a 10 s run shows them."""
    return MeshConfig(
        send_timeout_s=2.0,
        attempt_timeout_s=0.5,
        dial_timeout_s=0.5,
        send_wait_s=1.0,
        broadcast_ttl=ttl,
        maintenance_interval_s=0.25,
        priors={WS_TRANSPORT: 0.9},
        seed=seed,
        resilience=ResilienceConfig(
            failure_threshold=3,
            base_open_s=0.4,
            max_open_s=2.0,
            recovery_interval_s=0.5,
            probe_timeout_s=0.5,
        ),
        health=HealthConfig(interval_s=1.0, timeout_s=0.5),
    )


class Swarm:
    """Builds, links and stops the demo's meshes (an async context manager)."""

    def __init__(self, options: DemoOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self.rng = random.Random(options.seed)
        self.network = MemoryNetwork(seed=options.seed, clock=clock)
        base = options.loss
        for p in MEMORY_TRANSPORTS:
            self.network.set_conditions(
                p.name, loss=p.loss(base), latency_ms=p.latency_ms, jitter_ms=p.jitter_ms
            )
        memory_labels = [f"n{i:02d}" for i in range(options.nodes)] + ["ws-a"]
        #: links on the memory transports (every one of them), and the one WebSocket link
        self.memory_edges = build_topology(memory_labels, options.links, self.rng)
        self.ws_edge = ("ws-a", "ws-b")
        self.labels = [*memory_labels, "ws-b"]
        self.adjacency = adjacency(self.labels, [*self.memory_edges, self.ws_edge])
        self.ttl = max(8, min(255, diameter(self.adjacency) + 1))
        self.nodes: dict[str, Node] = {}
        self.by_peer: dict[str, str] = {}
        self._stack = contextlib.AsyncExitStack()
        self._ws_a: WebSocketTransport | None = None

    @property
    def memory_names(self) -> tuple[str, ...]:
        """The simulated transports."""
        return tuple(p.name for p in MEMORY_TRANSPORTS)

    @property
    def transport_names(self) -> tuple[str, ...]:
        """Every transport of the run."""
        return (*self.memory_names, WS_TRANSPORT)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every link of the run (the WebSocket one last)."""
        return [*self.memory_edges, self.ws_edge]

    def directed_links(self) -> list[tuple[str, str, str]]:
        """``(node, peer, transport)`` for both directions of every link, on each of its transports."""
        out: list[tuple[str, str, str]] = []
        for a, b in self.memory_edges:
            out.extend((x, y, t) for x, y in ((a, b), (b, a)) for t in self.memory_names)
        a, b = self.ws_edge
        out.extend([(a, b, WS_TRANSPORT), (b, a, WS_TRANSPORT)])
        return out

    def reachable(self, label: str) -> set[str]:
        """The peer ids a broadcast from ``label`` should reach (within the TTL)."""
        return {self.nodes[x].peer_id for x in bfs_within(self.adjacency, label, self.ttl)}

    async def __aenter__(self) -> Swarm:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        for i, label in enumerate(self.labels):
            kp = keypair_for(self.options.seed, label)
            transports: list[Transport] = []
            if label != "ws-b":
                transports.extend(self.network.transport(name, kp) for name in self.memory_names)
            ws: WebSocketTransport | None = None
            if label in self.ws_edge:
                ws = WebSocketTransport(kp, listen="127.0.0.1:0" if label == "ws-a" else None)
                transports.append(ws)
            config = demo_config(self.options.seed * 1000 + i, self.ttl)
            mesh = Mesh(kp, transports, config=config, clock=self.clock)
            await self._stack.enter_async_context(mesh)
            if label == "ws-a":
                self._ws_a = ws
            self.nodes[label] = Node(label, kp, mesh, tuple(t.name for t in transports))
            self.by_peer[kp.address] = label

    async def link(self) -> None:
        """Open every link of the topology (handshakes included)."""
        for a, b in self.memory_edges:
            await self.nodes[a].mesh.connect(self.nodes[b].peer_id)
        url = self._ws_a.listen_url if self._ws_a is not None else None
        if url is None:
            raise TransportError(WS_TRANSPORT, "ws-a is not listening", code="state")
        await self.nodes["ws-b"].mesh.connect(address=url)

    def label(self, peer_id: str | None) -> str:
        """The label of a peer id (or the id shortened)."""
        if peer_id is None:
            return "?"
        return self.by_peer.get(peer_id, peer_id[:10])
