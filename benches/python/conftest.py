"""Benchmark settings shared by every file in benches/python.

``SWARMMESH_BENCH_SHORT=1`` (what CI sets) shrinks the data sets and rounds so the
whole suite runs in a couple of minutes while still exercising every comparison;
the numbers in docs/benchmarks.md come from a full run.
"""

from __future__ import annotations

import os

SHORT = os.environ.get("SWARMMESH_BENCH_SHORT", "") not in ("", "0")


def scaled(full: int, short: int) -> int:
    """`full` normally, `short` in the short (CI) mode."""
    return short if SHORT else full
