"""The fork-choice tree and the orphan/deferred buffers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmmesh.chain.index import BlockIndex, BlockNode
from swarmmesh.chain.orphans import BlockBuffer
from swarmmesh.errors import ConfigError

Z = b"\0" * 32


def bid(name: str) -> bytes:
    return name.encode().ljust(32, b".")


def make_tree() -> tuple[BlockIndex, dict[str, BlockNode]]:
    g = BlockNode(bid("g"), Z, 0, 1, 0, 0)
    index = BlockIndex(g)
    nodes = {"g": g}
    seq = 1
    # g - a1 - a2 - a3      (work 1 each)
    #      \- b2 - b3       (b2 work 5)
    spec = [("a1", "g", 1), ("a2", "a1", 1), ("a3", "a2", 1), ("b2", "a1", 5), ("b3", "b2", 1)]
    for name, parent, work in spec:
        p = nodes[parent]
        node = BlockNode(bid(name), p.id, p.height + 1, p.work + work, seq, seq * 10)
        seq += 1
        index.add(node)
        nodes[name] = node
    return index, nodes


def test_most_work_wins_and_ties_go_to_the_first_seen() -> None:
    index, n = make_tree()
    assert index.best().id == n["b3"].id
    assert index.fork_point(n["a3"].id, n["b3"].id).id == n["a1"].id
    assert [x.id for x in index.path(n["a1"].id, n["b3"].id)] == [n["b2"].id, n["b3"].id]
    tie = BlockNode(bid("c3"), n["b2"].id, 3, n["b3"].work, 99, 0)
    index.add(tie)
    assert index.best().id == n["b3"].id
    assert index.children(n["b2"].id) == [n["b3"].id, tie.id]


def test_invalidating_a_subtree_falls_back_to_the_next_best() -> None:
    index, n = make_tree()
    marked = index.invalidate(n["b2"].id, "bad-tx")
    assert set(marked) == {n["b2"].id, n["b3"].id}
    assert index.best().id == n["a3"].id
    assert index.node(n["b3"].id).reason == "bad-tx"
    late = BlockNode(bid("b4"), n["b3"].id, 4, 100, 50, 0)
    index.add(late)  # a child of an invalid block is invalid
    assert index.node(late.id).status == "invalid"
    assert index.best().id == n["a3"].id
    assert index.invalidate(n["b2"].id, "x") == []


def test_ancestors_and_median_time_past() -> None:
    index, n = make_tree()
    assert index.ancestor(n["a3"].id, 1).id == n["a1"].id
    assert index.ancestor(n["a3"].id, 3).id == n["a3"].id
    with pytest.raises(ValueError, match="ancestor"):
        index.ancestor(n["a1"].id, 2)
    # timestamps: g 0, a1 10, a2 20, a3 30 -> median of the last 3 of a3 is 20
    assert index.median_time_past(n["a3"].id, 3) == 20
    assert index.median_time_past(n["a3"].id, 11) == 20  # 0, 10, 20, 30 -> upper middle
    assert index.median_time_past(n["g"].id, 11) == 0
    with pytest.raises(ValueError, match="parent"):
        index.add(BlockNode(bid("x"), bid("nope"), 1, 1, 100, 0))
    with pytest.raises(ValueError, match="already"):
        index.add(n["a1"])
    assert len(index) == 6
    assert bid("a2") in index


def test_buffer_is_bounded_by_count_and_age() -> None:
    buf: BlockBuffer[str] = BlockBuffer("orphan", max_count=3, max_age_ms=1000)
    assert buf.add(bid("1"), bid("p"), "one", 0)
    assert not buf.add(bid("1"), bid("p"), "again", 0)
    buf.add(bid("2"), bid("p"), "two", 10)
    buf.add(bid("3"), bid("q"), "three", 20)
    buf.add(bid("4"), bid("p"), "four", 30)  # evicts the oldest
    assert bid("1") not in buf
    assert len(buf) == 3
    assert buf.pop_children(bid("p")) == ["two", "four"]
    assert buf.pop_children(bid("p")) == []
    assert buf.expire(1020) == []
    assert buf.expire(1021) == [bid("3")]
    assert len(buf) == 0
    buf.add(bid("5"), bid("q"), "five", 2000)
    buf.add(bid("6"), bid("q"), "six", 2001)
    assert buf.items() == [(bid("5"), "five"), (bid("6"), "six")]
    assert buf.discard(bid("5"))
    assert not buf.discard(bid("5"))
    assert buf.pop_children(bid("q")) == ["six"]
    buf.add(bid("7"), bid("r"), "seven", 2002)
    assert buf.pop_all() == ["seven"]
    with pytest.raises(ConfigError):
        BlockBuffer("x", max_count=0, max_age_ms=1)
    with pytest.raises(ConfigError):
        BlockBuffer("x", max_count=1, max_age_ms=0)


def test_remove_takes_out_a_subtree_and_moves_the_best() -> None:
    index, n = make_tree()
    removed = index.remove(n["b2"].id)
    assert [x.id for x in removed] == [n["b2"].id, n["b3"].id]  # parents first
    assert n["b3"].id not in index
    assert len(index) == 4
    assert index.best().id == n["a3"].id
    assert index.children(n["a1"].id) == [n["a2"].id]
    index.add(n["b2"])  # the block can come back later
    assert index.best().id == n["b2"].id
    with pytest.raises(ValueError, match="not a removable block"):
        index.remove(n["g"].id)


def brute_best(index: BlockIndex) -> BlockNode:
    valid = [x for x in index.nodes() if x.status == "valid"]
    return max(valid, key=lambda x: (x.work, -x.seq))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "add", "add", "invalidate", "remove"]),
            st.integers(0, 10**6),
            st.integers(0, 3),
        ),
        max_size=60,
    )
)
def test_the_best_block_stays_right_under_any_adds_invalidations_and_removals(
    ops: list[tuple[str, int, int]],
) -> None:
    # The best block is kept incrementally (not by a scan of every block on each invalidation):
    # after every step it must equal the brute-force answer over the valid blocks.
    g = BlockNode(bid("g"), Z, 0, 1, 0, 0)
    index = BlockIndex(g)
    seq = 1
    removed: list[BlockNode] = []
    for op, pick, work in ops:
        ids = [x.id for x in index.nodes()]
        target = index.node(ids[pick % len(ids)])
        if op == "add":
            if removed and pick % 3 == 0 and removed[0].parent in index:
                back = removed.pop(0)  # a removed block comes back (seen anew)
                node = BlockNode(back.id, back.parent, back.height, back.work, seq, 0)
            else:
                node = BlockNode(bid(f"n{seq}"), target.id, target.height + 1, target.work + work, seq, 0)
            seq += 1
            index.add(node)
        elif op == "invalidate" and target.height > 0:
            index.invalidate(target.id, "bad")
        elif op == "remove" and target.height > 0:
            taken = index.remove(target.id)
            removed.extend(x for x in taken if x.id not in index)
            removed = removed[:1]
        assert index.best() == brute_best(index)
