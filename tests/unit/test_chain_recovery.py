"""A store failure in the middle of a reorganisation leaves the last committed chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from swarmmesh.chain.store import ChainStore
from tests.chainkit import ALICE, CAROL, MINER2, craft, open_chain, transfer


def test_a_failed_reorg_commit_rolls_back_and_reopening_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chain.db"
    tx = transfer(ALICE, CAROL, 100, 0)
    with open_chain(path) as chain:
        genesis = chain.tip
        a1 = craft(genesis, [tx])
        b1 = craft(genesis, producer=MINER2)
        b2 = craft(b1.header, producer=MINER2)
        assert chain.submit_block(a1).accepted
        assert chain.submit_block(b1).accepted
        before = (chain.tip, chain.state_hash(), chain.pending())

        def failing_set_tip(self: ChainStore, block_id: bytes) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(ChainStore, "set_tip", failing_set_tip)
        with pytest.raises(sqlite3.OperationalError):
            chain.submit_block(b2)
        monkeypatch.undo()
        # nothing of the reorganisation was written, and memory was reloaded from the store
        assert (chain.tip, chain.state_hash(), chain.pending()) == before
        assert chain.balance(CAROL.address) == 100
        assert chain.integrity_check() == []
    # b2 itself was stored before the failed switch: opening again completes it
    with open_chain(path) as chain:
        assert chain.tip == b2.header
        assert chain.balance(CAROL.address) == 0
        assert chain.pending() == [tx]
        assert chain.integrity_check() == []
        assert chain.reindex() == chain.state_hash()


def test_blocks_and_transactions_may_come_as_bytes() -> None:
    with open_chain() as chain:
        tx = transfer(ALICE, CAROL, 5, 0)
        assert chain.submit_tx(tx.to_bytes()).accepted
        block = chain.produce_block(MINER2)
        assert chain.submit_block(block.to_bytes()).accepted
        assert chain.tip == block.header
        assert chain.balance(CAROL.address) == 5
