"""The chain's SQLite store: blocks, undo data, ledger state, best chain and pool.

The store knows nothing about the chain rules: blocks, headers, undo records,
state entries and pool transactions are opaque byte strings that
:class:`~swarmmesh.chain.chain.Chain` encodes and decodes. What it guarantees:

* **Atomicity.** Every mutation runs inside :meth:`ChainStore.transaction`, one
  SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); connecting a block,
  disconnecting one, or a whole reorganisation is one such transaction, so a
  crash at any instant leaves the last committed state.
* **Durability.** WAL journal with ``synchronous=FULL``: a committed
  transaction survives power loss, not only a process crash. (``NORMAL`` with
  WAL would be crash-safe too but could lose the last commits on power loss,
  and a node must never lose an accepted transaction.)
* **One process at a time.** An exclusive ``flock`` on a sidecar
  ``<path>.lock`` file, taken without blocking: a second opener gets
  :class:`~swarmmesh.errors.StoreLockedError`.
* **Versioned schema.** ``schema_version`` holds the version; :data:`MIGRATIONS`
  upgrades older files in order, a newer file is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from swarmmesh.errors import StoreError, StoreLockedError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "BlockRow", "ChainStore"]

log = logging.getLogger(__name__)

#: Migrations in order: ``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1: the base tables.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE blocks (
        id BLOB PRIMARY KEY,
        parent BLOB NOT NULL,
        height INTEGER NOT NULL CHECK (height >= 0),
        work BLOB NOT NULL,            -- cumulative work, 32 bytes big-endian
        seq INTEGER NOT NULL UNIQUE,   -- first-seen order (fork-choice tie break)
        status TEXT NOT NULL CHECK (status IN ('valid', 'invalid')),
        reason TEXT,                   -- why an invalid block is invalid
        header BLOB NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE main_chain (height INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);
    CREATE TABLE undo (id BLOB PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE state (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE pool (id BLOB PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, data BLOB NOT NULL);
    """,
    # 1 -> 2: children lookups (orphan resolution, invalidating a subtree) by parent.
    """
    CREATE INDEX blocks_by_parent ON blocks (parent);
    """,
)
#: The schema version this code writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)

_WORK_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class BlockRow:
    """One stored block without its content: what the fork-choice index loads at open."""

    id: bytes
    parent: bytes
    height: int
    work: int
    seq: int
    status: str
    reason: str | None
    header: bytes


def _work_bytes(work: int) -> bytes:
    return work.to_bytes(_WORK_BYTES, "big")


