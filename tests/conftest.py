"""Shared pytest configuration for the swarmmesh test suite."""

from __future__ import annotations

import hashlib

import pytest


def make_ids(n: int, *, start: int = 0, width: int = 16) -> list[bytes]:
    """Deterministic, distinct message ids of `width` bytes."""
    return [
        hashlib.blake2b(i.to_bytes(8, "little"), digest_size=width).digest() for i in range(start, start + n)
    ]


@pytest.fixture
def ids() -> list[bytes]:
    return make_ids(1000)
