"""The demo's timeline: traffic, the kill of the best transport, its revival, the final checks.

:func:`run_demo` builds the :class:`~swarmmesh.demo.swarm.Swarm`, then for
``options.duration_s`` seconds runs ``options.sender_count`` streams of acknowledged unicast
sends between linked nodes and a stream of signed broadcasts from random nodes. At 40 % of
the run it kills the transport that carried the most acknowledged sends so far (the
integrated one, normally) on the whole :class:`~swarmmesh.MemoryNetwork`; at 70 % it
revives it. A sampler draws the swarm a few times a second (rich, or one plain line a
second). When the time is up, the streams stop, sends in flight finish (acknowledged or
not), gossip settles, and the :class:`~swarmmesh.demo.ledger.Ledger` judges the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.live import Live

from swarmmesh import DeliveryError, Message
from swarmmesh.clock import SystemClock
from swarmmesh.demo.ledger import Check, Ledger
from swarmmesh.demo.options import MEMORY_TRANSPORTS, DemoOptions
from swarmmesh.demo.swarm import WS_TRANSPORT, Swarm
from swarmmesh.demo.view import Sample, TransportRow, live_view, plain_line, report_lines
from swarmmesh.mesh.gossip import Subscription
from swarmmesh.mesh.resilience import ResilienceEvent

__all__ = ["DemoResult", "run_demo"]

UNICAST_TOPIC = "demo/unicast"
BROADCAST_TOPIC = "demo/broadcast"
#: Samples per second (live) and plain lines per second.
LIVE_HZ = 4.0
PLAIN_EVERY_S = 1.0
#: How long gossip may take to settle after the traffic stops.
SETTLE_MAX_S = 2.0
SETTLE_QUIET_S = 0.3
#: Breaker states in life-cycle order (for the transition summary).
_LIFE = {"closed": 0, "open": 1, "half_open": 2, "forced_open": 3}
#: Breaker transitions kept for the report.
MAX_TRANSITIONS = 2000


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What a run ended with: the verdicts, the report lines, and the exit status."""

    checks: tuple[Check, ...]
    report: tuple[str, ...]
    killed: str

    @property
    def ok(self) -> bool:
        """Whether every required check passed."""
        return all(c.passed for c in self.checks if c.required)

    @property
    def exit_status(self) -> int:
        """0 when :attr:`ok`, else 1."""
        return 0 if self.ok else 1


