"""The chain: a Rust ledger, an SQLite store, a transaction pool and fork choice.

:class:`Chain` is what a node (and a user) talks to. Blocks and transactions are
validated by the Rust core (``Ledger.check_header``, ``Ledger.connect``,
``Ledger.apply_sequence``); this module decides what to do with the verdicts:

* **Fork choice.** Every stored block is in a tree (:class:`BlockIndex`); the tip
  is the valid block with the most cumulative work, ties going to the block seen
  first. A block on a side branch is stored after its header and body pass the
  stateless checks and is fully validated when its branch becomes the best.
* **Reorganisations** disconnect the old branch with the stored undo records and
  connect the new one on a copy of the ledger, then write everything (state,
  undo, best chain, tip, pool) in one SQLite transaction. If a block of the new
  branch is invalid nothing is written: that block and its descendants are
  marked invalid and the next best branch is tried. Transactions of the
  disconnected blocks go back to the pool when still valid.
* **Orphans** (unknown parent) wait in a bounded buffer and connect when the
  parent arrives; blocks whose timestamp is too far ahead are **deferred**, kept
  and re-checked later, never remembered as invalid. That includes a stored block
  found too far ahead when its branch is connected (the clock went back): it
  leaves the tree for the deferred buffer and the best branch that connects wins.
* **Invalid blocks** are remembered by the hash of their full content, so a
  mutated copy of a valid block cannot make the valid one unacceptable.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from swarmmesh._core import (
    Block,
    BlockHeader,
    ChainParams,
    ConnectResult,
    Ledger,
    Transaction,
    merkle_root,
    mine,
)
from swarmmesh.chain.genesis import BLOCK_VERSION, Genesis
from swarmmesh.chain.index import BlockIndex, BlockNode
from swarmmesh.chain.mempool import Mempool
from swarmmesh.chain.orphans import BlockBuffer
from swarmmesh.chain.store import BlockRow, ChainStore
from swarmmesh.chain.values import AcceptResult, ChainConfig, RewardPool, TokenInfo
from swarmmesh.errors import ConfigError, DecodeError, StoreError
from swarmmesh.identity import Keypair, address_of, public_key_of

__all__ = ["Chain"]

log = logging.getLogger(__name__)

_ZERO: Final = b"\0" * 32
#: Room kept in a block template for the header, the reward transaction and framing.
_TEMPLATE_OVERHEAD: Final = 4096
#: The u32 length prefix before each transaction of an encoded block.
_TX_FRAMING: Final = 4
_MINE_SLICE: Final = 1 << 18
_HEADER_CACHE: Final = 1024
#: Rejections that say nothing about the block id: another content may still match the header.
_CONTENT_REASONS: Final = frozenset({"oversize", "bad-merkle", "malformed"})


@dataclass(frozen=True, slots=True)
class _Failure:
    block_id: bytes
    reason: str
    tx_reason: str | None
    tx_index: int | None


class Chain:
    """A node's view of the chain; open with :meth:`open`, close with :meth:`close`.

    Not thread-safe: use it from one thread (or one asyncio task at a time).
    """

    __slots__ = (
        "_config",
        "_deferred",
        "_genesis",
        "_headers",
        "_index",
        "_invalid",
        "_invalid_ids",
        "_ledger",
        "_orphans",
        "_params",
        "_pool",
        "_pruned_through",
        "_seq",
        "_store",
        "_tip",
    )

    def __init__(self, store: ChainStore, genesis: Genesis, config: ChainConfig) -> None:
        """Load a chain from an initialised store (use :meth:`open`)."""
        self._store = store
        self._genesis = genesis
        self._config = config
        self._params: ChainParams = genesis.params()
        self._orphans: BlockBuffer[Block] = BlockBuffer(
            "orphan",
            max_count=config.max_orphans,
            max_age_ms=config.orphan_max_age_ms,
            max_bytes=config.max_orphan_bytes,
        )
        self._deferred: BlockBuffer[Block] = BlockBuffer(
            "deferred",
            max_count=config.max_deferred,
            max_age_ms=config.deferred_max_age_ms,
            max_bytes=config.max_deferred_bytes,
        )
        self._invalid: OrderedDict[bytes, AcceptResult] = OrderedDict()
        self._invalid_ids: OrderedDict[bytes, str] = OrderedDict()
        self._headers: OrderedDict[bytes, BlockHeader] = OrderedDict()
        self._pool: Mempool[Transaction] = Mempool(
            self._validate_txs, limits=config.pool, store=store, validate_many=self._validate_chains
        )
        self._ledger: Ledger = genesis.ledger()
        self._index = BlockIndex(
            BlockNode(genesis.id, _ZERO, 0, genesis.header.work, 0, genesis.timestamp_ms)
        )
        self._seq = 0
        self._pruned_through = -1
        self._tip: BlockHeader = genesis.header
        self._load()

    # -- opening and closing --------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        genesis: Genesis,
        *,
        config: ChainConfig | None = None,
    ) -> Chain:
        """Open the chain stored at ``path`` (created from ``genesis`` if new; ``None``: in memory).

        Raises :class:`~swarmmesh.errors.StoreLockedError` when another process
        has the file open, and :class:`~swarmmesh.errors.StoreError` (code
        ``genesis_mismatch``) when the file belongs to another chain.
        """
        store = ChainStore.open(path)
        try:
            cls._initialise(store, genesis)
            return cls(store, genesis, config or ChainConfig())
        except BaseException:
            store.close()
            raise

    @staticmethod
    def _initialise(store: ChainStore, genesis: Genesis) -> None:
        stored = store.get_meta("genesis_id")
        if stored is not None:
            if stored != genesis.id or store.get_meta("genesis_fingerprint") != genesis.fingerprint:
                raise StoreError(
                    str(store.path),
                    "made for another genesis (chain id, parameters or allocations differ)",
                    code="genesis_mismatch",
                )
            return
        header = genesis.header
        row = BlockRow(genesis.id, _ZERO, 0, header.work, 0, "valid", None, header.to_bytes())
        with store.transaction():
            store.put_block(row, genesis.block.to_bytes())
            store.set_main(0, genesis.id)
            store.set_tip(genesis.id)
            store.replace_state(genesis.ledger().entries())
            store.set_meta("genesis_id", genesis.id)
            store.set_meta("genesis_fingerprint", genesis.fingerprint)
            store.set_meta("chain_id", genesis.chain_id.encode())

    def _load(self, *, activate: bool = True) -> None:
        """(Re)build every in-memory structure from the store."""
        rows = self._store.block_rows()
        genesis_node = BlockNode(
            self._genesis.id, _ZERO, 0, rows[0].work, rows[0].seq, self._genesis.timestamp_ms
        )
        index = BlockIndex(genesis_node)
        for row in rows[1:]:
            header = BlockHeader.from_bytes(row.header)
            index.add(
                BlockNode(
                    row.id,
                    row.parent,
                    row.height,
                    row.work,
                    row.seq,
                    header.timestamp_ms,
                    row.status,
                    row.reason,
                )
            )
        self._index = index
        self._pruned_through = -1
        self._seq = self._store.max_block_seq() + 1
        self._headers.clear()
        self._ledger = Ledger.from_entries(self._params, self._store.state_entries())
        tip = self._store.tip()
        if tip is None or tip not in index:
            raise StoreError(str(self._store.path), "the recorded tip is not a stored block", code="corrupt")
        self._tip = self._header(tip)
        self._pool = Mempool(
            self._validate_txs,
            limits=self._config.pool,
            store=self._store,
            validate_many=self._validate_chains,
        )
        restored: list[tuple[Transaction, int]] = []
        undecodable: list[bytes] = []
        for tx_id, seq, data in self._store.pool_rows():
            try:
                restored.append((Transaction.from_bytes(data), seq))
            except ValueError:
                undecodable.append(tx_id)
        with self._store.transaction():
            if undecodable:
                log.warning("dropping %d undecodable pool rows", len(undecodable))
                self._store.pool_delete(undecodable)
            self._pool.restore(restored)
        if activate:
            # A crash between storing a block and activating its branch leaves work to finish.
            self._activate_best(self._config.now_ms())

    def close(self) -> None:
        """Close the store (idempotent); the chain cannot be used afterwards."""
        self._store.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._store.closed

    def __enter__(self) -> Chain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- queries --------------------------------------------------------------------------------

    @property
    def genesis(self) -> Genesis:
        """The genesis this chain was opened with."""
        return self._genesis

    @property
    def params(self) -> ChainParams:
        """The consensus parameters."""
        return self._params

    @property
    def tip(self) -> BlockHeader:
        """The header of the best block."""
        return self._tip

    @property
    def height(self) -> int:
        """The height of the best block."""
        return int(self._tip.height)

    def block(self, block_id: bytes) -> Block | None:
        """The stored valid block ``block_id`` (on any branch)."""
        data = self._store.block_data(block_id)
        return None if data is None else Block.from_bytes(data)

    def block_at(self, height: int) -> Block | None:
        """The best chain's block at ``height``."""
        block_id = self._store.main_id(height)
        return None if block_id is None else self.block(block_id)

    def balance(self, address: str) -> int:
        """The coins of ``address`` by the tip state."""
        return int(self._ledger.balance(public_key_of(address)))

    def nonce(self, address: str) -> int:
        """The next nonce of ``address`` by the tip state (pending transactions not counted)."""
        return int(self._ledger.nonce(public_key_of(address)))

    def reward_pool(self) -> RewardPool:
        """The reward pool's balance and contributors (totals given, by address)."""
        contributors = {address_of(key): int(total) for key, total in self._ledger.contributors().items()}
        return RewardPool(int(self._ledger.pool_balance), dict(sorted(contributors.items())))

    def token(self, token_id: bytes) -> TokenInfo | None:
        """The profile token ``token_id`` (see :func:`swarmmesh.token_id`)."""
        found = self._ledger.token(token_id)
        if found is None:
            return None
        owner, symbol, supply = found
        return TokenInfo(bytes(token_id), address_of(owner), symbol, int(supply))

    def token_balance(self, token_id: bytes, address: str) -> int:
        """How many ``token_id`` tokens ``address`` holds."""
        return int(self._ledger.token_balance(token_id, public_key_of(address)))

    def pending(self) -> list[Transaction]:
        """The transaction pool, in arrival order."""
        return self._pool.pending()

    def state_hash(self) -> bytes:
        """The deterministic hash of the whole ledger state at the tip."""
        return bytes(self._ledger.state_hash())

    @property
    def orphan_count(self) -> int:
        """How many blocks wait for an unknown parent."""
        return len(self._orphans)

    @property
    def deferred_count(self) -> int:
        """How many blocks wait because their timestamp is too far ahead."""
        return len(self._deferred)

    def integrity_check(self) -> list[str]:
        """Problems found in the store (empty when sound), including state drift."""
        problems = self._store.integrity_check()
        stored = Ledger.from_entries(self._params, self._store.state_entries()).state_hash()
        if stored != self._ledger.state_hash():
            problems.append("the stored state differs from the ledger in memory")
        if self._store.tip() != self._tip.id:
            problems.append("the stored tip differs from the tip in memory")
        return problems

    # -- transactions ---------------------------------------------------------------------------

    def _validate_txs(self, txs: Sequence[Transaction]) -> list[str | None]:
        return list(self._ledger.apply_sequence(list(txs)))

    def _validate_chains(self, chains: Sequence[Sequence[Transaction]]) -> list[list[str | None]]:
        return self._ledger.apply_chains([list(c) for c in chains])

    def submit_tx(self, tx: Transaction | bytes) -> AcceptResult:
        """Validate ``tx`` (a transaction or its bytes) against the tip state and add it to the pool.

        Rejection reasons are the transaction reason codes of ``docs/chain.md``
        plus the pool's ``replace-fee-too-low``, ``sender-limit`` and ``pool-full``; bytes that
        do not decode are ``malformed``. A transaction already pending is a
        ``duplicate`` (status and reason).
        """
        if not isinstance(tx, Transaction):
            try:
                tx = Transaction.from_bytes(tx)
            except DecodeError as exc:
                log.info("rejected tx bytes: %s", exc)
                return AcceptResult("rejected", "malformed")
        if tx.kind == "reward":
            log.info("rejected tx %s: reward transactions only come in blocks", tx.id.hex()[:16])
            return AcceptResult("rejected", "malformed", id=tx.id)
        verdict = self._pool.add(tx)
        if verdict.status == "rejected":
            log.info("rejected tx %s: %s", tx.id.hex()[:16], verdict.reason)
            return AcceptResult("rejected", verdict.reason, id=tx.id)
        if verdict.status == "duplicate":
            return AcceptResult("duplicate", "duplicate", id=tx.id)
        return AcceptResult("accepted", id=tx.id)

    # -- blocks ---------------------------------------------------------------------------------

    def submit_block(self, block: Block | bytes) -> AcceptResult:
        """Validate ``block`` (a block or its bytes) and, if it makes a better chain, switch to it.

        Blocks waiting for this one (orphans) are processed next, and deferred
        blocks are re-checked against the clock. Bytes that do not decode are
        ``malformed``.
        """
        if not isinstance(block, Block):
            try:
                block = Block.from_bytes(block)
            except DecodeError as exc:
                log.info("rejected block bytes: %s", exc)
                return AcceptResult("rejected", "malformed")
        now = self._config.now_ms()
        self._orphans.expire(now)
        self._deferred.expire(now)
        result = self._process(block, now)
        if result.status == "accepted":
            self._adopt_orphans(block.id, now)
        self.retry_deferred(now)
        return result

    def retry_deferred(self, now_ms: int | None = None) -> int:
        """Re-check the deferred blocks at ``now_ms`` (default: the clock); return how many were accepted.

        The blocks that pass are connected by the same ``now_ms``.
        """
        if not len(self._deferred):
            return 0
        now = self._config.now_ms() if now_ms is None else now_ms
        accepted = 0
        for block_id, block in self._deferred.items():
            if block.header.timestamp_ms > now + self._params.max_future_ms:
                continue  # still too far ahead: keep it (and its arrival time, for expiry)
            self._deferred.discard(block_id)
            result = self._process(block, now)
            if result.status == "accepted":
                accepted += 1
                self._adopt_orphans(block.id, now)
        return accepted

    def _adopt_orphans(self, parent: bytes, now: int) -> None:
        queue = [parent]
        while queue:
            for child in self._orphans.pop_children(queue.pop()):
                if self._process(child, now).status == "accepted":
                    queue.append(child.id)

    def _reject(
        self, block: Block, reason: str, tx_reason: str | None = None, tx_index: int | None = None
    ) -> AcceptResult:
        result = AcceptResult("rejected", reason, tx_reason, tx_index, block.id)
        self._invalid[block.content_hash] = result
        while len(self._invalid) > self._config.max_invalid:
            self._invalid.popitem(last=False)
        log.info(
            "rejected block %s: %s%s", block.id.hex()[:16], reason, f" ({tx_reason})" if tx_reason else ""
        )
        if reason not in _CONTENT_REASONS:
            # The failure is the id's own (the header, or a body bound to it by the Merkle
            # root): no valid block can have this id, so neither can its descendants.
            self._mark_id_invalid(block.id, reason)
        return result

    def _mark_id_invalid(self, block_id: bytes, reason: str) -> None:
        """Remember an invalid id and reject, iteratively, the orphans that descend from it."""
        queue = [(block_id, reason)]
        while queue:
            current, why = queue.pop()
            self._invalid_ids[current] = why
            while len(self._invalid_ids) > self._config.max_invalid:
                self._invalid_ids.popitem(last=False)
            for child in self._orphans.pop_children(current):
                result = AcceptResult("rejected", "bad-prev", id=child.id)
                self._invalid[child.content_hash] = result
                log.info("rejected orphan %s: bad-prev", child.id.hex()[:16])
                queue.append((child.id, "bad-prev"))
        while len(self._invalid) > self._config.max_invalid:
            self._invalid.popitem(last=False)

    def _process(self, block: Block, now: int) -> AcceptResult:
        block_id = block.id
        remembered = self._invalid.get(block.content_hash)
        if remembered is not None:
            return remembered
        node = self._index.get(block_id)
        if node is not None:
            if node.status == "valid":
                return AcceptResult("duplicate", id=block_id)
            return AcceptResult("rejected", node.reason, id=block_id)
        if block_id in self._orphans:
            return AcceptResult("duplicate", id=block_id)
        if block_id in self._deferred:
            return AcceptResult("duplicate", reason="time-too-new", id=block_id)
        header = block.header
        if len(block.txs) > self._params.max_block_txs or block.size > self._params.max_block_bytes:
            return self._reject(block, "oversize")
        if header.target != self._params.target or not header.meets_target():
            return self._reject(block, "bad-pow")
        if header.prev_id in self._invalid_ids:
            return self._reject(block, "bad-prev")
        parent = self._index.get(header.prev_id)
        if parent is None:
            # Only a body that matches its header may wait: the buffers are keyed by id, so a
            # mutated copy held there would make the real block a "duplicate".
            body_reason = self._check_body(block)
            if body_reason is not None:
                return self._reject(block, body_reason)
            self._orphans.add(block_id, header.prev_id, block, now, size=block.size)
            log.debug("orphan block %s", block_id.hex()[:16])
            return AcceptResult("orphan", id=block_id)
        if parent.status != "valid":
            return self._reject(block, "bad-prev")
        depth = int(self._tip.height) - self._index.fork_point(bytes(self._tip.id), parent.id).height
        if depth > self._config.max_fork_depth:
            # Not invalid (another node may still be on that branch), but this node will never
            # reorganise that deep, so the block would only take space: refused, not stored.
            log.info(
                "refused block %s: it forks %d blocks below the tip (max_fork_depth %d)",
                block_id.hex()[:16],
                depth,
                self._config.max_fork_depth,
            )
            return AcceptResult("rejected", "fork-too-deep", id=block_id)
        mtp = self._index.median_time_past(parent.id, self._params.median_span)
        verdict = self._ledger.check_header(header, self._header(parent.id), mtp, now)
        if not verdict.ok:
            reason = str(verdict.reason)
            if reason == "time-too-new":
                body_reason = self._check_body(block)
                if body_reason is not None:
                    return self._reject(block, body_reason)
                self._deferred.add(block_id, header.prev_id, block, now, size=block.size)
                log.info("deferred block %s: timestamp too far ahead", block_id.hex()[:16])
                return AcceptResult("deferred", reason, id=block_id)
            return self._reject(block, reason)
        body_reason = self._check_body(block)
        if body_reason is not None:
            return self._reject(block, body_reason)
        node = BlockNode(
            block_id,
            parent.id,
            int(header.height),
            parent.work + int(header.work),
            self._seq,
            int(header.timestamp_ms),
        )
        row = BlockRow(
            node.id, node.parent, node.height, node.work, node.seq, "valid", None, header.to_bytes()
        )
        with self._store.transaction():
            self._store.put_block(row, block.to_bytes())
        self._seq += 1
        self._index.add(node)
        failures = self._activate_best(now)
        failure = failures.get(block_id)
        if failure is not None:
            return self._reject(block, failure.reason, failure.tx_reason, failure.tx_index)
        final = self._index.get(block_id)
        if final is None:  # an ancestor (or the block) was too far ahead of the clock to connect
            if block_id in self._deferred:
                return AcceptResult("deferred", "time-too-new", id=block_id)
            return AcceptResult("orphan", id=block_id)
        if final.status != "valid":
            return self._reject(block, "bad-prev")
        return AcceptResult("accepted", id=block_id)

    def _check_body(self, block: Block) -> str | None:
        """The stateless body checks after the header's (so only plausible side-branch blocks are stored)."""
        ids = block.tx_ids()
        if merkle_root(ids) != block.header.merkle_root:
            return "bad-merkle"
        if len(set(ids)) != len(ids):
            return "duplicate-tx"
        return None

    # -- fork choice ----------------------------------------------------------------------------

    def _activate_best(self, now: int) -> dict[bytes, _Failure]:
        """Move the tip to the best valid block, invalidating what fails on the way.

        A block found too far ahead of ``now`` when it is connected (the clock
        went back since it was judged) is not invalid: it goes back to the
        deferred buffer, its descendants to the orphans, and the next best
        branch is tried.

        ``now`` is the clock the blocks were judged by: connecting with a later
        reading could find a block that just passed ``time-too-new`` too new,
        leaving it stored as the best block yet never connected.
        """
        failures: dict[bytes, _Failure] = {}
        while True:
            best = self._index.best()
            tip_id = bytes(self._tip.id)
            if best.id == tip_id:
                self._prune_side_branches()
                return failures
            fork = self._index.fork_point(tip_id, best.id)
            disconnect = self._index.path(fork.id, tip_id)
            connect = self._index.path(fork.id, best.id)
            try:
                failure = (
                    self._reorganise(fork, disconnect, connect, now)
                    if disconnect
                    else self._extend(connect, now)
                )
            except BaseException:
                log.exception("chain update failed; reloading from the store")
                self._load_quietly()
                raise
            if failure is None:
                continue
            if failure.reason == "time-too-new":
                # The clock went back since the block was judged: it cannot be judged now, so it
                # leaves the tree (never marked invalid) and the next best branch is tried.
                self._send_back(failure.block_id, now)
                continue
            failures[failure.block_id] = failure
            marked = self._index.invalidate(failure.block_id, failure.reason)
            with self._store.transaction():
                self._store.mark_invalid(marked, failure.reason)
            log.warning(
                "block %s failed to connect (%s): %d blocks marked invalid",
                failure.block_id.hex()[:16],
                failure.reason,
                len(marked),
            )

    def _prune_side_branches(self) -> None:
        """Delete the side branches that fork more than ``max_fork_depth`` below the tip.

        A branch forking at height ``f`` can only become the tip through a reorganisation
        ``tip height - f`` deep, which this node refuses once that exceeds ``max_fork_depth``.
        Each best-chain height is examined once, when it sinks below that depth, so the work
        is constant per block and side branches take space only near the tip.
        """
        limit = int(self._tip.height) - self._config.max_fork_depth - 1
        if limit <= self._pruned_through:
            return
        first = self._pruned_through + 1
        if limit - first > 64:
            main = self._store.main_ids()

            def main_at(height: int) -> bytes | None:
                return main[height] if height < len(main) else None

        else:
            main_at = self._store.main_id
        doomed: list[bytes] = []
        for height in range(first, limit + 1):
            here, above = main_at(height), main_at(height + 1)
            if here is None:  # pragma: no cover - heights below the tip are on the best chain
                continue
            doomed.extend(child for child in self._index.children(here) if child != above)
        self._pruned_through = limit
        if not doomed:
            return
        removed = [node.id for child in doomed for node in self._index.remove(child)]
        with self._store.transaction():
            self._store.delete_blocks(removed)
        for block_id in removed:
            self._headers.pop(block_id, None)
        log.info("pruned %d side-branch blocks forking at or below height %d", len(removed), limit)

    def _send_back(self, block_id: bytes, now: int) -> None:
        """Move a stored block too far ahead of ``now`` to the deferred buffer, its descendants to orphans."""
        removed = self._index.remove(block_id)
        blocks = [self.block(node.id) for node in removed]
        with self._store.transaction():
            self._store.delete_blocks([node.id for node in removed])
        for node, block in zip(removed, blocks, strict=True):
            if block is None:  # pragma: no cover - every indexed valid block is stored
                continue
            buffer = self._deferred if node.id == block_id else self._orphans
            buffer.add(node.id, node.parent, block, now, size=block.size)
        log.warning(
            "block %s is too far ahead of the clock to connect: deferred, with %d descendants as orphans",
            block_id.hex()[:16],
            len(removed) - 1,
        )

    def _load_quietly(self) -> None:
        try:
            self._load(activate=False)
        except Exception:  # pragma: no cover - the store itself is broken
            log.exception("reloading the chain failed")

    def _connect(self, ledger: Ledger, node: BlockNode, now: int) -> tuple[Block, ConnectResult]:
        block = self.block(node.id)
        if block is None:
            raise StoreError(
                str(self._store.path), f"block {node.id.hex()} is indexed but not stored", code="corrupt"
            )
        mtp = self._index.median_time_past(node.parent, self._params.median_span)
        result = ledger.connect(block, self._header(node.parent), mtp, now, threads=self._config.threads)
        return block, result

    @staticmethod
    def _failure(node: BlockNode, result: ConnectResult) -> _Failure:
        return _Failure(node.id, str(result.reason), result.tx_reason, result.tx_index)

    @staticmethod
    def _undo(result: ConnectResult) -> bytes:
        if result.undo is None:  # pragma: no cover - a connected block always has one
            raise StoreError("-", "the ledger connected a block without an undo record", code="corrupt")
        return bytes(result.undo)

    def _extend(self, connect: list[BlockNode], now: int) -> _Failure | None:
        """Connect blocks on top of the tip, one SQLite transaction each."""
        for node in connect:
            block, result = self._connect(self._ledger, node, now)  # atomic: a failure changes nothing
            if not result.ok:
                return self._failure(node, result)
            with self._store.transaction():
                self._store.put_undo(node.id, self._undo(result))
                self._store.apply_state(result.changes)
                self._store.set_main(node.height, node.id)
                self._store.set_tip(node.id)
                self._tip = block.header
                self._pool.revalidate()
        return None

    def _reorganise(
        self, fork: BlockNode, disconnect: list[BlockNode], connect: list[BlockNode], now: int
    ) -> _Failure | None:
        """Switch branches on a copy of the ledger; write it all in one transaction."""
        ledger = self._ledger.copy()
        undone: list[tuple[bytes, list[tuple[bytes, bytes | None]]]] = []
        returning: list[Transaction] = []
        for node in reversed(disconnect):
            undo = self._store.undo(node.id)
            block = self.block(node.id)
            if undo is None or block is None:
                raise StoreError(str(self._store.path), f"no undo data for {node.id.hex()}", code="corrupt")
            undone.append((node.id, list(ledger.disconnect(undo))))
            returning.extend(block.txs[1:])
        connected: list[tuple[BlockNode, Block, ConnectResult]] = []
        for node in connect:
            block, result = self._connect(ledger, node, now)
            if not result.ok:
                return self._failure(node, result)
            connected.append((node, block, result))
        log.info(
            "reorganisation at height %d: -%d +%d blocks, new tip %s",
            fork.height,
            len(disconnect),
            len(connect),
            connect[-1].id.hex()[:16],
        )
        with self._store.transaction():
            for block_id, changes in undone:
                self._store.apply_state(changes)
                self._store.delete_undo(block_id)
            self._store.truncate_main(fork.height + 1)
            for node, _, result in connected:
                self._store.put_undo(node.id, self._undo(result))
                self._store.apply_state(result.changes)
                self._store.set_main(node.height, node.id)
            self._store.set_tip(connect[-1].id)
            self._ledger = ledger
            self._tip = connected[-1][1].header
            self._pool.revalidate(returning=returning)
        return None

    def _header(self, block_id: bytes) -> BlockHeader:
        header = self._headers.get(block_id)
        if header is None:
            raw = self._store.block_header(block_id)
            if raw is None:
                raise StoreError(str(self._store.path), f"no header for {block_id.hex()}", code="corrupt")
            header = BlockHeader.from_bytes(raw)
            self._headers[block_id] = header
            if len(self._headers) > _HEADER_CACHE:
                self._headers.popitem(last=False)
        return header

    # -- production -----------------------------------------------------------------------------

    def produce_block(
        self, producer: Keypair, *, now_ms: int | None = None, max_txs: int | None = None
    ) -> Block:
        """A mined block on the tip: the reward, then pool transactions (not submitted).

        The timestamp is ``now_ms`` (default: the clock), raised if needed to
        one past the median time of the last blocks.
        """
        now = self._config.now_ms() if now_ms is None else now_ms
        tip_id = bytes(self._tip.id)
        height = self.height + 1
        mtp = self._index.median_time_past(tip_id, self._params.median_span)
        limit = self._params.max_block_txs - 1
        if max_txs is not None:
            if max_txs < 0:
                raise ConfigError("max_txs", "must be non-negative")
            limit = min(limit, max_txs)
        txs = self._pool.template(
            max_txs=limit,
            max_bytes=self._params.max_block_bytes - _TEMPLATE_OVERHEAD,
            per_tx_overhead=_TX_FRAMING,
        )
        reward = self._ledger.reward_amount(sum(int(tx.fee) for tx in txs))
        reward_tx = Transaction.reward(producer, reward, height=height, chain_id=self._params.chain_id)
        all_txs = [reward_tx, *txs]
        header = BlockHeader(
            BLOCK_VERSION,
            self._params.chain_id,
            height,
            tip_id,
            merkle_root([tx.id for tx in all_txs]),
            max(now, mtp + 1),
            self._params.target,
            0,
            producer.public_key,
        )
        return Block(_mine(header), all_txs)

    # -- maintenance ----------------------------------------------------------------------------

    def reindex(self) -> bytes:
        """Rebuild the ledger state from the stored best chain; return the new state hash.

        Every block is validated again (clock checks aside); the state entries
        and undo records are rewritten in one transaction.
        """
        ledger = self._genesis.ledger()
        ids = self._store.main_ids()
        undos: list[tuple[bytes, bytes]] = []
        now = self._config.now_ms()
        for height, block_id in enumerate(ids[1:], start=1):
            node = self._index.node(block_id)
            block = self.block(block_id)
            if block is None:
                raise StoreError(
                    str(self._store.path), f"best-chain block {height} is missing", code="corrupt"
                )
            mtp = self._index.median_time_past(node.parent, self._params.median_span)
            result = ledger.connect(
                block,
                self._header(ids[height - 1]),
                mtp,
                max(now, node.timestamp_ms),
                threads=self._config.threads,
            )
            if not result.ok:
                raise StoreError(
                    str(self._store.path),
                    f"stored block at height {height} no longer validates: {result.reason}",
                    code="corrupt",
                )
            undos.append((block_id, self._undo(result)))
        with self._store.transaction():
            self._store.replace_state(ledger.entries())
            for block_id, undo in undos:
                self._store.put_undo(block_id, undo)
            self._ledger = ledger
            self._pool.revalidate()
        log.info("reindexed %d blocks", len(ids) - 1)
        return self.state_hash()

    def blocks(self) -> Iterable[Block]:
        """The best chain's blocks from genesis to tip."""
        for block_id in self._store.main_ids():
            block = self.block(block_id)
            if block is not None:
                yield block


def _mine(header: BlockHeader) -> BlockHeader:
    start = 0
    while True:
        mined = mine(header, max_iters=_MINE_SLICE, start_nonce=start)
        if mined is not None:
            return mined
        start += _MINE_SLICE
        if start >= 1 << 64:
            header = header.replace(timestamp_ms=int(header.timestamp_ms) + 1)
            start = 0
