"""``swarmmesh demo`` end to end: a real (small) swarm, the kill and revival, the verdict."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from swarmmesh import cli
from swarmmesh.clock import SystemClock
from swarmmesh.demo import DemoOptions
from swarmmesh.demo.scenario import run_demo
from swarmmesh.demo.swarm import Swarm
from swarmmesh.mesh.gossip import Message, Subscription
from swarmmesh.transports.base import TransportError

TRANSPORTS = ("integrated", "gun", "peerjs", "websocket")


async def test_small_run_passes_and_reports_the_kill_and_revival() -> None:
    out = io.StringIO()
    result = await run_demo(DemoOptions(nodes=5, duration_s=3.0, seed=3, live=True), out)
    report = "\n".join(result.report)
    assert result.exit_status == 0, report
    assert result.killed == "integrated"
    assert "transports: integrated, gun, peerjs, websocket" in report
    assert "kill integrated: the best transport so far" in report
    assert "revive integrated" in report
    for phase in ("all up", "integrated killed", "integrated revived"):
        assert f"\n  {phase} (from " in report
    for name in TRANSPORTS:
        assert f"\n  {name} " in report  # a row per transport at the end
    assert "\n  integrated: closed -> open x" in report  # the kill opened pair breakers
    assert "[PASS] acknowledged delivered" in report
    assert report.endswith("verdict: OK, nothing acknowledged was lost (exit 0)")
    # the live view was drawn (rich, with the phase banner) before the report
    assert "phase: " in out.getvalue()
    assert {c.name for c in result.checks} >= {"acknowledged delivered", "no duplicates"}


async def test_acks_without_delivery_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sabotage: the receiver acknowledges every third unicast message but drops it."""
    real_offer = Subscription.offer
    seen = [0]

    def lossy_offer(self: Subscription, message: Message) -> bool:
        if message.topic == "demo/unicast":
            seen[0] += 1
            if seen[0] % 3 == 0:
                return True  # "accepted" (so the mesh acks it) but never queued
        return real_offer(self, message)

    monkeypatch.setattr(Subscription, "offer", lossy_offer)
    result = await run_demo(DemoOptions(nodes=4, duration_s=1.5, seed=5, live=False), io.StringIO())
    report = "\n".join(result.report)
    assert seen[0] >= 3
    assert result.exit_status == 1
    assert "[FAIL] acknowledged delivered" in report
    assert report.endswith("verdict: FAILED (exit 1)")


def test_the_swarm_is_seeded() -> None:
    a = Swarm(DemoOptions(nodes=12, seed=7), SystemClock())
    b = Swarm(DemoOptions(nodes=12, seed=7), SystemClock())
    c = Swarm(DemoOptions(nodes=12, seed=8), SystemClock())
    assert a.edges == b.edges
    assert a.edges != c.edges
    assert a.ttl == b.ttl >= 8


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--nodes", "2"]) == 2
    assert "invalid config field `nodes`" in capsys.readouterr().err


def test_setup_failure_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def no_links(self: Swarm) -> None:
        raise TransportError("websocket", "ws-a is not listening", code="state")

    monkeypatch.setattr(Swarm, "link", no_links)
    assert cli.main(["demo", "--nodes", "3", "--duration", "1", "--no-live"]) == 1
    assert "swarmmesh demo: TransportError: [websocket] ws-a is not listening" in capsys.readouterr().err


def test_command_line_run() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "swarmmesh", "demo", "--nodes", "6", "--duration", "3", "--no-live"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "transport integrated: loss 1%" in out
    assert "kill integrated" in out
    assert "revive integrated" in out
    assert out.rstrip().endswith("verdict: OK, nothing acknowledged was lost (exit 0)")
    assert "\x1b[" not in out  # plain text when stdout is a pipe
    assert done.stderr == ""