class _Run:
    """The state of one run (the swarm, the books, the tasks)."""

    def __init__(self, options: DemoOptions, swarm: Swarm, out: TextIO, live: bool) -> None:
        self.options = options
        self.swarm = swarm
        self.out = out
        self.live = live
        self.clock = swarm.clock
        self.ledger = Ledger(strict_broadcast=options.loss == 0.0)
        self.t0 = 0.0
        self.stopping = asyncio.Event()
        self.killed: str | None = None
        self.timeline: list[str] = []
        self.transitions: list[str] = []
        self.transition_counts: Counter[tuple[str, str, str]] = Counter()
        self._last_event: dict[str, ResilienceEvent | None] = {}
        self._next_plain = 0.0

    def elapsed(self) -> float:
        return self.clock.now() - self.t0

    # ------------------------------------------------------------ traffic

    async def consume(self, label: str, kind: str, messages: AsyncIterator[Message]) -> None:
        node = self.swarm.nodes[label].peer_id
        async for m in messages:
            self.ledger.delivered(
                node,
                kind=kind,
                message_id=m.message_id,
                origin=m.origin,
                payload=m.payload,
                transport=m.transport,
            )

    async def unicast_stream(self, k: int) -> None:
        rng = random.Random(self.options.seed * 7919 + k)
        edges = self.swarm.edges
        seq = 0
        while not self.stopping.is_set():
            a, b = rng.choice(edges)
            if rng.random() < 0.5:
                a, b = b, a
            seq += 1
            payload = f"u{k}.{seq}:{a}->{b}".encode()
            src, dst = self.swarm.nodes[a], self.swarm.nodes[b]
            self.ledger.unicast_started(payload, src.peer_id, dst.peer_id)
            try:
                receipt = await src.mesh.send(dst.peer_id, UNICAST_TOPIC, payload)
            except DeliveryError as exc:
                self.ledger.unicast_failed(payload, exc.code)
            else:
                self.ledger.unicast_acked(payload, receipt.transport, receipt.rtt_ms)
            await self._pause(self.options.send_interval_s)

    async def broadcast_stream(self) -> None:
        rng = random.Random(self.options.seed * 104_729)
        labels = self.swarm.labels
        seq = 0
        while not self.stopping.is_set():
            label = rng.choice(labels)
            seq += 1
            node = self.swarm.nodes[label]
            mid = await node.mesh.broadcast(BROADCAST_TOPIC, f"b{seq} from {label}".encode())
            self.ledger.broadcast_sent(mid, node.peer_id, self.swarm.reachable(label))
            await self._pause(self.options.broadcast_interval_s)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()

    # ------------------------------------------------------------ the timeline

    async def timeline_task(self) -> None:
        o = self.options
        await self.clock.sleep(o.kill_at_s)
        self.killed = self._best()
        done = self.ledger.phase.acked_by
        self.swarm.network.kill(self.killed)
        self._note(
            f"kill {self.killed}: the best transport so far ({done[self.killed]} of"
            f" {sum(done.values())} acknowledged sends), on every node"
        )
        self.ledger.begin_phase(f"{self.killed} killed", self.elapsed())
        await self.clock.sleep(max(0.0, o.revive_at_s - self.elapsed()))
        self.swarm.network.revive(self.killed)
        self._note(f"revive {self.killed}: links restored, breakers recover through half-open")
        self.ledger.begin_phase(f"{self.killed} revived", self.elapsed())

    def _best(self) -> str:
        acked = self.ledger.phase.acked_by
        names = [p.name for p in MEMORY_TRANSPORTS]  # listed best first: ties go to the lower loss
        return max(names, key=lambda n: (acked[n], -names.index(n)))

    def _note(self, text: str) -> None:
        line = f"t={self.elapsed():4.1f}s {text}"
        self.timeline.append(line)
        if not self.live:
            print(line, file=self.out, flush=True)

    # ------------------------------------------------------------ sampling

    def collect_transitions(self) -> None:
        for label, node in self.swarm.nodes.items():
            events = node.mesh.resilience.events()
            last = self._last_event.get(label)
            start = 0
            if last is not None:
                for i in range(len(events) - 1, -1, -1):
                    if events[i] is last:
                        start = i + 1
                        break
            for ev in events[start:]:
                if ev.kind != "pair":
                    continue
                t = ev.transport or "?"
                self.transition_counts[(t, ev.from_state, ev.to_state)] += 1
                if len(self.transitions) < MAX_TRANSITIONS:
                    self.transitions.append(
                        f"t={self.elapsed():4.1f}s {label} -> {self.swarm.label(ev.peer)} on {t}:"
                        f" {ev.from_state} -> {ev.to_state} ({ev.reason})"
                    )
            if events:
                self._last_event[label] = events[-1]

    def transition_summary(self) -> list[str]:
        """Every pair-breaker transition of the run, counted per transport and change."""
        lines = ["breaker transitions in all (every node's pair breakers):"]
        for name in self.swarm.transport_names:
            counts = {(f, t): n for (tn, f, t), n in self.transition_counts.items() if tn == name}
            ordered = sorted(counts.items(), key=lambda kv: (_LIFE.get(kv[0][0], 9), kv[0][1]))
            shown = ", ".join(f"{f} -> {t} x{n}" for (f, t), n in ordered)
            lines.append(f"  {name}: {shown or 'none'}")
        return lines

    def sample(self) -> Sample:
        self.collect_transitions()
        now_ms = self.clock.now_ms()
        scores: dict[str, list[float]] = {t: [] for t in self.swarm.transport_names}
        breakers: dict[str, Counter[str]] = {t: Counter() for t in self.swarm.transport_names}
        for x, y, t in self.swarm.directed_links():
            mesh, peer = self.swarm.nodes[x].mesh, self.swarm.nodes[y].peer_id
            scores[t].append(mesh.router.score(peer, t, now_ms))
            breakers[t][mesh.resilience.state(peer, t)] += 1
        phase_acked = self.ledger.phase.acked_by
        total_acked = self.ledger.acked_by()
        rows = []
        for p in MEMORY_TRANSPORTS:
            rows.append(
                TransportRow(
                    name=p.name,
                    up=not self.swarm.network.is_killed(p.name, self.swarm.nodes["ws-a"].peer_id),
                    loss=p.loss(self.options.loss),
                    latency_ms=p.latency_ms,
                    acked_phase=phase_acked[p.name],
                    acked_total=total_acked[p.name],
                    delivered=self.ledger.delivered_by[p.name],
                    score=_mean(scores[p.name]),
                    breakers=breakers[p.name],
                )
            )
        rows.append(
            TransportRow(
                name=WS_TRANSPORT,
                up=True,
                loss=None,
                latency_ms=None,
                acked_phase=phase_acked[WS_TRANSPORT],
                acked_total=total_acked[WS_TRANSPORT],
                delivered=self.ledger.delivered_by[WS_TRANSPORT],
                score=_mean(scores[WS_TRANSPORT]),
                breakers=breakers[WS_TRANSPORT],
            )
        )
        return Sample(
            elapsed_s=self.elapsed(),
            duration_s=self.options.duration_s,
            phase=self.ledger.phase.name,
            nodes=len(self.swarm.nodes),
            links=len(self.swarm.edges),
            sent=self.ledger.sent,
            acked=self.ledger.acked,
            failed=self.ledger.failed,
            broadcasts=self.ledger.broadcasts,
            coverage=self.ledger.broadcast_coverage(),
            transports=rows,
            transitions=self.transitions,
            timeline=self.timeline,
        )

    async def sampler(self, live: Live | None) -> None:
        while True:
            s = self.sample()
            if live is not None:
                live.update(live_view(s), refresh=True)
            elif s.elapsed_s >= self._next_plain:
                self._next_plain += PLAIN_EVERY_S
                print(plain_line(s), file=self.out, flush=True)
            await self.clock.sleep(1.0 / LIVE_HZ)

    async def settle(self) -> None:
        """Wait for gossip to settle: coverage unchanged for a while, bounded."""
        deadline = self.clock.now() + SETTLE_MAX_S
        last, quiet_since = self.ledger.broadcast_coverage(), self.clock.now()
        while self.clock.now() < deadline:
            await self.clock.sleep(0.05)
            cov = self.ledger.broadcast_coverage()
            if cov[0] >= cov[1]:
                return
            if cov != last:
                last, quiet_since = cov, self.clock.now()
            elif self.clock.now() - quiet_since >= SETTLE_QUIET_S:
                return


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> DemoResult:
    """Run the demo with ``options``, printing to ``out`` (default stdout); return its result."""
    out = sys.stdout if out is None else out
    live = options.live if options.live is not None else out.isatty()
    clock = SystemClock()
    async with Swarm(options, clock) as swarm:
        run = _Run(options, swarm, out, live)
        subs: list[tuple[str, str, Subscription]] = []
        for label, node in swarm.nodes.items():
            subs.append((label, "unicast", node.mesh.subscribe(UNICAST_TOPIC)))
            subs.append((label, "broadcast", node.mesh.subscribe(BROADCAST_TOPIC)))
        if not live:
            print(
                f"swarmmesh demo: {len(swarm.nodes)} meshes ({options.nodes} on a MemoryNetwork +"
                f" 2 over WebSocket on 127.0.0.1), {len(swarm.edges)} links, seed {options.seed},"
                f" {options.duration_s:g} s",
                file=out,
                flush=True,
            )
            for p in MEMORY_TRANSPORTS:
                print(
                    f"  transport {p.name}: loss {p.loss(options.loss):.0%}, latency {p.latency_ms:g}"
                    f" +- {p.jitter_ms:g} ms",
                    file=out,
                )
            print(f"  transport {WS_TRANSPORT}: a real socket between ws-a and ws-b", file=out, flush=True)
        await swarm.link()
        console = Console(file=out, force_terminal=live or None)
        live_ctx = Live(console=console, auto_refresh=False, transient=False) if live else None
        async with asyncio.TaskGroup() as tg:
            consumers = [tg.create_task(run.consume(*s)) for s in subs]
            run.t0 = clock.now()
            run.ledger.begin_phase("all up", 0.0)
            with live_ctx if live_ctx is not None else contextlib.nullcontext():
                sampler = tg.create_task(run.sampler(live_ctx))
                traffic = [tg.create_task(run.unicast_stream(k)) for k in range(options.sender_count)]
                traffic.append(tg.create_task(run.broadcast_stream()))
                timeline = tg.create_task(run.timeline_task())
                await clock.sleep(options.duration_s)
                run.stopping.set()
                await asyncio.gather(*traffic)
                await timeline
                await run.settle()
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                final = run.sample()
                if live_ctx is not None:
                    live_ctx.update(live_view(final), refresh=True)
            for _, _, sub in subs:
                sub.close()  # the consumers drain what is queued, then end
            await asyncio.gather(*consumers)
    checks = run.ledger.checks()
    lines = report_lines(
        run.ledger, final, checks, transport_names=swarm.transport_names, notes=run.transition_summary()
    )
    for line in lines:
        print(line, file=out)
    out.flush()
    return DemoResult(tuple(checks), tuple(lines), run.killed or "")
