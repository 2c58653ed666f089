"""The demo's link graph: random links, joined components, hop distances. Pure functions."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["adjacency", "bfs_within", "build_topology", "diameter"]


def build_topology(labels: Sequence[str], links: int, rng: random.Random) -> list[tuple[str, str]]:
    """Undirected edges: each node links to ``links`` random others; then components are joined."""
    edges: set[tuple[str, str]] = set()
    for a in labels:
        others = [b for b in labels if b != a]
        for b in rng.sample(others, min(links, len(others))):
            edges.add((min(a, b), max(a, b)))
    while True:
        comps = _components(labels, edges)
        if len(comps) == 1:
            break
        a, b = rng.choice(comps[0]), rng.choice(comps[1])
        edges.add((min(a, b), max(a, b)))
    return sorted(edges)


def adjacency(labels: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """The neighbours of every node (every label is a key, even without links)."""
    adj: dict[str, set[str]] = {label: set() for label in labels}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return adj


def _components(labels: Sequence[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    adj = adjacency(labels, edges)
    seen: set[str] = set()
    comps: list[list[str]] = []
    for start in labels:
        if start in seen:
            continue
        comp = sorted(bfs_within(adj, start, len(labels)))
        seen.update(comp)
        comps.append(comp)
    return comps


def bfs_within(adj: Mapping[str, set[str]], start: str, hops: int) -> set[str]:
    """The nodes at most ``hops`` links from ``start`` (``start`` included)."""
    return set(_distances(adj, start, hops))


def diameter(adj: Mapping[str, set[str]]) -> int:
    """The largest hop distance between two connected nodes."""
    return max((max(_distances(adj, start, len(adj)).values()) for start in adj), default=0)


def _distances(adj: Mapping[str, set[str]], start: str, hops: int) -> dict[str, int]:
    dist = {start: 0}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        if dist[node] >= hops:
            continue
        for nxt in adj[node]:
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                todo.append(nxt)
    return dist
