"""The demo's bookkeeping and options, without a mesh: the checks must catch what they claim to."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from swarmmesh.demo import DemoOptions, add_arguments, options_from_args
from swarmmesh.demo.ledger import Ledger
from swarmmesh.demo.topology import adjacency, bfs_within, build_topology, diameter
from swarmmesh.demo.view import Sample, TransportRow, live_view, plain_line, report_lines
from swarmmesh.errors import ConfigError


def by_name(ledger: Ledger) -> dict[str, tuple[bool, bool]]:
    return {c.name: (c.passed, c.required) for c in ledger.checks()}


def unicast(ledger: Ledger, payload: bytes, *, deliver: bool = True, ack: bool = True) -> None:
    ledger.unicast_started(payload, "A", "B")
    if deliver:
        ledger.delivered(
            "B", kind="unicast", message_id=payload, origin="A", payload=payload, transport="gun"
        )
    if ack:
        ledger.unicast_acked(payload, "gun", 3.0)
    else:
        ledger.unicast_failed(payload, "timeout")


def test_clean_run_passes() -> None:
    ledger = Ledger(strict_broadcast=True)
    ledger.begin_phase("all up", 0.0)
    unicast(ledger, b"u1")
    unicast(ledger, b"u2", deliver=True, ack=False)  # delivered, ack lost: not a loss
    ledger.broadcast_sent(b"m1", "A", {"A", "B", "C"})
    for node in ("B", "C"):
        ledger.delivered(
            node, kind="broadcast", message_id=b"m1", origin="A", payload=b"x", transport="integrated"
        )
    checks = by_name(ledger)
    assert all(passed for passed, _ in checks.values()), ledger.checks()
    assert ledger.acked == 1
    assert ledger.failed == 1
    assert ledger.sent == 2
    assert ledger.broadcast_coverage() == (2, 2)
    assert ledger.acked_by() == Counter({"gun": 1})


def test_acknowledged_but_not_delivered_fails() -> None:
    ledger = Ledger(strict_broadcast=False)
    unicast(ledger, b"u1")
    unicast(ledger, b"u2", deliver=False)
    assert ledger.lost_acknowledged() == [b"u2"]
    assert by_name(ledger)["acknowledged delivered"] == (False, True)
    assert "1 of them never reached" in ledger.checks()[0].detail


def test_failed_send_is_not_a_loss() -> None:
    ledger = Ledger(strict_broadcast=False)
    unicast(ledger, b"u1")
    unicast(ledger, b"u2", deliver=False, ack=False)
    assert by_name(ledger)["acknowledged delivered"] == (True, True)


def test_duplicates_and_misaddressed_fail() -> None:
    ledger = Ledger(strict_broadcast=False)
    unicast(ledger, b"u1")
    ledger.delivered("B", kind="unicast", message_id=b"u1", origin="A", payload=b"u1", transport="peerjs")
    ledger.unicast_started(b"u2", "A", "B")
    ledger.delivered("C", kind="unicast", message_id=b"u2", origin="A", payload=b"u2", transport="gun")
    checks = by_name(ledger)
    assert checks["no duplicates"] == (False, True)
    assert checks["delivered where addressed"] == (False, True)
    assert ledger.duplicates == 1


def test_broadcast_coverage_strict_only_when_lossless() -> None:
    for strict in (True, False):
        ledger = Ledger(strict_broadcast=strict)
        unicast(ledger, b"u1")
        # a delivery racing ahead of broadcast() returning still counts
        ledger.delivered("B", kind="broadcast", message_id=b"m1", origin="A", payload=b"x", transport="gun")
        ledger.broadcast_sent(b"m1", "A", {"B", "C"})
        assert ledger.broadcast_coverage() == (1, 2)
        assert by_name(ledger)["broadcast coverage"] == (False, strict)


def test_phases_split_counts() -> None:
    ledger = Ledger(strict_broadcast=False)
    ledger.begin_phase("all up", 0.0)
    unicast(ledger, b"u1")
    ledger.begin_phase("integrated killed", 1.0)
    unicast(ledger, b"u2", ack=False)
    ledger.broadcast_sent(b"m", "A", {"B"})
    assert [p.acked for p in ledger.phases] == [1, 0]
    assert [p.failed for p in ledger.phases] == [0, 1]
    assert ledger.coverage_by_phase() == {1: (0, 1)}


def test_topology_is_connected_and_seeded() -> None:
    labels = [f"n{i}" for i in range(30)]
    a = build_topology(labels, 1, random.Random(5))
    assert a == build_topology(labels, 1, random.Random(5))
    adj: dict[str, set[str]] = {x: set() for x in labels}
    for x, y in a:
        adj[x].add(y)
        adj[y].add(x)
    assert bfs_within(adj, "n0", len(labels)) == set(labels)
    assert bfs_within(adj, "n0", 0) == {"n0"}
    assert bfs_within(adj, "n0", 1) == {"n0", *adj["n0"]}
    line = adjacency(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d")])
    assert diameter(line) == 3
    assert bfs_within(line, "a", 2) == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nodes", 2),
        ("nodes", True),
        ("duration_s", 0.5),
        ("duration_s", 601.0),
        ("loss", 0.5),
        ("loss", float("nan")),
        ("links", 0),
    ],
)
def test_options_validated(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as exc:
        DemoOptions(**{field: value})  # type: ignore[arg-type]
    assert exc.value.field == field


def test_options_from_the_command_line() -> None:
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    o = options_from_args(
        p.parse_args(["--nodes", "6", "--duration", "3", "--loss", "0", "--seed", "9", "--no-live"])
    )
    assert (o.nodes, o.duration_s, o.loss, o.seed, o.live) == (6, 3.0, 0.0, 9, False)
    assert options_from_args(p.parse_args([])).live is None
    assert o.kill_at_s < o.revive_at_s < o.duration_s


def test_views_render() -> None:
    from rich.console import Console

    rows = [
        TransportRow("integrated", False, 0.01, 2.0, 0, 40, 50, 0.2, Counter({"open": 3, "closed": 1})),
        TransportRow("websocket", True, None, None, 5, 9, 9, None),
    ]
    s = Sample(5.0, 10.0, "integrated killed", 8, 12, 100, 90, 2, 30, (200, 210), rows, ["t"], ["kill"])
    line = plain_line(s)
    assert "integrated: KILLED" in line
    assert "1 closed, 3 open" in line
    console = Console(record=True, width=140)
    console.print(live_view(s))
    assert "KILLED" in console.export_text()
    ledger = Ledger(strict_broadcast=False)
    unicast(ledger, b"u1")
    lines = report_lines(ledger, s, ledger.checks(), transport_names=["integrated", "websocket"])
    # no broadcast was sent: coverage fails, but on lossy links it is only a note
    assert any(x.startswith("  [note] broadcast coverage") for x in lines)
    assert lines[-1] == "verdict: OK, nothing acknowledged was lost (exit 0)"
    strict = Ledger(strict_broadcast=True)
    unicast(strict, b"u1")
    lines = report_lines(strict, s, strict.checks(), transport_names=["integrated", "websocket"])
    assert lines[-1] == "verdict: FAILED (exit 1)"
