"""The transaction pool: pending transactions validated against the tip state.

Rules (see ``docs/chain-api.md``):

* A transaction is admitted when it is valid after the sender's own pending
  transactions with lower nonces (``validate`` is the ledger's
  ``apply_sequence`` on the tip state), so a sender may queue a nonce chain.
  Transactions of other senders are not taken into account: coins still in
  flight to an account cannot be spent until they are in a block.
* One pending transaction per (sender, nonce). A second one replaces it only
  with a strictly higher fee (``replace-fee-too-low`` otherwise); the
  sender's later transactions are revalidated and dropped if they no longer fit.
* At most ``max_per_sender`` pending transactions per sender (``sender-limit``
  otherwise): admission re-checks the sender's whole pending chain, so an
  unbounded chain would make one sender's flood quadratic.
* Ranking is by **fee rate** (fee per encoded byte, compared exactly as
  ``fee_a * size_b`` against ``fee_b * size_a``), never by absolute fee.
* Bounded by count and bytes. When full, a newcomer evicts whole *suffixes* of
  sender chains: evicting a transaction evicts the sender's later ones (they
  would be left with a nonce gap), so a suffix is judged by its package rate
  (summed fees over summed sizes), lowest first (ties: the most recent
  arrival), and each evicted suffix must have a rate strictly below the
  newcomer's own; otherwise ``pool-full``. The newcomer's own predecessors
  are never evicted for it.
* Templates take sender nonce chains in order by package: each sender's next
  package is the prefix of its remaining chain with the highest rate (a cheap
  transaction that opens a well-paying one goes in with it), and the package
  with the highest rate goes first (ties: arrival order).
* Replacement is judged by absolute fee (strictly higher), not by rate.
* After every change of the tip :meth:`Mempool.revalidate` drops what the new
  state rejects and takes back the transactions of disconnected blocks.
* With a store every change is persisted (the pool survives a restart).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, Protocol, TypeVar

from swarmmesh.chain.store import ChainStore
from swarmmesh.errors import ConfigError

__all__ = ["Mempool", "PoolLimits", "PoolTx", "PoolVerdict"]

log = logging.getLogger(__name__)


class PoolTx(Protocol):
    """What the pool needs of a transaction."""

    @property
    def id(self) -> bytes:
        """The transaction id."""

    @property
    def sender_key(self) -> bytes:
        """The sender's public key."""

    @property
    def nonce(self) -> int:
        """The sender's nonce."""

    @property
    def fee(self) -> int:
        """The fee."""

    @property
    def size(self) -> int:
        """Encoded size in bytes."""

    def to_bytes(self) -> bytes:
        """The canonical encoding."""


TxT = TypeVar("TxT", bound=PoolTx)

#: Validates a sequence in order against the tip state: ``None`` per valid tx, else its reason code.
Validator = Callable[[Sequence[TxT]], Sequence[str | None]]
#: Judges many independent sequences at once (each against the tip state alone).
ManyValidator = Callable[[Sequence[Sequence[TxT]]], Sequence[Sequence[str | None]]]


