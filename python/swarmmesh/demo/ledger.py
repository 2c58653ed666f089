"""The demo's books: what was sent, what was acknowledged, what each application received.

The :class:`Ledger` is pure bookkeeping (no I/O, no clock of its own): the scenario tells it
about every unicast send (before it starts, then its receipt or its error), every broadcast,
and every :class:`~swarmmesh.Message` a node's application took from a subscription. At the
end :meth:`Ledger.checks` turns the books into the verdicts the exit status is made of:

* ``acknowledged delivered``: every unicast send that returned a receipt was delivered to
  the application of its target (the end-to-end promise of an acknowledgement);
* ``no duplicates``: no application saw one message id twice, whichever and however many
  transports carried it;
* ``delivered where addressed``: every unicast message reached its own target, from its
  own origin, with the payload that was sent;
* ``broadcast coverage`` (strict only when the run's links are lossless): every broadcast
  reached every node that its origin could reach over the link graph within the TTL.
  Broadcasts are best-effort gossip (no retransmission), so on lossy links a node misses
  one only when every copy on every link to it was lost; the rate is then reported, not
  required.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Check", "Ledger", "PhaseTally"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict of the final report: ``name``, whether it ``passed``, and what was seen."""

    name: str
    passed: bool
    detail: str
    required: bool = True


@dataclass(slots=True)
class PhaseTally:
    """The counters of one phase of the run (``"all up"``, ``"<transport> killed"``, ...)."""

    name: str
    started_s: float
    sent: int = 0
    acked: int = 0
    failed: int = 0
    #: acknowledged unicast sends by the transport named in the receipt
    acked_by: Counter[str] = field(default_factory=Counter)
    #: unicast failures by ``DeliveryError.code``
    failed_by: Counter[str] = field(default_factory=Counter)
    broadcasts: int = 0
    rtt_ms_total: float = 0.0


@dataclass(frozen=True, slots=True)
class _Unicast:
    origin: str
    target: str
    phase: int


@dataclass(frozen=True, slots=True)
class _Broadcast:
    origin: str
    phase: int
    #: the nodes the origin can reach within the TTL (itself excluded)
    reachable: frozenset[str]


