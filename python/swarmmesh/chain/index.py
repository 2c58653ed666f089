"""The fork-choice tree: every stored block's place, cumulative work and status.

:class:`BlockIndex` is pure bookkeeping (no I/O, no chain rules): it holds one
:class:`BlockNode` per stored block, knows the valid block with the most
cumulative work (ties go to the block seen first) and answers the questions a
reorganisation asks (fork point, the path to connect, the median time past).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, replace
from itertools import count

__all__ = ["BlockIndex", "BlockNode"]


@dataclass(frozen=True, slots=True)
class BlockNode:
    """One block in the tree.

    ``work`` is the *cumulative* work from genesis through this block; ``seq``
    the first-seen order; ``status`` is ``"valid"`` (stored, not known bad) or
    ``"invalid"`` (failed validation, or descends from a block that did).
    """

    id: bytes
    parent: bytes
    height: int
    work: int
    seq: int
    timestamp_ms: int
    status: str = "valid"
    reason: str | None = None

    def beats(self, other: BlockNode) -> bool:
        """Whether this block is a better tip than ``other`` (more work; tie: seen first)."""
        return self.work > other.work or (self.work == other.work and self.seq < other.seq)


class BlockIndex:
    """The tree of stored blocks, rooted at genesis.

    The best block is kept incrementally: a heap holds every valid block by
    (most work, first seen), and entries of blocks since invalidated or
    removed are dropped lazily when they reach the top, so an invalidation
    costs O(log n) amortised instead of a scan of every block. The heap is
    rebuilt when stale entries outnumber the blocks (it stays O(n)).
    """

    __slots__ = ("_best", "_children", "_heap", "_nodes", "_tiebreak")

    def __init__(self, genesis: BlockNode) -> None:
        """Start a tree holding only ``genesis``."""
        self._nodes: dict[bytes, BlockNode] = {genesis.id: genesis}
        self._children: dict[bytes, list[bytes]] = {}
        self._best = genesis
        self._tiebreak = count()
        self._heap: list[tuple[int, int, int, BlockNode]] = []
        self._push(genesis)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._nodes

    def get(self, block_id: bytes) -> BlockNode | None:
        """The node of ``block_id``."""
        return self._nodes.get(block_id)

    def node(self, block_id: bytes) -> BlockNode:
        """The node of ``block_id`` (``KeyError`` if unknown)."""
        return self._nodes[block_id]

    def add(self, node: BlockNode) -> None:
        """Insert a block whose parent is already in the tree."""
        if node.id in self._nodes:
            raise ValueError("block already indexed")
        parent = self._nodes.get(node.parent)
        if parent is None:
            raise ValueError("parent not indexed")
        if parent.status != "valid" and node.status == "valid":
            node = replace(node, status="invalid", reason=parent.reason)
        self._nodes[node.id] = node
        self._children.setdefault(node.parent, []).append(node.id)
        if node.status == "valid":
            self._push(node)
            if node.beats(self._best):
                self._best = node

    def best(self) -> BlockNode:
        """The valid block with the most cumulative work (tie: first seen)."""
        return self._best

    def children(self, block_id: bytes) -> list[bytes]:
        """The ids of the blocks whose parent is ``block_id``."""
        return list(self._children.get(block_id, ()))

    def invalidate(self, block_id: bytes, reason: str) -> list[bytes]:
        """Mark ``block_id`` and all its descendants invalid; return their ids."""
        marked: list[bytes] = []
        stack = [block_id]
        while stack:
            current = stack.pop()
            node = self._nodes[current]
            if node.status == "valid":
                self._nodes[current] = replace(node, status="invalid", reason=reason)
                marked.append(current)
            stack.extend(self._children.get(current, ()))
        if self._best.id in marked:
            self._recompute_best()
        return marked

    def remove(self, block_id: bytes) -> list[BlockNode]:
        """Take ``block_id`` and all its descendants out of the tree; return them, parents first.

        For a block that cannot be judged yet (the chain sends it back to a
        waiting buffer); the genesis block cannot be removed.
        """
        if block_id not in self._nodes or self._nodes[block_id].height == 0:
            raise ValueError("not a removable block")
        removed: list[BlockNode] = []
        queue = [block_id]
        for current in queue:  # the loop sees what it appends: breadth first
            removed.append(self._nodes.pop(current))
            queue.extend(self._children.pop(current, ()))
        siblings = self._children.get(removed[0].parent)
        if siblings is not None:
            siblings.remove(block_id)
            if not siblings:
                del self._children[removed[0].parent]
        if self._best.id not in self._nodes:
            self._recompute_best()
        return removed

    def _push(self, node: BlockNode) -> None:
        # The counter keeps tuple comparison from reaching the nodes (ids may come back).
        heapq.heappush(self._heap, (-node.work, node.seq, next(self._tiebreak), node))
        if len(self._heap) > 2 * len(self._nodes) + 64:
            live = [e for e in self._heap if self._nodes.get(e[3].id) is e[3]]
            heapq.heapify(live)
            self._heap = live

    def _recompute_best(self) -> None:
        """Drop stale heap entries (invalidated or removed blocks) until a valid block is on top."""
        while self._heap:
            node = self._heap[0][3]
            if self._nodes.get(node.id) is node:  # invalidation replaces the node object
                self._best = node
                return
            heapq.heappop(self._heap)
        raise ValueError("no valid block left")  # pragma: no cover - genesis is never invalidated

    def ancestor(self, block_id: bytes, height: int) -> BlockNode:
        """The ancestor of ``block_id`` at ``height`` (the block itself at its own height)."""
        node = self._nodes[block_id]
        if height > node.height or height < 0:
            raise ValueError("no ancestor at that height")
        while node.height > height:
            node = self._nodes[node.parent]
        return node

    def fork_point(self, a: bytes, b: bytes) -> BlockNode:
        """The last common ancestor of two blocks."""
        x, y = self._nodes[a], self._nodes[b]
        while x.height > y.height:
            x = self._nodes[x.parent]
        while y.height > x.height:
            y = self._nodes[y.parent]
        while x.id != y.id:
            x, y = self._nodes[x.parent], self._nodes[y.parent]
        return x

    def path(self, ancestor: bytes, descendant: bytes) -> list[BlockNode]:
        """The blocks after ``ancestor`` up to and including ``descendant``, oldest first."""
        out: list[BlockNode] = []
        node = self._nodes[descendant]
        while node.id != ancestor:
            out.append(node)
            if node.height == 0:
                raise ValueError("not an ancestor")
            node = self._nodes[node.parent]
        out.reverse()
        return out

    def median_time_past(self, block_id: bytes, span: int) -> int:
        """The median timestamp of ``block_id`` and up to ``span - 1`` of its ancestors."""
        stamps: list[int] = []
        node: BlockNode | None = self._nodes[block_id]
        while node is not None and len(stamps) < span:
            stamps.append(node.timestamp_ms)
            node = None if node.height == 0 else self._nodes[node.parent]
        stamps.sort()
        return stamps[len(stamps) // 2]

    def nodes(self) -> Iterable[BlockNode]:
        """Every node, in insertion order."""
        return self._nodes.values()