@dataclass(frozen=True, init=False)
class PoolLimits:
    """The pool's bounds (keyword-only arguments)."""

    __slots__ = {
        "max_bytes": "most encoded bytes of pending transactions (default 8 MiB)",
        "max_count": "most pending transactions (default 5000)",
        "max_per_sender": "most pending transactions of one sender (default 64)",
    }
    max_count: int
    max_bytes: int
    max_per_sender: int

    def __init__(
        self, *, max_count: int = 5000, max_bytes: int = 8 * 1024 * 1024, max_per_sender: int = 64
    ) -> None:
        for name, value in (
            ("max_count", max_count),
            ("max_bytes", max_bytes),
            ("max_per_sender", max_per_sender),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(name, "must be a positive integer")
            object.__setattr__(self, name, value)


@dataclass(frozen=True, slots=True)
class PoolVerdict:
    """The outcome of :meth:`Mempool.add`: ``status`` is accepted, duplicate or rejected."""

    status: str
    reason: str | None = None
    replaced: bytes | None = None


@dataclass(slots=True)
class _Entry(Generic[TxT]):
    tx: TxT
    seq: int


@dataclass(frozen=True, slots=True, eq=False)
class _Rate:
    """A fee rate ``fee / size`` (fee per byte), compared exactly by cross-multiplying integers.

    Equality is equal rates (``1/100 == 2/200``), consistent with the ordering,
    which tuple comparison in the heaps relies on.
    """

    fee: int
    size: int

    @classmethod
    def of(cls, txs: Iterable[PoolTx]) -> _Rate:
        """The rate of a package: its summed fees over its summed sizes (at least one byte)."""
        fee = size = 0
        for tx in txs:
            fee += tx.fee
            size += tx.size
        return cls(fee, max(size, 1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Rate):
            return NotImplemented
        return self.fee * other.size == other.fee * self.size

    def __hash__(self) -> int:
        return hash(Fraction(self.fee, self.size))

    def __lt__(self, other: _Rate) -> bool:
        return self.fee * other.size < other.fee * self.size

    def __gt__(self, other: _Rate) -> bool:
        return other < self


@dataclass(frozen=True, slots=True)
class _Best:
    """A heap key putting the highest rate first, then the earliest arrival."""

    rate: _Rate
    seq: int

    def __lt__(self, other: _Best) -> bool:
        if self.rate > other.rate:
            return True
        return not other.rate > self.rate and self.seq < other.seq


class Mempool(Generic[TxT]):
    """Pending transactions, bounded, ordered and (optionally) persisted."""

    __slots__ = (
        "_by_id",
        "_by_sender",
        "_bytes",
        "_limits",
        "_next_seq",
        "_store",
        "_validate",
        "_validate_many",
    )

    def __init__(
        self,
        validate: Validator[TxT],
        *,
        limits: PoolLimits | None = None,
        store: ChainStore | None = None,
        validate_many: ManyValidator[TxT] | None = None,
    ) -> None:
        """An empty pool judging transactions with ``validate``, persisting into ``store``.

        ``validate_many``, when given, judges the senders' chains of a revalidation in one
        call (``Ledger.apply_chains``); it must equal ``validate`` applied to each.
        """
        self._validate = validate
        self._validate_many = validate_many
        self._limits = limits or PoolLimits()
        self._store = store
        self._by_id: dict[bytes, _Entry[TxT]] = {}
        self._by_sender: dict[bytes, dict[int, bytes]] = {}
        self._bytes = 0
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._by_id

    @property
    def total_bytes(self) -> int:
        """Total encoded size of the pending transactions."""
        return self._bytes

    @property
    def limits(self) -> PoolLimits:
        """The bounds."""
        return self._limits

    def get(self, tx_id: bytes) -> TxT | None:
        """The pending transaction with ``tx_id``."""
        entry = self._by_id.get(tx_id)
        return None if entry is None else entry.tx

    def pending(self) -> list[TxT]:
        """The pending transactions in arrival order."""
        return [e.tx for e in sorted(self._by_id.values(), key=lambda e: e.seq)]

    # -- admission ------------------------------------------------------------------------------

    def add(self, tx: TxT) -> PoolVerdict:
        """Judge and admit ``tx`` (see the module rules)."""
        if tx.id in self._by_id:
            return PoolVerdict("duplicate")
        chain = self._sender_chain(tx.sender_key)
        before = [t for t in chain if t.nonce < tx.nonce]
        after = [t for t in chain if t.nonce > tx.nonce]
        existing = next((t for t in chain if t.nonce == tx.nonce), None)
        if existing is not None and tx.fee <= existing.fee:
            return PoolVerdict("rejected", "replace-fee-too-low")
        if existing is None and len(chain) >= self._limits.max_per_sender:
            return PoolVerdict("rejected", "sender-limit")
        results = self._validate([*before, tx, *after])
        reason = results[len(before)]
        if reason is not None:
            return PoolVerdict("rejected", reason)
        victims = self._plan_eviction(tx, existing, protected=before)
        if victims is None:
            return PoolVerdict("rejected", "pool-full")
        dropped_after = [
            t.id for t, r in zip(after, results[len(before) + 1 :], strict=True) if r is not None
        ]
        self._transaction(
            lambda: self._commit_add(tx, existing, [*victims, *dropped_after]),
        )
        return PoolVerdict("accepted", replaced=None if existing is None else existing.id)

    def _commit_add(self, tx: TxT, existing: TxT | None, drop: list[bytes]) -> None:
        removed = [existing.id] if existing is not None else []
        removed += [i for i in drop if i in self._by_id]
        self._remove_ids(removed)
        self._insert(tx, self._next_seq)
        self._next_seq += 1

    def _plan_eviction(self, tx: TxT, existing: TxT | None, protected: list[TxT]) -> list[bytes] | None:
        """The ids to evict so that ``tx`` fits, or ``None`` if it cannot pay its way in."""
        count = len(self._by_id) + 1
        size = self._bytes + tx.size
        if existing is not None:
            count -= 1
            size -= existing.size
        if count <= self._limits.max_count and size <= self._limits.max_bytes:
            return []
        if tx.size > self._limits.max_bytes:
            return None
        keep = {t.id for t in protected}
        if existing is not None:
            keep.add(existing.id)
        order = self._victims(count, size, keep, above=_Rate.of([tx]))
        if order:
            log.info("pool full: evicting %d lower-rate transactions", len(order))
        return order

    def _victims(self, count: int, size: int, keep: set[bytes], above: _Rate | None) -> list[bytes] | None:
        """The suffixes to evict, lowest fee rate first, until ``count`` and ``size`` fit the limits.

        Evicting a transaction evicts the sender's later ones (they would be
        left with a nonce gap), so a candidate is a whole suffix of a sender's
        chain, judged by its package rate: a cheap transaction followed by a
        well-paying one is as dear as the pair. Transactions in ``keep`` (and
        so their predecessors) are never candidates. Each victim must pay a
        rate strictly below ``above`` (``None``: no bound); ``None`` when the
        limits cannot be met that way. Equal rates: the most recent arrival goes.
        """
        if count <= self._limits.max_count and size <= self._limits.max_bytes:
            return []  # within the limits: no need to rank every sender's suffixes
        chains: dict[bytes, list[_Entry[TxT]]] = {}
        heap: list[tuple[_Rate, int, bytes]] = []
        for sender, by_nonce in self._by_sender.items():
            chain = [self._by_id[by_nonce[n]] for n in sorted(by_nonce)]
            chains[sender] = chain
            self._push_cheapest(heap, sender, chain, keep)
        order: list[bytes] = []
        while count > self._limits.max_count or size > self._limits.max_bytes:
            if not heap:
                return None
            rate, _, sender = heapq.heappop(heap)
            if above is not None and not rate < above:
                return None
            chain = chains[sender]
            start = self._cheapest_start(chain, keep)
            if start is None:  # pragma: no cover - pushed only with a candidate
                continue
            for entry in chain[start:]:
                order.append(entry.tx.id)
                count -= 1
                size -= entry.tx.size
            del chain[start:]
            self._push_cheapest(heap, sender, chain, keep)
        return order

    @staticmethod
    def _cheapest_start(chain: list[_Entry[TxT]], keep: set[bytes]) -> int | None:
        """The start of the lowest-rate suffix of ``chain`` after its kept entries (ties: the shortest)."""
        first = 0
        for i, entry in enumerate(chain):
            if entry.tx.id in keep:
                first = i + 1
        best: int | None = None
        best_rate = _Rate(0, 1)
        fee = size = 0
        for i in range(len(chain) - 1, first - 1, -1):
            fee += chain[i].tx.fee
            size += chain[i].tx.size
            rate = _Rate(fee, max(size, 1))
            if best is None or rate < best_rate:
                best, best_rate = i, rate
        return best

    def _push_cheapest(
        self, heap: list[tuple[_Rate, int, bytes]], sender: bytes, chain: list[_Entry[TxT]], keep: set[bytes]
    ) -> None:
        start = self._cheapest_start(chain, keep)
        if start is not None:
            rate = _Rate.of(e.tx for e in chain[start:])
            heapq.heappush(heap, (rate, -chain[start].seq, sender))

    # -- tip changes ----------------------------------------------------------------------------

    def revalidate(self, returning: Iterable[TxT] = ()) -> list[bytes]:
        """Re-judge everything against the (new) tip state; return the ids dropped.

        ``returning`` are transactions of disconnected blocks: they come back
        when still valid (a pending transaction with the same sender and nonce
        is kept if it pays more).
        """
        pool: dict[bytes, dict[int, tuple[TxT, int]]] = {}
        for entry in self._by_id.values():
            pool.setdefault(entry.tx.sender_key, {})[entry.tx.nonce] = (entry.tx, entry.seq)
        for tx in returning:
            slot = pool.setdefault(tx.sender_key, {})
            current = slot.get(tx.nonce)
            if current is None or (current[0].id != tx.id and tx.fee > current[0].fee):
                slot[tx.nonce] = (tx, -1)
        kept: list[tuple[TxT, int]] = []
        chains = [[by_nonce[n] for n in sorted(by_nonce)] for by_nonce in pool.values()]
        txs = [[t for t, _ in chain] for chain in chains]
        if self._validate_many is not None:
            verdicts = self._validate_many(txs)
        else:
            verdicts = [self._validate(t) for t in txs]
        for chain, results in zip(chains, verdicts, strict=True):
            valid = [item for item, reason in zip(chain, results, strict=True) if reason is None]
            kept.extend(valid[: self._limits.max_per_sender])
        kept_ids = {t.id for t, _ in kept}
        dropped = [i for i in self._by_id if i not in kept_ids]
        added = [(t, s) for t, s in kept if t.id not in self._by_id]

        def commit() -> None:
            self._remove_ids(dropped)
            for tx, seq in added:
                if seq < 0:
                    seq = self._next_seq
                    self._next_seq += 1
                self._insert(tx, seq)
            dropped.extend(self._shrink_to_limits())

        self._transaction(commit)
        if dropped:
            log.info("pool revalidation dropped %d transactions", len(dropped))
        return dropped

    def restore(self, rows: Iterable[tuple[TxT, int]]) -> list[bytes]:
        """Reload persisted ``(tx, seq)`` rows (at open) and revalidate them; return ids dropped."""
        for tx, seq in rows:
            if tx.id not in self._by_id:
                self._insert(tx, seq, persist=False)
                self._next_seq = max(self._next_seq, seq + 1)
        return self.revalidate()

    def _shrink_to_limits(self) -> list[bytes]:
        victims = self._victims(len(self._by_id), self._bytes, set(), above=None) or []
        self._remove_ids(victims)
        return victims

    # -- templates ------------------------------------------------------------------------------

    def template(self, *, max_txs: int, max_bytes: int, per_tx_overhead: int = 0) -> list[TxT]:
        """Transactions for a block: best package fee rate first, nonce chains in order, then validated.

        Each sender's next *package* is the prefix of its remaining chain with
        the highest fee rate (so a cheap transaction that opens a well-paying
        one is taken with it); packages go in by rate (ties: arrival order).
        Each transaction takes its ``size`` plus ``per_tx_overhead`` (the
        block's framing) out of ``max_bytes``; a sender whose next transaction
        does not fit is done (its later nonces cannot go in without it).
        """
        heap: list[tuple[_Best, bytes, int, int]] = []
        chains: dict[bytes, list[_Entry[TxT]]] = {}
        for sender, by_nonce in self._by_sender.items():
            chain = [self._by_id[by_nonce[n]] for n in sorted(by_nonce)]
            chains[sender] = chain
            heapq.heappush(heap, _package(chain, 0, sender))
        picked: list[TxT] = []
        size = 0
        while heap and len(picked) < max_txs:
            _, sender, start, end = heapq.heappop(heap)
            chain = chains[sender]
            done = False
            for entry in chain[start:end]:
                cost = entry.tx.size + per_tx_overhead
                if size + cost > max_bytes or len(picked) >= max_txs:
                    done = True
                    break
                picked.append(entry.tx)
                size += cost
            if not done and end < len(chain):
                heapq.heappush(heap, _package(chain, end, sender))
        if not picked:
            return picked
        results = self._validate(picked)
        return [tx for tx, reason in zip(picked, results, strict=True) if reason is None]

    # -- internals ------------------------------------------------------------------------------

    def _sender_chain(self, sender: bytes) -> list[TxT]:
        by_nonce = self._by_sender.get(sender, {})
        return [self._by_id[by_nonce[n]].tx for n in sorted(by_nonce)]

    def _insert(self, tx: TxT, seq: int, *, persist: bool = True) -> None:
        self._by_id[tx.id] = _Entry(tx, seq)
        self._by_sender.setdefault(tx.sender_key, {})[tx.nonce] = tx.id
        self._bytes += tx.size
        if persist and self._store is not None:
            self._store.pool_put(tx.id, seq, tx.to_bytes())

    def _remove_ids(self, tx_ids: Iterable[bytes]) -> None:
        gone: list[bytes] = []
        for tx_id in tx_ids:
            entry = self._by_id.pop(tx_id, None)
            if entry is None:
                continue
            gone.append(tx_id)
            by_nonce = self._by_sender[entry.tx.sender_key]
            if by_nonce.get(entry.tx.nonce) == tx_id:
                del by_nonce[entry.tx.nonce]
            if not by_nonce:
                del self._by_sender[entry.tx.sender_key]
            self._bytes -= entry.tx.size
        if gone and self._store is not None:
            self._store.pool_delete(gone)

    def _transaction(self, body: Callable[[], None]) -> None:
        if self._store is None:
            body()
            return
        with self._store.transaction():
            body()


def _package(chain: Sequence[_Entry[TxT]], start: int, sender: bytes) -> tuple[_Best, bytes, int, int]:
    """The heap item of the highest-rate prefix of ``chain[start:]`` (ties: the shortest)."""
    best_end = start + 1
    best = _Rate.of([chain[start].tx])
    fee, size = best.fee, chain[start].tx.size
    for end in range(start + 2, len(chain) + 1):
        fee += chain[end - 1].tx.fee
        size += chain[end - 1].tx.size
        rate = _Rate(fee, max(size, 1))
        if rate > best:
            best, best_end = rate, end
    return (_Best(best, chain[start].seq), sender, start, best_end)
