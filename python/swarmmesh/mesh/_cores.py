"""How many cores a mesh's worker threads may use beside the event loop's."""

from __future__ import annotations

import os

__all__ = ["spare_cores"]


def spare_cores() -> int:
    """The cores this process may run on (its affinity where the OS says), minus the loop's."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        usable = os.cpu_count() or 1
    return max(0, usable - 1)
