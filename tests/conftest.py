"""Shared pytest configuration for the swarmmesh test suite."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import settings


def make_ids(n: int, *, start: int = 0, width: int = 16) -> list[bytes]:
    """Deterministic, distinct message ids of `width` bytes."""
    return [
        hashlib.blake2b(i.to_bytes(8, "little"), digest_size=width).digest() for i in range(start, start + n)
    ]


@pytest.fixture
def ids() -> list[bytes]:
    return make_ids(1000)


# Hypothesis: no per-example deadline (the machine is shared and timing is not what
# these tests check), and a fixed seed in CI so a red run can be replayed exactly.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
