"""Turn benchmark results into docs/benchmarks.md (no number in that file is typed by hand).

Usage::

    python benches/report.py --python .ci/out/bench.json [--criterion target/criterion] \
        [--out docs/benchmarks.md] [--mode full|short]

It reads one pytest-benchmark JSON file (the rival comparisons, all measured in the
same process) and, if given, criterion's ``target/criterion`` folder (the Rust core
alone), and writes a Markdown page: the machine, date and commit; the issue's
performance goals with the measured ratio and whether each is met; then every
benchmark group with time per item and the ratio of each rival to swarmmesh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    group: str
    name: str
    median_s: float
    min_s: float
    rounds: int
    items: int
    extra: dict[str, Any]

    @property
    def per_item_s(self) -> float:
        return self.median_s / self.items

    @property
    def is_ours(self) -> bool:
        return "swarmmesh" in self.name


def _items(extra: dict[str, Any]) -> int:
    for key in ("items", "calls_per_round"):
        if key in extra:
            return int(extra[key])
    return 1


def load_python(path: Path) -> list[Row]:
    data = json.loads(path.read_text())
    rows = []
    for b in data["benchmarks"]:
        s = b["stats"]
        extra = b.get("extra_info", {})
        rows.append(
            Row(
                group=b.get("group") or "(ungrouped)",
                name=b["name"].removeprefix("test_"),
                median_s=s["median"],
                min_s=s["min"],
                rounds=s["rounds"],
                items=_items(extra),
                extra=extra,
            )
        )
    return rows


def load_criterion(folder: Path) -> list[tuple[str, float, str]]:
    out = []
    for est in sorted(folder.glob("**/new/estimates.json")):
        bench = est.parent.parent
        meta = json.loads((est.parent / "benchmark.json").read_text())
        mean_ns = json.loads(est.read_text())["mean"]["point_estimate"]
        tp = meta.get("throughput") or {}
        elements = tp.get("Elements") if isinstance(tp, dict) else None
        note = ""
        if elements:
            note = f"{elements / (mean_ns * 1e-9) / 1e6:.2f} M elements/s"
        out.append((meta.get("full_id", str(bench.relative_to(folder))), mean_ns, note))
    return out


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores of {cpu}{mem}, {system}, Python {platform.python_version()}"


def commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def find(rows: list[Row], group_prefix: str, name_part: str) -> Row | None:
    for r in rows:
        if r.group.startswith(group_prefix) and name_part in r.name:
            return r
    return None


def goals(rows: list[Row]) -> list[tuple[str, str, str, str]]:
    """(goal, target, measured, verdict) for each performance goal of the issue."""
    out: list[tuple[str, str, str, str]] = []

    def ratio_goal(
        label: str, target: float, ours: Row | None, rival: Row | None, *, recorded: str | None = None
    ) -> None:
        """``recorded``: the name of a ratio ``ours`` measured itself against the rival (timed
        alternately in one test), preferred to comparing two rows timed at different moments."""
        if ours is None or rival is None:
            out.append((label, f">= {target:g}x", "not measured in this run", "-"))
            return
        ratio = rival.per_item_s / ours.per_item_s
        if recorded is not None and recorded in ours.extra:
            ratio = float(ours.extra[recorded])
        verdict = "met" if ratio >= target else f"missed ({ratio / target:.0%} of goal)"
        out.append((label, f">= {target:g}x", f"{ratio:.2f}x", verdict))

    single = "dedup: one call per id"
    ours = find(rows, single, "DedupFilter.check_and_insert")
    ratio_goal(
        "DedupFilter.check_and_insert vs rbloom add (builtin hash)",
        1.0,
        ours,
        find(rows, single, "rbloom.add (builtin"),
    )
    ratio_goal(
        "DedupFilter.check_and_insert vs rbloom add (seeded bytes hash)",
        1.0,
        ours,
        find(rows, single, "rbloom.add (seeded"),
    )
    batch = "dedup: batch of"
    ours = find(rows, batch, "check_and_insert_many (numpy")
    ratio_goal(
        "check_and_insert_many vs rbloom update (builtin hash), per id",
        5.0,
        ours,
        find(rows, batch, "rbloom.update (builtin"),
    )
    ratio_goal(
        "check_and_insert_many vs rbloom update (seeded bytes hash), per id",
        5.0,
        ours,
        find(rows, batch, "rbloom.update (seeded"),
    )
    ratio_goal(
        "BreakerRegistry allow+record_success vs pybreaker call",
        5.0,
        find(rows, "breaker-call", "swarmmesh"),
        find(rows, "breaker-call", "pybreaker"),
    )
    ratio_goal(
        "create 100 000 breakers vs pybreaker",
        20.0,
        find(rows, "breaker-create", "swarmmesh"),
        find(rows, "breaker-create", "pybreaker"),
    )
    mem = find(rows, "breaker-memory", "swarmmesh")
    if mem is not None and "bytes_per_breaker" in mem.extra:
        per = float(mem.extra["bytes_per_breaker"])
        out.append(
            ("bytes per tracked breaker (RSS)", "<= 100 B", f"{per:.1f} B", "met" if per <= 100 else "missed")
        )
    rank = find(rows, "router.rank (3", "swarmmesh")
    if rank is not None:
        rate = 1 / rank.per_item_s
        out.append(
            (
                "Router.rank over 3 transports",
                ">= 1 M/s",
                f"{rate / 1e6:.2f} M/s",
                "met" if rate >= 1e6 else f"missed ({rate / 1e6:.0%} of goal)",
            )
        )
    merkle = "chain-merkle"
    ratio_goal(
        "merkle_root of a block's ids vs a pure-Python hashlib loop",
        10.0,
        find(rows, merkle, "merkle_root (all cores)"),
        find(rows, merkle, "pure-Python"),
    )
    header_hash = "chain-header-hash"
    ours_header = find(rows, header_hash, "from_bytes(raw).id")
    bare = find(rows, header_hash, "hashlib")
    if ours_header is not None and bare is not None:
        slow = ours_header.per_item_s / bare.per_item_s
        out.append(
            (
                "header hashing from Python (BlockHeader.from_bytes(raw).id) vs bare hashlib.sha256",
                "<= 1.5x the time",
                f"{slow:.2f}x",
                "met" if slow <= 1.5 else "missed",
            )
        )
    validate = "chain-validate-1000tx"
    one_core = find(rows, validate, "validate_1000tx_swarmmesh_1thread")
    ratio_goal(
        "1 000-tx block validated end to end on one core vs pynacl verifying its signatures one by one"
        " (senders' keys seen before, as at pool admission)",
        4.0,
        one_core,
        find(rows, validate, "pynacl"),
        recorded="ratio_vs_pynacl",
    )
    cold = find(rows, validate, "validate_1000tx_cold_keys_swarmmesh_1thread")
    ratio_goal(
        "the same, every sender's key new to the node (decompressed-key cache empty)",
        4.0,
        cold,
        find(rows, validate, "pynacl"),
        recorded="ratio_vs_pynacl",
    )
    if one_core is not None:
        rate = 1 / one_core.per_item_s
        out.append(
            (
                "validating a 1 000-transaction block end to end (one core)",
                ">= 50 000 tx/s",
                f"{rate:,.0f} tx/s",
                "met" if rate >= 50_000 else f"missed ({rate / 50_000:.0%} of goal)",
            )
        )
    orchestration = find(rows, "mesh-orchestration", "swarmmesh")
    if orchestration is not None and "us_per_message" in orchestration.extra:
        us = float(orchestration.extra["us_per_message"])
        out.append(
            (
                "orchestration per message (dedup + plan + breaker + observe)",
                "< 3 us",
                f"{us:.2f} us",
                "met" if us < 3 else f"missed ({3 / us:.0%} of goal)",
            )
        )
    pubsub = "mesh: pubsub"
    ratio_goal(
        "mesh broadcast message rate vs py-libp2p floodsub, two nodes",
        30.0,
        find(rows, pubsub, "swarmmesh Mesh.broadcast"),
        find(rows, pubsub, "py-libp2p"),
    )
    many = find(rows, "router.rank_many", "swarmmesh")
    if many is not None:
        ms = many.median_s * 1e3
        out.append(
            ("Router.rank_many, 10 000 peers", "< 5 ms", f"{ms:.2f} ms", "met" if ms < 5 else "missed")
        )
    return out


def render_memory(group: str, members: list[Row]) -> list[str]:
    """Memory groups: the bytes each benchmark recorded, not its timing."""
    table: list[tuple[str, float]] = []
    for r in members:
        for key, value in r.extra.items():
            if key == "bytes_per_breaker":
                table.append((r.name, float(value)))
            elif key == "bytes_per_id" and isinstance(value, dict):
                table += [(str(k), float(v)) for k, v in value.items()]
    ours = next((b for name, b in table if "swarmmesh" in name), None)
    lines = [f"### {group}", "", "| structure | bytes per item | vs swarmmesh |", "|---|---|---|"]
    for name, b in sorted(table, key=lambda x: x[1]):
        rel = "-" if ours is None or "swarmmesh" in name else f"{b / ours:.2f}x"
        lines.append(f"| {name} | {b:.1f} | {rel} |")
    return [*lines, ""]


def render(rows: list[Row], crit: list[tuple[str, float, str]], mode: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benches/report.py` from one pytest-benchmark run (every rival measured in the same",
        "process, on the same inputs) and criterion's output for the Rust core. Do not edit the numbers by",
        "hand: rerun `bash benches/run.sh` and commit the result.",
        "",
        f"- Machine: {machine()}",
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Commit: {commit()}",
        f"- Mode: {mode} (short mode shrinks data sets for CI; goals are judged on full runs)",
        "- Times are medians over rounds; ratio = rival time per item / swarmmesh time per item (higher is",
        "  better for swarmmesh). The machine is a shared 2-vCPU VM: absolute numbers move by up to 2x",
        "  between runs; ratios within one run are steadier.",
        "",
        "## Goals (Foundation, chain and mesh issues)",
        "",
        "| goal | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {g} | {t} | {m} | {v} |" for g, t, m, v in goals(rows)]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    lines += ["", "## Python, through the FFI, against rival libraries", ""]
    for group, members in groups.items():
        if "memory" in group:
            lines += render_memory(group, members)
            continue
        ours = next((r for r in members if r.is_ours), None)
        lines += [
            f"### {group}",
            "",
            "| benchmark | per item (median) | per item (min) | items/call | rounds | vs swarmmesh |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(members, key=lambda r: r.per_item_s):
            rel = "-" if ours is None or r is ours else f"{r.per_item_s / ours.per_item_s:.2f}x"
            lines.append(
                f"| {r.name} | {fmt_time(r.per_item_s)} | {fmt_time(r.min_s / r.items)} "
                f"| {r.items} | {r.rounds} | {rel} |"
            )
        # Each benchmark's own records, under its name (two benchmarks of a group may record
        # the same key with different meanings, so they are never merged).
        recorded_lines = []
        for r in members:
            extras = {k: v for k, v in r.extra.items() if k not in ("items", "calls_per_round")}
            if extras:
                recorded = "; ".join(f"`{k}` = {json.dumps(v)}" for k, v in sorted(extras.items()))
                recorded_lines.append(f"- {r.name}: {recorded}")
        if recorded_lines:
            lines += ["", "Recorded by the benchmarks themselves (their own cross-checks):", *recorded_lines]
        lines.append("")
    if crit:
        lines += ["## Rust core alone (criterion)", "", "| benchmark | mean | throughput |", "|---|---|---|"]
        lines += [f"| {name} | {fmt_time(ns * 1e-9)} | {note} |" for name, ns, note in crit]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", type=Path, required=True, help="pytest-benchmark JSON file")
    p.add_argument("--criterion", type=Path, help="criterion output folder (target/criterion)")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    p.add_argument("--mode", default="full", choices=["full", "short"])
    args = p.parse_args(argv)
    rows = load_python(args.python)
    crit = load_criterion(args.criterion) if args.criterion and args.criterion.is_dir() else []
    text = render(rows, crit, args.mode)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
