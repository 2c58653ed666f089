"""The SQLite chain store with opaque blobs: schema, migrations, locking, atomicity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from swarmmesh.chain.store import MIGRATIONS, SCHEMA_VERSION, BlockRow, ChainStore
from swarmmesh.errors import StoreError, StoreLockedError


def row(i: int, parent: bytes, height: int, *, work: int = 1) -> BlockRow:
    return BlockRow(bytes([i]) * 32, parent, height, work, i, "valid", None, b"header%d" % i)


def init(store: ChainStore) -> bytes:
    genesis = row(0, b"\0" * 32, 0)
    with store.transaction():
        store.put_block(genesis, b"genesis")
        store.set_main(0, genesis.id)
        store.set_tip(genesis.id)
    return genesis.id


def test_new_store_is_at_the_current_schema(tmp_path: Path) -> None:
    store = ChainStore.open(tmp_path / "c.db")
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"schema_version", "meta", "blocks", "main_chain", "undo", "state", "pool"} <= tables
    conn.close()
    store.close()


def test_old_schema_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
    )
    conn.execute("INSERT INTO meta VALUES ('tip', x'01')")
    conn.commit()
    conn.close()
    store = ChainStore.open(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.tip() == b"\x01"
    names = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "blocks_by_parent" in names
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    ChainStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        ChainStore.open(path)
    ChainStore.open(path.with_name("other.db")).close()  # the lock was released


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="SQLite"):
        ChainStore.open(path)


def test_second_opener_gets_store_locked(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    first = ChainStore.open(path)
    with pytest.raises(StoreLockedError) as info:
        ChainStore.open(path)
    assert info.value.code == "store_locked"
    first.close()
    ChainStore.open(path).close()


def test_transaction_is_all_or_nothing() -> None:
    store = ChainStore.open(None)
    genesis = init(store)
    child = row(1, genesis, 1)

    def crash() -> None:
        with store.transaction():
            store.put_block(child, b"one")
            store.set_main(1, child.id)
            with store.transaction():  # nested: joins the outer transaction
                store.set_tip(child.id)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash()
    assert store.tip() == genesis
    assert store.block_data(child.id) is None
    assert store.main_ids() == [genesis]
    assert store.integrity_check() == []


def test_writes_outside_a_transaction_are_refused() -> None:
    store = ChainStore.open(None)
    with pytest.raises(StoreError, match="inside"):
        store.set_tip(b"x")


def test_blocks_state_undo_pool_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = ChainStore.open(path)
    genesis = init(store)
    child = row(1, genesis, 1, work=2**200)
    with store.transaction():
        store.put_block(child, b"content")
        store.put_undo(child.id, b"undo")
        store.set_main(1, child.id)
        store.set_tip(child.id)
        store.apply_state([(b"b", b"2"), (b"a", b"1"), (b"c", b"3")])
        store.apply_state([(b"c", None)])
        store.pool_put(b"t2", 2, b"tx2")
        store.pool_put(b"t1", 1, b"tx1")
    store.close()
    store = ChainStore.open(path)
    assert store.tip() == child.id
    assert store.block_data(child.id) == b"content"
    assert store.block_header(child.id) == b"header1"
    assert [r.work for r in store.block_rows()] == [1, 2**200]
    assert store.undo(child.id) == b"undo"
    assert store.state_entries() == [(b"a", b"1"), (b"b", b"2")]
    assert store.pool_rows() == [(b"t1", 1, b"tx1"), (b"t2", 2, b"tx2")]
    assert store.integrity_check() == []
    with store.transaction():
        store.mark_invalid([child.id], "bad-tx")
        store.pool_delete([b"t1"])
        store.replace_state([(b"z", b"9")])
    assert store.block_data(child.id) is None
    assert store.block_rows()[1].reason == "bad-tx"
    assert store.pool_rows() == [(b"t2", 2, b"tx2")]
    assert store.state_entries() == [(b"z", b"9")]
    assert store.max_block_seq() == 1
    store.close()
    assert store.closed
    store.close()


def test_integrity_check_finds_broken_invariants() -> None:
    store = ChainStore.open(None)
    assert store.integrity_check() == ["no tip recorded"]
    genesis = init(store)
    child = row(1, genesis, 1)
    stranger = row(2, b"\x07" * 32, 1)
    with store.transaction():
        store.put_block(child, b"c")
        store.put_block(stranger, b"s")
        store.set_main(1, child.id)
    problems = store.integrity_check()
    assert "the best chain does not end at the tip" in problems
    assert "best-chain block at height 1 has no undo record" in problems
    with store.transaction():
        store.put_undo(stranger.id, b"u")
        store.set_main(1, stranger.id)
        store.set_tip(stranger.id)
    assert store.integrity_check() == ["best-chain block at height 1 does not link to its parent"]