class Ledger:
    """Counts sends, receipts, failures and deliveries; judges them with :meth:`checks`.

    ``strict_broadcast`` makes full broadcast coverage a required check (set it when the
    links are lossless). Node ids are whatever the scenario uses (peer ids); labels for
    reports come from the scenario, not from here.
    """

    def __init__(self, *, strict_broadcast: bool) -> None:
        self.strict_broadcast = strict_broadcast
        self.phases: list[PhaseTally] = []
        self._unicasts: dict[bytes, _Unicast] = {}
        self._acked: dict[bytes, str] = {}  # payload -> transport of the receipt
        self._failed: dict[bytes, str] = {}  # payload -> DeliveryError code
        self._broadcasts: dict[bytes, _Broadcast] = {}  # message id -> who should get it
        self._seen: Counter[tuple[str, bytes]] = Counter()  # (node, message id) -> deliveries
        self._unicast_at: dict[bytes, list[str]] = {}  # payload -> nodes whose app got it
        self._misaddressed: list[str] = []
        self._broadcast_got: Counter[bytes] = Counter()  # message id -> nodes (first sight only)
        self._early: dict[bytes, set[str]] = {}  # broadcast deliveries seen before broadcast() returned
        self.delivered_by: Counter[str] = Counter()  # first-arrival transport of every app delivery
        self.deliveries = 0
        self.duplicates = 0

    # ------------------------------------------------------------ phases

    def begin_phase(self, name: str, now_s: float) -> None:
        """Start counting into a new phase."""
        self.phases.append(PhaseTally(name, now_s))

    @property
    def phase(self) -> PhaseTally:
        """The current phase (one is started on demand)."""
        if not self.phases:
            self.begin_phase("start", 0.0)
        return self.phases[-1]

    # ------------------------------------------------------------ unicast

    def unicast_started(self, payload: bytes, origin: str, target: str) -> None:
        """A send of ``payload`` (unique per send) from ``origin`` to ``target`` is starting."""
        self.phase.sent += 1
        self._unicasts[payload] = _Unicast(origin, target, len(self.phases) - 1)

    def unicast_acked(self, payload: bytes, transport: str, rtt_ms: float) -> None:
        """The send of ``payload`` returned a receipt naming ``transport``."""
        tally = self.phase
        tally.acked += 1
        tally.acked_by[transport] += 1
        tally.rtt_ms_total += rtt_ms
        self._acked[payload] = transport

    def unicast_failed(self, payload: bytes, code: str) -> None:
        """The send of ``payload`` raised ``DeliveryError`` with ``code``."""
        tally = self.phase
        tally.failed += 1
        tally.failed_by[code] += 1
        self._failed[payload] = code

    # ------------------------------------------------------------ broadcast

    def broadcast_sent(self, message_id: bytes, origin: str, reachable: Iterable[str]) -> None:
        """``origin`` broadcast ``message_id``; ``reachable`` should all receive it."""
        self.phase.broadcasts += 1
        self._broadcasts[message_id] = _Broadcast(
            origin, len(self.phases) - 1, frozenset(reachable) - {origin}
        )
        # deliveries can race ahead of broadcast() returning: count them now
        for node in self._early.pop(message_id, ()):
            self._count_broadcast(message_id, node)

    # ------------------------------------------------------------ deliveries

    def delivered(
        self, node: str, *, kind: str, message_id: bytes, origin: str, payload: bytes, transport: str
    ) -> None:
        """``node``'s application took a message (``kind`` ``"unicast"`` or ``"broadcast"``)."""
        key = (node, message_id)
        self._seen[key] += 1
        if self._seen[key] > 1:
            self.duplicates += 1
            return
        self.deliveries += 1
        self.delivered_by[transport] += 1
        if kind == "unicast":
            self._unicast_at.setdefault(payload, []).append(node)
            sent = self._unicasts.get(payload)
            if sent is None or sent.target != node or sent.origin != origin:
                self._misaddressed.append(f"{payload!r} at {node} from {origin}")
        elif message_id in self._broadcasts:
            self._count_broadcast(message_id, node)
        else:
            self._early.setdefault(message_id, set()).add(node)

    def _count_broadcast(self, message_id: bytes, node: str) -> None:
        if node in self._broadcasts[message_id].reachable:
            self._broadcast_got[message_id] += 1

    # ------------------------------------------------------------ results

    @property
    def sent(self) -> int:
        """Unicast sends started."""
        return len(self._unicasts)

    @property
    def acked(self) -> int:
        """Unicast sends acknowledged."""
        return len(self._acked)

    @property
    def failed(self) -> int:
        """Unicast sends that raised ``DeliveryError``."""
        return len(self._failed)

    @property
    def broadcasts(self) -> int:
        """Broadcasts sent."""
        return len(self._broadcasts)

    def acked_by(self) -> Counter[str]:
        """Acknowledged sends per receipt transport, over the whole run."""
        total: Counter[str] = Counter()
        for tally in self.phases:
            total.update(tally.acked_by)
        return total

    def lost_acknowledged(self) -> list[bytes]:
        """Payloads acknowledged but never delivered to their target's application."""
        return [p for p in self._acked if self._unicasts[p].target not in self._unicast_at.get(p, ())]

    def broadcast_coverage(self) -> tuple[int, int]:
        """``(deliveries, expected)`` over every broadcast and every node it should reach."""
        expected = sum(len(b.reachable) for b in self._broadcasts.values())
        got = sum(self._broadcast_got[m] for m in self._broadcasts)
        return got, expected

    def coverage_by_phase(self) -> Mapping[int, tuple[int, int]]:
        """``(deliveries, expected)`` of the broadcasts sent in each phase."""
        out: dict[int, tuple[int, int]] = {}
        for mid, b in self._broadcasts.items():
            got, expected = out.get(b.phase, (0, 0))
            out[b.phase] = (got + self._broadcast_got[mid], expected + len(b.reachable))
        return out

    def checks(self) -> list[Check]:
        """The verdicts (see the module docstring); the run passes when every required one does."""
        lost = self.lost_acknowledged()
        shown = ", ".join(p.decode(errors="replace") for p in lost[:5])
        got, expected = self.broadcast_coverage()
        missed = expected - got
        rate = got / expected if expected else 1.0
        delivered_unacked = sum(1 for p in self._failed if p in self._unicast_at)
        return [
            Check(
                "acknowledged delivered",
                not lost and self.acked > 0,
                f"{self.acked} acknowledged, {len(lost)} of them never reached the target's application"
                + (f" ({shown})" if lost else "")
                + f"; {self.failed} not acknowledged (DeliveryError), {delivered_unacked} of those"
                " delivered anyway",
            ),
            Check(
                "no duplicates",
                self.duplicates == 0,
                f"{self.deliveries} application deliveries, {self.duplicates} duplicates",
            ),
            Check(
                "delivered where addressed",
                not self._misaddressed,
                f"{len(self._misaddressed)} unicast messages at the wrong node or from the wrong origin"
                + (f" ({self._misaddressed[0]})" if self._misaddressed else ""),
            ),
            Check(
                "broadcast coverage",
                missed == 0 and self.broadcasts > 0,
                f"{got} of {expected} (broadcast, reachable node) deliveries ({rate:.2%}), {missed} missed",
                required=self.strict_broadcast,
            ),
        ]
