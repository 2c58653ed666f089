"""Side branches are bounded: blocks forking deeper than ``max_fork_depth`` are refused, and
branches that sink that deep as the tip advances are deleted from the index and the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmmesh import Block, BlockHeader, ChainConfig, ConfigError
from tests.chainkit import MINER2, craft, open_chain


def extend(parent: BlockHeader, n: int, **kw: object) -> list[Block]:
    out: list[Block] = []
    for _ in range(n):
        out.append(craft(parent, **kw))  # type: ignore[arg-type]
        parent = out[-1].header
    return out


def test_a_block_forking_deeper_than_the_limit_is_refused_and_not_stored() -> None:
    with open_chain(max_fork_depth=3) as chain:
        main = extend(chain.tip, 6)
        for b in main:
            assert chain.submit_block(b).accepted
        # Forks 3 below the tip (at height 3): still followed.
        shallow = craft(main[2].header, producer=MINER2)
        assert chain.submit_block(shallow).accepted
        assert chain.block(shallow.id) == shallow
        # Forks 4 below the tip (at height 2): refused, and nothing is kept.
        deep = craft(main[1].header, producer=MINER2)
        result = chain.submit_block(deep)
        assert (result.status, result.reason) == ("rejected", "fork-too-deep")
        assert chain.block(deep.id) is None
        # Refused is not invalid: a child waits as an orphan (its parent is unknown), not bad-prev.
        child = craft(deep.header, producer=MINER2)
        assert chain.submit_block(child).status == "orphan"
        assert chain.tip == main[-1].header
        assert chain.integrity_check() == []


def test_side_branches_are_pruned_once_the_tip_leaves_them_too_deep(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    with open_chain(path, max_fork_depth=2) as chain:
        main = extend(chain.tip, 3)
        for b in main:
            assert chain.submit_block(b).accepted
        side = extend(main[1].header, 1, producer=MINER2)  # forks at height 2, one below the tip
        assert chain.submit_block(side[0]).accepted
        assert chain.block(side[0].id) == side[0]
        more = extend(main[-1].header, 2)
        assert chain.submit_block(more[0]).accepted  # tip 4: the fork is 2 deep, kept
        assert chain.block(side[0].id) == side[0]
        assert chain.submit_block(more[1]).accepted  # tip 5: 3 deep, deleted
        assert chain.block(side[0].id) is None
        assert chain.block_at(5) == more[1]
        assert chain.integrity_check() == []
        state = chain.state_hash()
    with open_chain(path, max_fork_depth=2) as chain:
        assert chain.block(side[0].id) is None
        assert chain.tip == more[1].header
        assert chain.state_hash() == state
        assert chain.reindex() == state


def test_a_reorganisation_within_the_limit_still_happens() -> None:
    with open_chain(max_fork_depth=2) as chain:
        main = extend(chain.tip, 3)
        for b in main:
            assert chain.submit_block(b).accepted
        rival = extend(main[0].header, 3, producer=MINER2)  # forks 2 below the tip, ends longer
        for b in rival:
            assert chain.submit_block(b).accepted
        assert chain.tip == rival[-1].header
        assert chain.block_at(2) == rival[0]
        assert chain.integrity_check() == []


def test_reopening_prunes_what_a_smaller_limit_no_longer_follows(tmp_path: Path) -> None:
    path = tmp_path / "chain.db"
    with open_chain(path) as chain:  # the default limit (100) keeps everything here
        main = extend(chain.tip, 5)
        for b in main:
            assert chain.submit_block(b).accepted
        side = craft(main[0].header, producer=MINER2)
        assert chain.submit_block(side).accepted
    with open_chain(path, max_fork_depth=2) as chain:
        assert chain.block(side.id) is None
        assert chain.tip == main[-1].header
        assert chain.integrity_check() == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_max_fork_depth_is_validated(bad: object) -> None:
    with pytest.raises(ConfigError) as e:
        ChainConfig(max_fork_depth=bad)  # type: ignore[arg-type]
    assert e.value.field == "max_fork_depth"
