"""The ``swarmmesh`` command line.

Subcommands arrive with the features that need them; for now:

* ``swarmmesh --version`` prints the version (from Cargo.toml, the one source);
* ``swarmmesh selfcheck`` exercises every core primitive with known inputs,
  prints what it did and what it observed, and exits non-zero if anything
  disagrees with the expected result;
* ``swarmmesh demo`` runs a local swarm (see :mod:`swarmmesh.demo`) and exits
  non-zero if anything acknowledged was lost.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

import numpy as np

import swarmmesh
import swarmmesh.demo
from swarmmesh import (
    BloomFilter,
    BreakerConfig,
    BreakerRegistry,
    DecodeError,
    DedupFilter,
    InvalidArgumentError,
    Keypair,
    Router,
    key_cache_stats,
    merkle_root,
    public_key_of,
    reset_key_cache,
    verify,
    verify_batch,
)

__all__ = ["main", "selfcheck"]


class _Checker:
    """Runs named checks, printing one line each."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failures = 0
        self.passed = 0

    def check(self, what: str, ok: bool, detail: str) -> None:
        mark = "ok  " if ok else "FAIL"
        print(f"  [{mark}] {what}: {detail}", file=self.out)
        if ok:
            self.passed += 1
        else:
            self.failures += 1

    def section(self, title: str, body: Callable[[], None]) -> None:
        print(title, file=self.out)
        try:
            body()
        except Exception as exc:  # a crash inside a section is a failed check, not a traceback
            self.check("no unexpected error", False, f"{type(exc).__name__}: {exc}")


def _ids(n: int, start: int = 0) -> list[bytes]:
    return [f"selfcheck-{i}".encode() for i in range(start, start + n)]


def _bloom(c: _Checker) -> None:
    f = BloomFilter(10_000, 0.01, seed=42)
    members = _ids(10_000)
    f.update(members)
    missing = sum(1 for m in members if m not in f)
    c.check("no false negatives", missing == 0, f"{len(members)} added, {missing} missing")
    probes = _ids(20_000, start=10_000)
    fp = sum(1 for p in probes if p in f) / len(probes)
    c.check("false-positive rate near target", fp <= 0.015, f"measured {fp:.4f} for target 0.01")
    c.check("approximate count", abs(len(f) - 10_000) < 500, f"len() = {len(f)} for 10000 items")
    g = BloomFilter.from_bytes(f.to_bytes())
    c.check("to_bytes/from_bytes round trip", g == f, f"{len(f.to_bytes())} bytes, equal after decode")
    try:
        BloomFilter.from_bytes(f.to_bytes()[:-1])
        c.check("truncated input rejected", False, "decoded without error")
    except DecodeError as exc:
        c.check("truncated input rejected", exc.reason == "truncated", f"DecodeError reason={exc.reason}")


def _dedup(c: _Checker) -> None:
    d = DedupFilter(100_000, 1e-6, ttl_ms=60_000)
    c.check("first sight", d.check_and_insert(b"msg-1", 0), "check_and_insert(b'msg-1', 0) -> True")
    c.check("duplicate", not d.check_and_insert(b"msg-1", 59_999), "same id at 59 999 ms -> False")
    c.check(
        "forgotten after the TTL window", not d.contains(b"msg-1", 250_000), "contains at 250 000 ms -> False"
    )
    rows = np.frombuffer(b"".join(i.to_bytes(16, "little") for i in range(1000)), dtype=np.uint8).reshape(
        -1, 16
    )
    first = d.check_and_insert_many(rows, 1_000)
    again = d.check_and_insert_many(rows, 2_000)
    c.check(
        "batch of 1000 ids",
        bool(first.all()) and not bool(again.any()),
        f"{int(first.sum())} new, then {int(again.sum())} new on replay",
    )
    s = d.stats()
    c.check(
        "stats",
        s.inserted == 1001,
        f"inserted={s.inserted} duplicates={s.duplicates} memory={s.memory_bytes} B",
    )


def _breakers(c: _Checker) -> None:
    reg = BreakerRegistry(BreakerConfig(failure_threshold=3, jitter=0.0), seed=1)
    key = "peer-1|gun"
    for t in range(3):
        reg.record_failure(key, t)
    c.check("opens after 3 consecutive failures", reg.state(key) == "open", f"state={reg.state(key)}")
    c.check("refuses while open", not reg.allow(key, 500), "allow at 500 ms -> False")
    probe = reg.allow(key, 1_002)
    c.check(
        "half-open probe after 1 s backoff",
        probe and reg.state(key) == "half_open",
        f"state={reg.state(key)}",
    )
    reg.record_success(key, 1_010, latency_ms=8)
    c.check("probe success closes", reg.state(key) == "closed", f"state={reg.state(key)}")
    events = [f"{e.from_state}->{e.to_state}" for e in reg.drain_events()]
    c.check("transition events", len(events) == 3, ", ".join(events))
    reg.force_open("relay:ws://127.0.0.1:8765", 2_000)
    c.check("force_open", reg.state("relay:ws://127.0.0.1:8765") == "forced_open", "operator override")


