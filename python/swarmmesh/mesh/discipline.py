"""Peer discipline: protocol violations earn bans, separately from the circuit breakers.

A bad signature or a malformed frame says nothing about whether a transport works, and
counting it as a transport failure would let a hostile peer open breakers (or a broken one
be retried forever). :class:`Discipline` counts such offences per peer instead; an offence is
forgotten ``ban_s`` after the previous one, and the ``threshold``-th bans the peer for
``ban_s`` and calls ``on_ban(peer_id, reason)`` once, so the mesh disconnects that key on
every transport. Bans end by the clock. Both tables are bounded. :class:`Resilience
<swarmmesh.mesh.resilience.Resilience>` owns one and reports its state changes as events.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable

from swarmmesh.clock import Clock

__all__ = ["BanFn", "Discipline", "EmitFn"]

logger = logging.getLogger(__name__)

BanFn = Callable[[str, str], None]
#: ``emit(time_ms, peer_id, from_state, to_state, reason, detail)``: one ban state change.
EmitFn = Callable[[int, str, str, str, str, str], None]


class Discipline:
    """Offences per peer and bans with expiry; see the module docstring.

    ``max_entries`` bounds each table: when full, the oldest entry goes (counted in
    ``offences_evicted`` / ``bans_evicted``; an evicted ban is lifted early and logged).
    """

    __slots__ = (
        "_ban_ms",
        "_bans",
        "_clock",
        "_counts",
        "_emit",
        "_max_entries",
        "_offences",
        "_on_ban",
        "_threshold",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        ban_s: float,
        threshold: int,
        max_entries: int,
        emit: EmitFn,
        on_ban: BanFn | None = None,
    ) -> None:
        self._clock = clock
        self._ban_ms = max(1, round(ban_s * 1000.0))
        self._threshold = threshold
        self._max_entries = max_entries
        self._emit = emit
        self._on_ban = on_ban
        self._offences: OrderedDict[str, tuple[int, int]] = OrderedDict()  # peer -> (count, last_ms)
        self._bans: OrderedDict[str, tuple[int, str]] = OrderedDict()  # peer -> (until_ms, reason)
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "misbehaviour",
                "offences_while_banned",
                "offences_evicted",
                "bans",
                "bans_expired",
                "bans_evicted",
                "pardons",
            ),
            0,
        )

    def misbehaved(self, peer_id: str, reason: str) -> None:
        """Record one offence of ``peer_id``; ban it at the threshold."""
        now = self._clock.now_ms()
        self._counts["misbehaviour"] += 1
        if self._banned_at(peer_id, now):
            self._counts["offences_while_banned"] += 1
            logger.debug("banned peer %s misbehaved again (%s)", peer_id, reason)
            return
        count, last = self._offences.pop(peer_id, (0, now))
        if now - last >= self._ban_ms:
            count = 0
        count += 1
        logger.warning("peer %s misbehaved (%s): offence %d of %d", peer_id, reason, count, self._threshold)
        if count >= self._threshold:
            self._ban(peer_id, reason, now)
            return
        self._offences[peer_id] = (count, now)
        while len(self._offences) > self._max_entries:
            self._offences.popitem(last=False)
            self._counts["offences_evicted"] += 1

    def is_banned(self, peer_id: str) -> bool:
        """Whether ``peer_id`` is banned now (ending the ban if its time is up)."""
        return self._banned_at(peer_id, self._clock.now_ms())

    def pardon(self, peer_id: str) -> bool:
        """Lift the ban of ``peer_id`` and forget its offences; ``False`` if it was not banned."""
        self._offences.pop(peer_id, None)
        if self._bans.pop(peer_id, None) is None:
            return False
        self._counts["pardons"] += 1
        self._emit(self._clock.now_ms(), peer_id, "banned", "allowed", "pardoned", "")
        return True

    def expire(self) -> int:
        """End every ban whose time is up; return how many."""
        now = self._clock.now_ms()
        expired = 0
        # Every ban lasts ban_ms, so insertion order is expiry order.
        while self._bans:
            peer_id, (until, _) = next(iter(self._bans.items()))
            if now < until:
                break
            self._expire(peer_id, now)
            expired += 1
        return expired

    def banned(self) -> dict[str, int]:
        """The banned peers and when each ban ends (clock ms), oldest first."""
        self.expire()
        return {peer: until for peer, (until, _) in self._bans.items()}

    def newest_bans(self, limit: int) -> dict[str, dict[str, object]]:
        """The newest ``limit`` bans as ``{peer: {"until_ms", "reason"}}``, newest first."""
        newest = itertools.islice(reversed(self._bans.items()), limit)
        return {peer: {"until_ms": until, "reason": why} for peer, (until, why) in newest}

    def counters(self) -> dict[str, int]:
        """Offences, bans made, expired, evicted, pardons."""
        return dict(self._counts)

    @property
    def ban_count(self) -> int:
        """How many peers are banned (as of the last expiry check)."""
        return len(self._bans)

    @property
    def offender_count(self) -> int:
        """How many peers have offences on record and no ban."""
        return len(self._offences)

    def _ban(self, peer_id: str, reason: str, now: int) -> None:
        until = now + self._ban_ms
        self._bans[peer_id] = (until, reason)
        self._counts["bans"] += 1
        while len(self._bans) > self._max_entries:
            evicted, _ = self._bans.popitem(last=False)
            self._counts["bans_evicted"] += 1
            logger.warning("ban table full: the ban of %s is lifted early", evicted)
        self._emit(now, peer_id, "allowed", "banned", reason, f"until {until} ms")
        if self._on_ban is not None:
            try:
                self._on_ban(peer_id, reason)
            except Exception:
                logger.exception("on_ban callback failed for %s", peer_id)

    def _banned_at(self, peer_id: str, now: int) -> bool:
        entry = self._bans.get(peer_id)
        if entry is None:
            return False
        if now < entry[0]:
            return True
        self._expire(peer_id, now)
        return False

    def _expire(self, peer_id: str, now: int) -> None:
        del self._bans[peer_id]
        self._counts["bans_expired"] += 1
        self._emit(now, peer_id, "banned", "allowed", "ban_expired", "")
