"""How the demo shows itself: rich tables redrawn in place, or plain lines for pipes and CI.

Everything here renders a :class:`Sample` (a picture of the swarm the scenario takes a few
times a second) or the final report; nothing here touches a mesh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from swarmmesh.demo.ledger import Check, Ledger

__all__ = ["Sample", "TransportRow", "live_view", "plain_line", "report_lines"]

BREAKER_STATES = ("closed", "open", "half_open", "forced_open")


@dataclass(frozen=True, slots=True)
class TransportRow:
    """One transport in a :class:`Sample`."""

    name: str
    up: bool
    loss: float | None  # None: a real transport (WebSocket), not simulated
    latency_ms: float | None
    #: acknowledged sends whose receipt names this transport, in the current phase and in all
    acked_phase: int
    acked_total: int
    #: application deliveries that arrived first on this transport (unicast and broadcast)
    delivered: int
    #: the mean router score of the linked (node, peer) pairs on this transport
    score: float | None
    #: breakers of (peer, transport) pairs, by state
    breakers: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Sample:
    """A picture of the run at ``elapsed_s``."""

    elapsed_s: float
    duration_s: float
    phase: str
    nodes: int
    links: int
    sent: int
    acked: int
    failed: int
    broadcasts: int
    coverage: tuple[int, int]
    transports: Sequence[TransportRow]
    #: the newest breaker transitions, oldest first, already formatted
    transitions: Sequence[str]
    #: the kill / revive lines so far
    timeline: Sequence[str]


def _pct(n: int, d: int) -> str:
    return f"{n / d:.1%}" if d else "-"


def _breakers(counts: Counter[str]) -> str:
    shown = [f"{counts[s]} {s}" for s in BREAKER_STATES if counts[s]]
    return ", ".join(shown) if shown else "-"


def live_view(s: Sample) -> RenderableType:
    """The rich renderable of a sample: progress, delivery, transports, breakers."""
    head = Text.assemble(
        ("swarmmesh demo ", "bold"),
        f"{s.nodes} meshes, {s.links} links  ",
        ("phase: ", "dim"),
        (s.phase, "bold yellow" if "killed" in s.phase else "bold green"),
    )
    shown = min(s.elapsed_s, s.duration_s)
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=s.duration_s, completed=shown, width=60), f"{shown:5.1f} / {s.duration_s:g} s"
    )

    got, expected = s.coverage
    delivery = Table(title="delivery", title_justify="left", expand=False)
    for col in ("unicast sent", "acknowledged", "failed", "ack rate", "broadcasts", "coverage"):
        delivery.add_column(col, justify="right")
    delivery.add_row(
        str(s.sent),
        str(s.acked),
        str(s.failed),
        _pct(s.acked, s.acked + s.failed),
        str(s.broadcasts),
        f"{got}/{expected} ({_pct(got, expected)})",
    )

    tt = Table(title="transports", title_justify="left")
    tt.add_column("transport")
    tt.add_column("state")
    tt.add_column("loss", justify="right")
    tt.add_column("acked (phase)", justify="right")
    tt.add_column("acked (all)", justify="right")
    tt.add_column("first arrivals", justify="right")
    tt.add_column("router score", justify="right")
    tt.add_column("breakers")
    for row in s.transports:
        tt.add_row(
            row.name,
            Text("up", "green") if row.up else Text("KILLED", "bold red"),
            "-" if row.loss is None else f"{row.loss:.0%}",
            str(row.acked_phase),
            str(row.acked_total),
            str(row.delivered),
            "-" if row.score is None else f"{row.score:.3f}",
            _breakers(row.breakers),
        )

    events = Text("\n".join(list(s.timeline) + list(s.transitions[-8:])) or "(no breaker transitions yet)")
    return Group(head, bar, delivery, tt, Text("timeline and breaker transitions", "bold"), events)


def plain_line(s: Sample) -> str:
    """One line of a sample, for ``--no-live``."""
    got, expected = s.coverage
    parts = [
        f"t={s.elapsed_s:4.1f}s [{s.phase}]",
        f"unicast {s.acked}/{s.sent} acked, {s.failed} failed",
        f"broadcast {s.broadcasts} sent, coverage {_pct(got, expected)}",
    ]
    for row in s.transports:
        score = "-" if row.score is None else f"{row.score:.2f}"
        state = "up" if row.up else "KILLED"
        parts.append(
            f"{row.name}: {state} acked {row.acked_phase} score {score} breakers {_breakers(row.breakers)}"
        )
    return " | ".join(parts)


def report_lines(
    ledger: Ledger,
    final: Sample,
    checks: Sequence[Check],
    *,
    transport_names: Sequence[str],
    notes: Sequence[str] = (),
) -> list[str]:
    """The final report: phases, transports, breaker transitions, checks, verdict."""
    lines = ["", "== swarmmesh demo report =="]
    lines.append(
        f"{final.nodes} meshes, {final.links} links, {final.elapsed_s:.1f} s;"
        f" transports: {', '.join(transport_names)}"
    )
    lines.extend(final.timeline)
    lines.append("")
    lines.append("acknowledged unicast sends per phase and transport (the receipt's transport):")
    width = max(len(t) for t in transport_names)
    labels = [f"{tally.name} (from {tally.started_s:.1f} s)" for tally in ledger.phases]
    pw = max([len("phase"), *map(len, labels)]) + 1
    header = "  " + "phase".ljust(pw) + "".join(t.rjust(width + 2) for t in transport_names)
    lines.append(header + "  failed".rjust(10) + "  broadcast coverage")
    coverage = ledger.coverage_by_phase()
    for i, (tally, label) in enumerate(zip(ledger.phases, labels, strict=True)):
        got, expected = coverage.get(i, (0, 0))
        cells = "".join(str(tally.acked_by[t]).rjust(width + 2) for t in transport_names)
        lines.append(
            "  "
            + label.ljust(pw)
            + cells
            + str(tally.failed).rjust(10)
            + f"  {got}/{expected} ({_pct(got, expected)})"
        )
    lines.append("")
    lines.append("transports at the end:")
    for row in final.transports:
        score = "-" if row.score is None else f"{row.score:.3f}"
        loss = (
            "real (loopback)" if row.loss is None else f"loss {row.loss:.0%}, latency {row.latency_ms:.0f} ms"
        )
        lines.append(
            f"  {row.name:<{width}}  {'up' if row.up else 'KILLED':<6} {loss:<26} acked {row.acked_total:>6}"
            f"  first arrivals {row.delivered:>6}  router score {score}  breakers {_breakers(row.breakers)}"
        )
    lines.append("")
    lines.append(f"breaker transitions ({len(final.transitions)} kept, newest last):")
    lines.extend(f"  {t}" for t in final.transitions[-12:])
    lines.extend(notes)
    lines.append("")
    lines.append("checks:")
    for c in checks:
        mark = "PASS" if c.passed else ("FAIL" if c.required else "note")
        lines.append(f"  [{mark}] {c.name}: {c.detail}" + ("" if c.required else " (reported, not required)"))
    ok = all(c.passed for c in checks if c.required)
    lines.append(
        "verdict: " + ("OK, nothing acknowledged was lost" if ok else "FAILED") + f" (exit {0 if ok else 1})"
    )
    return lines