def _router(c: _Checker) -> None:
    r = Router(seed=7)
    c.check(
        "priors rank before any observation",
        [t for t, _ in r.rank("peer-1", ["peerjs", "gun", "integrated"], 0)]
        == ["integrated", "gun", "peerjs"],
        "integrated > gun > peerjs",
    )
    for t in range(40):
        r.observe("peer-1", "integrated", False, None, t * 10)
        r.observe("peer-1", "gun", True, 25.0, t * 10)
    ranked = r.rank("peer-1", ["integrated", "gun", "peerjs"], 400)
    c.check("learns from observations", ranked[0][0] == "gun", ", ".join(f"{t}={s:.3f}" for t, s in ranked))
    plan = r.plan("peer-1", ["integrated", "gun", "peerjs"], 400)
    c.check("plan", bool(plan.now), repr(plan))


def _identity(c: _Checker) -> None:
    kp = Keypair.from_seed(bytes(range(32)))
    sig = kp.sign(b"selfcheck")
    c.check("sign and verify", verify(kp.public_key, b"selfcheck", sig), f"address {kp.address}")
    c.check("tampered message rejected", not verify(kp.public_key, b"selfcheck!", sig), "verify -> False")
    keys = [Keypair.from_seed(bytes([i]) * 32) for i in range(64)]
    msgs = [f"m{i}".encode() for i in range(64)]
    sigs = [k.sign(m) for k, m in zip(keys, msgs, strict=True)]
    sigs[17] = bytes(64)
    verdicts = verify_batch([k.public_key for k in keys], msgs, sigs)
    bad = [i for i, ok in enumerate(verdicts) if not ok]
    c.check("batch verification finds the bad signature", bad == [17], f"bad indexes {bad}")
    c.check("address round trip", public_key_of(kp.address) == kp.public_key, "sw1... -> public key")


def _py_merkle_root(ids: list[bytes]) -> bytes:
    """The Merkle root by hashlib alone (docs/chain.md), to check the SIMD kernels on this CPU."""
    if not ids:
        return hashlib.sha256(b"\x02").digest()
    level = [hashlib.sha256(b"\x00" + i).digest() for i in ids]
    while len(level) > 1:
        pairs = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]


def _chain(c: _Checker) -> None:
    # The multi-buffer SHA-256 kernel is chosen at run time by CPU features: compare it
    # with hashlib here, on this machine, at sizes around every lane width and in parallel.
    sizes = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 4097, 6000]
    ids = [hashlib.sha256(i.to_bytes(4, "little")).digest() for i in range(max(sizes))]
    wrong = [
        (n, threads)
        for n in sizes
        for threads in (1, 2)
        if merkle_root(ids[:n], threads=threads) != _py_merkle_root(ids[:n])
    ]
    c.check("Merkle root matches hashlib", not wrong, f"{len(sizes)} sizes x 1-2 threads; wrong: {wrong}")
    kp = Keypair.from_seed(bytes([9]) * 32)
    keys = [kp.public_key] * 8 + [Keypair.from_seed(bytes([i + 100]) * 32).public_key for i in range(8)]
    msgs = [f"k{i}".encode() for i in range(16)]
    sigs = [kp.sign(m) for m in msgs[:8]] + [bytes(64)] * 8
    cached = verify_batch(keys, msgs, sigs)
    stats = key_cache_stats()
    reset_key_cache(0)
    try:
        uncached = verify_batch(keys, msgs, sigs)
    finally:
        reset_key_cache(stats["capacity"])
    c.check(
        "signature verdicts do not depend on the key cache",
        cached == uncached == [True] * 8 + [False] * 8,
        "16 signatures, cache on and off",
    )


def _errors(c: _Checker) -> None:
    try:
        DedupFilter(0, 0.01, 1000)
        c.check("invalid argument named", False, "no error raised")
    except InvalidArgumentError as exc:
        c.check("invalid argument named", exc.argument == "capacity", f"{type(exc).__name__}: {exc}")


def selfcheck(out: TextIO = sys.stdout) -> int:
    """Exercise every core primitive; return the number of failed checks."""
    c = _Checker(out)
    print(f"swarmmesh {swarmmesh.__version__} selfcheck", file=out)
    c.section("BloomFilter", lambda: _bloom(c))
    c.section("DedupFilter", lambda: _dedup(c))
    c.section("BreakerRegistry", lambda: _breakers(c))
    c.section("Router", lambda: _router(c))
    c.section("identity", lambda: _identity(c))
    c.section("chain", lambda: _chain(c))
    c.section("errors", lambda: _errors(c))
    print(f"{c.passed} passed, {c.failures} failed", file=out)
    return c.failures


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmmesh", description="A node of the swarmmesh hybrid P2P mesh.")
    p.add_argument("--version", action="version", version=f"swarmmesh {swarmmesh.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("selfcheck", help="exercise every core primitive and print what it did")
    demo = sub.add_parser(
        "demo",
        help="run a local swarm (memory transports + WebSocket on loopback), kill and revive a transport",
    )
    swarmmesh.demo.add_arguments(demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swarmmesh`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "selfcheck":
        return 1 if selfcheck() else 0
    if args.command == "demo":
        return swarmmesh.demo.main(args)
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