class ChainStore:
    """A chain store in one SQLite file (or in memory); open with :meth:`open`."""

    __slots__ = ("_conn", "_depth", "_lock_fd", "_path")

    def __init__(self, conn: sqlite3.Connection, path: Path | None, lock_fd: int | None) -> None:
        """Wrap an open connection (use :meth:`open`)."""
        self._conn = conn
        self._path = path
        self._lock_fd = lock_fd
        self._depth = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None) -> ChainStore:
        """Open (creating if needed) the store at ``path``; ``None`` for an in-memory store.

        Raises :class:`~swarmmesh.errors.StoreLockedError` if another process
        (or another open store in this process) holds the file, and
        :class:`~swarmmesh.errors.StoreError` if the file is not a store this
        version can read.
        """
        if path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            store = cls(conn, None, None)
        else:
            target = Path(path)
            lock_fd = _lock(target)
            try:
                conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
                store = cls(conn, target, lock_fd)
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(str(target), f"cannot switch to WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as exc:
                os.close(lock_fd)
                raise StoreError(str(target), f"not a readable SQLite store: {exc}") from exc
            except BaseException:
                os.close(lock_fd)
                raise
        try:
            store._conn.execute("PRAGMA foreign_keys=ON")
            store._migrate()
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StoreError(str(path), f"not a readable SQLite store: {exc}") from exc
        except BaseException:
            store.close()
            raise
        return store

    @property
    def path(self) -> Path | None:
        """The database file, or ``None`` in memory."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._depth < 0

    def close(self) -> None:
        """Close the database and release the lock (idempotent)."""
        if self._depth < 0:
            return
        self._depth = -1
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- schema ---------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The version of the file's schema (0 for a new file)."""
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if exists is None:
            return 0
        row = self._conn.execute("SELECT version FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])

    def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        with self.transaction():
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    str(self._path),
                    f"schema version {version} is newer than this swarmmesh ({SCHEMA_VERSION})",
                )
            for step in range(version, target):
                log.info("chain store %s: migrating schema %d -> %d", self._path, step, step + 1)
                for statement in _statements(MIGRATIONS[step]):
                    self._conn.execute(statement)
            if version < target:
                self._conn.execute("DELETE FROM schema_version")
                self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))

    # -- transactions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction; nested uses join the outermost one.

        Commits when the outermost block exits normally and rolls back if it
        raises, so everything written inside is all-or-nothing.
        """
        if self._depth < 0:
            raise StoreError(str(self._path), "the store is closed")
        if self._depth > 0:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    def _write(self) -> sqlite3.Connection:
        if self._depth <= 0:
            raise StoreError(str(self._path), "writes must run inside ChainStore.transaction()")
        return self._conn

    # -- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        """The metadata value under ``key``."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        """Set the metadata value under ``key``."""
        self._write().execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def tip(self) -> bytes | None:
        """The id of the best block (``None`` before initialisation)."""
        return self.get_meta("tip")

    def set_tip(self, block_id: bytes) -> None:
        """Record the id of the best block."""
        self.set_meta("tip", block_id)

    # -- blocks ---------------------------------------------------------------------------------

    def put_block(self, row: BlockRow, data: bytes) -> None:
        """Store a block (its row and full content)."""
        self._write().execute(
            "INSERT INTO blocks (id, parent, height, work, seq, status, reason, header, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.id,
                row.parent,
                row.height,
                _work_bytes(row.work),
                row.seq,
                row.status,
                row.reason,
                row.header,
                data,
            ),
        )

    def mark_invalid(self, block_ids: Iterable[bytes], reason: str) -> None:
        """Mark blocks invalid with ``reason`` (their content is dropped)."""
        self._write().executemany(
            "UPDATE blocks SET status = 'invalid', reason = ?, data = x'' WHERE id = ?",
            [(reason, block_id) for block_id in block_ids],
        )

    def delete_blocks(self, block_ids: Iterable[bytes]) -> None:
        """Forget stored blocks (never on the best chain) so that they can be submitted again."""
        self._write().executemany("DELETE FROM blocks WHERE id = ?", [(i,) for i in block_ids])

    def block_data(self, block_id: bytes) -> bytes | None:
        """The content of a stored valid block."""
        row = self._conn.execute(
            "SELECT data FROM blocks WHERE id = ? AND status = 'valid'", (block_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def block_header(self, block_id: bytes) -> bytes | None:
        """The header bytes of a stored block."""
        row = self._conn.execute("SELECT header FROM blocks WHERE id = ?", (block_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def block_rows(self) -> list[BlockRow]:
        """Every stored block's row, in first-seen order."""
        return [
            BlockRow(
                bytes(r[0]),
                bytes(r[1]),
                int(r[2]),
                int.from_bytes(r[3], "big"),
                int(r[4]),
                str(r[5]),
                None if r[6] is None else str(r[6]),
                bytes(r[7]),
            )
            for r in self._conn.execute(
                "SELECT id, parent, height, work, seq, status, reason, header FROM blocks ORDER BY seq"
            )
        ]

    def max_block_seq(self) -> int:
        """The largest first-seen sequence number stored (-1 when empty)."""
        row = self._conn.execute("SELECT MAX(seq) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    # -- main chain -----------------------------------------------------------------------------

    def main_id(self, height: int) -> bytes | None:
        """The id of the best-chain block at ``height``."""
        row = self._conn.execute("SELECT id FROM main_chain WHERE height = ?", (height,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_main(self, height: int, block_id: bytes) -> None:
        """Record ``block_id`` as the best-chain block at ``height``."""
        self._write().execute(
            "INSERT OR REPLACE INTO main_chain (height, id) VALUES (?, ?)", (height, block_id)
        )

    def truncate_main(self, from_height: int) -> None:
        """Forget the best-chain entries at ``from_height`` and above."""
        self._write().execute("DELETE FROM main_chain WHERE height >= ?", (from_height,))

    def main_ids(self) -> list[bytes]:
        """The best chain's ids from genesis to tip."""
        return [bytes(r[0]) for r in self._conn.execute("SELECT id FROM main_chain ORDER BY height")]

    # -- undo -----------------------------------------------------------------------------------

    def put_undo(self, block_id: bytes, data: bytes) -> None:
        """Store the undo record of a connected block."""
        self._write().execute("INSERT OR REPLACE INTO undo (id, data) VALUES (?, ?)", (block_id, data))

    def undo(self, block_id: bytes) -> bytes | None:
        """The undo record of a connected block."""
        row = self._conn.execute("SELECT data FROM undo WHERE id = ?", (block_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete_undo(self, block_id: bytes) -> None:
        """Drop the undo record of a disconnected block."""
        self._write().execute("DELETE FROM undo WHERE id = ?", (block_id,))

    # -- state ----------------------------------------------------------------------------------

    def apply_state(self, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply ledger changes: set each key to its value, or delete it when ``None``."""
        conn = self._write()
        for key, value in changes:
            if value is None:
                conn.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))

    def replace_state(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Replace the whole ledger state with ``entries``."""
        conn = self._write()
        conn.execute("DELETE FROM state")
        conn.executemany("INSERT INTO state (key, value) VALUES (?, ?)", entries)

    def state_entries(self) -> list[tuple[bytes, bytes]]:
        """The ledger state, sorted by key."""
        return [
            (bytes(k), bytes(v)) for k, v in self._conn.execute("SELECT key, value FROM state ORDER BY key")
        ]

    # -- pool -----------------------------------------------------------------------------------

    def pool_put(self, tx_id: bytes, seq: int, data: bytes) -> None:
        """Persist a pending transaction."""
        self._write().execute(
            "INSERT OR REPLACE INTO pool (id, seq, data) VALUES (?, ?, ?)", (tx_id, seq, data)
        )

    def pool_delete(self, tx_ids: Iterable[bytes]) -> None:
        """Forget pending transactions."""
        self._write().executemany("DELETE FROM pool WHERE id = ?", [(i,) for i in tx_ids])

    def pool_rows(self) -> list[tuple[bytes, int, bytes]]:
        """The persisted pool as ``(id, seq, data)``, in arrival order."""
        return [
            (bytes(i), int(s), bytes(d))
            for i, s, d in self._conn.execute("SELECT id, seq, data FROM pool ORDER BY seq")
        ]

    # -- checks ---------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found in the file (an empty list when it is sound).

        Runs SQLite's ``PRAGMA integrity_check`` and checks the store's own
        invariants: a tip that is a valid stored block, a best chain numbered
        0..tip without gaps whose blocks link parent to child, and an undo
        record for every best-chain block above genesis.
        """
        problems = [
            str(r[0]) for r in self._conn.execute("PRAGMA integrity_check") if str(r[0]).lower() != "ok"
        ]
        if problems:
            return problems
        tip = self.tip()
        if tip is None:
            return ["no tip recorded"]
        rows = {r.id: r for r in self.block_rows()}
        main = list(self._conn.execute("SELECT height, id FROM main_chain ORDER BY height"))
        if not main or bytes(main[-1][1]) != tip:
            problems.append("the best chain does not end at the tip")
        previous: bytes | None = None
        for expected, (height, raw_id) in enumerate(main):
            block_id = bytes(raw_id)
            row = rows.get(block_id)
            if height != expected:
                problems.append(f"best chain has a gap at height {expected}")
                break
            if row is None or row.status != "valid" or row.height != height:
                problems.append(f"best-chain block at height {height} is missing or not valid")
                continue
            if previous is not None and row.parent != previous:
                problems.append(f"best-chain block at height {height} does not link to its parent")
            if height > 0 and self.undo(block_id) is None:
                problems.append(f"best-chain block at height {height} has no undo record")
            previous = block_id
        return problems


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _lock(path: Path) -> int:
    """Take the exclusive, non-blocking lock on ``<path>.lock``; return its descriptor."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(str(path), f"cannot create the lock file {lock_path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise StoreLockedError(str(path)) from exc
    except OSError as exc:
        os.close(fd)
        raise StoreError(str(path), f"cannot lock {lock_path}: {exc}") from exc
    return fd
