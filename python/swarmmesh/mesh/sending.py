"""One acknowledged send: the attempts of a route plan, its hedges, fallbacks and deadline.

A :class:`SendOp` is driven by callbacks (attempt finished, ack arrived, timer fired) rather
than by one task per outcome, so a send costs one small task per attempt and a few clock
timers. The rules:

* the plan's ``now`` transports start at once; each hedge starts after its delay unless an
  ack came first, or at once when every attempt in flight has failed;
* fallbacks start, one at a time, only when nothing is in flight and no hedge is left;
* an attempt that could not be made at all (no link and the dial failed, the breaker
  refused, the link dropped before the write) is not a route: the routes not started yet
  are planned again at once (a *reroute*), so the next transport becomes the primary with
  its own hedge, instead of taking the failed one's place alone with the route after it
  waiting, as a fallback, for its full attempt timeout;
* when every route of the plan failed, the send plans again (fresh estimates and breakers),
  up to ``MeshConfig.send_rounds`` plans, within its deadline;
* the first ack resolves the send (:class:`~swarmmesh.mesh.gossip.Receipt`); hedges and
  fallbacks not yet started are cancelled (the losers);
* an attempt already written keeps its ack timer after the send resolved, so its late ack
  (or its timeout) still feeds the router and the breakers, and a half-open breaker's probe
  is always answered;
* the send's deadline fails it with ``DeliveryError(code="timeout")``.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import TYPE_CHECKING, Final

from swarmmesh.clock import TimerHandle
from swarmmesh.errors import DeliveryError
from swarmmesh.mesh.gossip import Receipt

if TYPE_CHECKING:
    from swarmmesh.mesh.orchestrator import Mesh

__all__ = ["AttemptError", "SendOp"]

_STARTING: Final = 0
_SENT: Final = 1
_DONE: Final = 2


class AttemptError(Exception):
    """An attempt could not be made.

    ``reason`` is a short code; ``recorded`` says the breaker has already counted it (a
    failed dial), ``count`` whether it is a failure at all.
    """

    def __init__(self, reason: str, *, recorded: bool = False, count: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.recorded = recorded
        self.count = count


class _Attempt:
    __slots__ = ("sent_at", "state", "timer", "transport")

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.state = _STARTING
        self.sent_at = 0.0
        self.timer: TimerHandle | None = None


class SendOp:
    """The state of one ``Mesh.send`` (see the module docstring)."""

    __slots__ = (
        "_attempts",
        "_budget",
        "_deadline",
        "_fallbacks",
        "_fut",
        "_hedges",
        "_hybrid",
        "_mesh",
        "_reasons",
        "_rounds",
        "frame",
        "msg_id",
        "peer_id",
    )

    def __init__(self, mesh: Mesh, peer_id: str, msg_id: bytes, frame: bytes, budget_s: float) -> None:
        """Prepare a send of ``frame`` (an encoded data envelope) to ``peer_id``."""
        self._mesh = mesh
        self.peer_id = peer_id
        self.msg_id = msg_id
        self.frame = frame
        self._budget = budget_s
        self._attempts: list[_Attempt] = []
        self._hedges: list[tuple[str, TimerHandle]] = []
        self._fallbacks: deque[str] = deque()
        self._reasons: list[tuple[str, str]] = []
        self._fut: asyncio.Future[Receipt] | None = None
        self._deadline: TimerHandle | None = None
        self._rounds = 0
        self._hybrid = True

    @property
    def wanted(self) -> bool:
        """Whether the send still waits for an ack (a loser should not be written)."""
        return self._fut is not None and not self._fut.done()

    async def run(self) -> Receipt:
        """Plan, start the attempts and wait for the first ack (or the failure of every route)."""
        mesh = self._mesh
        self._hybrid = mesh.hybrid
        now, hedges, fallbacks = mesh.plan_routes(self.peer_id)
        if not now:
            mesh.forget_send(self.msg_id)
            raise DeliveryError(self.peer_id, "no transport can reach it now", code="no_route")
        self._fut = asyncio.get_running_loop().create_future()
        self._deadline = mesh.schedule(self._budget, self._expire)
        mesh.note_first_attempt(now[0])
        self._rounds = 1
        self._start(now, hedges, fallbacks)
        try:
            return await self._fut
        except asyncio.CancelledError:
            self._finish_with(DeliveryError(self.peer_id, "cancelled", code="stopped"))
            raise
        finally:
            self._deadline.cancel()
            self._cancel_pending()
            self._maybe_forget()

    # -- attempts

    def _launch(self, transport: str) -> None:
        a = _Attempt(transport)
        self._attempts.append(a)
        self._mesh.count("attempts")
        self._mesh.spawn(self._run_attempt(a))

    async def _run_attempt(self, a: _Attempt) -> None:
        mesh = self._mesh
        try:
            await mesh.attempt(a.transport, self)
        except AttemptError as exc:
            self._failed(a, exc.reason, breaker=not exc.recorded, router=exc.count)
            return
        except asyncio.CancelledError:
            a.state = _DONE
            self._maybe_forget()
            raise
        a.state = _SENT
        a.sent_at = mesh.clock.now()
        a.timer = mesh.schedule(
            mesh.attempt_timeout(self.peer_id, a.transport), functools.partial(self._timed_out, a)
        )

    def _timed_out(self, a: _Attempt) -> None:
        if a.state == _SENT:
            self._failed(a, "timeout", breaker=True, router=True)

    def _failed(self, a: _Attempt, reason: str, *, breaker: bool, router: bool) -> None:
        unsent = a.state == _STARTING
        a.state = _DONE
        if a.timer is not None:
            a.timer.cancel()
        if router:
            self._mesh.observe(self.peer_id, a.transport, False, None, reason, breaker=breaker)
        self._reasons.append((a.transport, reason))
        self._mesh.count(f"attempt_failed:{reason}")
        self._next(unsent=unsent)

    def _next(self, *, unsent: bool = False) -> None:
        if not self.wanted:
            self._maybe_forget()
            return
        if unsent and self._reroute():
            return
        if self._hedges:
            name, timer = self._hedges.pop(0)
            timer.cancel()
            self._mesh.count("hedges_early")
            self._launch(name)
            return
        if any(a.state != _DONE for a in self._attempts):
            return
        if self._fallbacks:
            self._mesh.count("fallbacks")
            self._launch(self._fallbacks.popleft())
            return
        if self._rounds < self._mesh.config.send_rounds and self._replan():
            return
        n = len(self._attempts)
        self._finish_with(
            DeliveryError(self.peer_id, f"all {n} attempts failed", attempts=n, reasons=tuple(self._reasons))
        )

    def _reroute(self) -> bool:
        """An attempt could not be made: plan the routes not started yet again, at once.

        Launching the next hedge early in the failed attempt's place would leave that hedge
        unhedged, and the route after it a fallback that starts only after the hedge's full
        attempt timeout: a best transport that is down (no link, dials refused) would cost
        every send its hedging. The new plan counts the attempts still in flight against
        ``max_parallel``. Hybrid plans only (a legacy plan is sequential by design).
        """
        if not (self._hybrid and self._mesh.hybrid) or not (self._hedges or self._fallbacks):
            return False
        rest = [name for name, _ in self._hedges]
        rest.extend(self._fallbacks)
        busy = sum(1 for a in self._attempts if a.state != _DONE)
        now, hedges, fallbacks = self._mesh.plan_routes(self.peer_id, among=rest, busy=busy)
        if not now:
            return False
        for _, timer in self._hedges:
            timer.cancel()
        self._hedges.clear()
        self._fallbacks.clear()
        self._mesh.count("reroutes")
        self._start(now, hedges, fallbacks)
        return True

    def _replan(self) -> bool:
        """Every route of the plan failed: plan again (fresh estimates, breakers) if time is left."""
        now, hedges, fallbacks = self._mesh.plan_routes(self.peer_id)
        if not now:
            return False
        self._rounds += 1
        self._hybrid = self._mesh.hybrid
        self._mesh.count("replans")
        self._start(now, hedges, fallbacks)
        return True

    def _start(self, now: list[str], hedges: list[tuple[str, int]], fallbacks: list[str]) -> None:
        mesh = self._mesh
        for name in now:
            self._launch(name)
        for name, delay_ms in hedges:
            self._hedges.append(
                (name, mesh.schedule(delay_ms / 1000.0, functools.partial(self._fire_hedge, name)))
            )
        self._fallbacks.extend(fallbacks)

    def _fire_hedge(self, name: str) -> None:
        for i, (hname, _) in enumerate(self._hedges):
            if hname == name:
                del self._hedges[i]
                break
        else:
            return
        if self.wanted:
            self._mesh.count("hedges")
            self._launch(name)

    # -- answers

    def acked(self, transport: str) -> None:
        """An ack arrived over ``transport``."""
        a = next((x for x in self._attempts if x.transport == transport and x.state == _SENT), None)
        if a is None:
            self._mesh.count("late_acks")
            return
        a.state = _DONE
        if a.timer is not None:
            a.timer.cancel()
        rtt_ms = (self._mesh.clock.now() - a.sent_at) * 1000.0
        self._mesh.observe(self.peer_id, transport, True, rtt_ms)
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(Receipt(transport, rtt_ms, len(self._attempts)))
            self._cancel_pending()
        self._maybe_forget()

    def rejected(self, transport: str, reason: str) -> None:
        """The peer refused the message (a nack over ``transport``): the link worked, the send fails."""
        a = next((x for x in self._attempts if x.transport == transport and x.state == _SENT), None)
        if a is None:
            return
        a.state = _DONE
        if a.timer is not None:
            a.timer.cancel()
        self._mesh.observe(self.peer_id, transport, True, (self._mesh.clock.now() - a.sent_at) * 1000.0)
        n = len(self._attempts)
        self._finish_with(DeliveryError(self.peer_id, f"refused: {reason}", code="rejected", attempts=n))

    def _expire(self) -> None:
        n = len(self._attempts)
        self._finish_with(
            DeliveryError(
                self.peer_id,
                f"no ack within {self._budget} s",
                code="timeout",
                attempts=n,
                reasons=tuple(self._reasons),
            )
        )

    def abort(self, reason: str) -> None:
        """Fail the send (the mesh stops) and drop every timer."""
        self._finish_with(DeliveryError(self.peer_id, reason, code="stopped", attempts=len(self._attempts)))
        for a in self._attempts:
            if a.timer is not None:
                a.timer.cancel()
            a.state = _DONE
        self._maybe_forget()

    def _finish_with(self, exc: DeliveryError) -> None:
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        self._cancel_pending()

    def _cancel_pending(self) -> None:
        for _, timer in self._hedges:
            timer.cancel()
        if self._hedges:
            self._mesh.count("hedges_cancelled", len(self._hedges))
        self._hedges.clear()
        self._fallbacks.clear()

    def _maybe_forget(self) -> None:
        if not self.wanted and all(a.state == _DONE for a in self._attempts):
            self._mesh.forget_send(self.msg_id)
