"""The broadcast freshness window: with the dedup TTL it leaves no gap for a replay."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmmesh import ConfigError
from swarmmesh.clock import ManualClock, SystemClock
from swarmmesh.mesh.freshness import FreshnessWindow


def test_bounds_are_inclusive() -> None:
    w = FreshnessWindow(1_000, 100)
    assert w.check(9_000, 10_000) is None
    assert w.check(8_999, 10_000) == "stale"
    assert w.check(10_100, 10_000) is None
    assert w.check(10_101, 10_000) == "future"


@given(
    ttl=st.integers(2_000, 3_600_000),
    skew_frac=st.floats(0.0, 0.49),
    first=st.integers(0, 10**12),
    age=st.integers(-(10**6), 10**7),
    later=st.integers(0, 10**8),
)
def test_a_replay_is_either_a_duplicate_or_too_old(
    ttl: int, skew_frac: float, first: int, age: int, later: int
) -> None:
    w = FreshnessWindow.for_ttl(ttl, max(1, int(ttl * skew_frac)))
    timestamp = first - age
    if w.check(timestamp, first) is not None:
        return  # never accepted in the first place
    replay_at = first + ttl + later  # past the dedup memory of the first copy
    assert w.check(timestamp, replay_at) == "stale"


@pytest.mark.parametrize(("ttl", "skew"), [(1_000, 999), (1_000, 1_000), (1_000, 5_000)])
def test_a_ttl_that_leaves_no_age_is_refused(ttl: int, skew: int) -> None:
    with pytest.raises(ConfigError) as e:
        FreshnessWindow.for_ttl(ttl, skew)
    assert e.value.field == "max_clock_skew_s"


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, 86_400_001])
def test_ranges_are_checked(bad: object) -> None:
    with pytest.raises(ConfigError):
        FreshnessWindow(bad, 10)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FreshnessWindow(10, bad)  # type: ignore[arg-type]


async def test_clocks_have_a_wall_reading() -> None:
    manual = ManualClock(epoch_ms=5_000)
    assert manual.wall_ms() == 5_000
    await manual.advance(2.5)
    assert manual.wall_ms() == 7_500
    assert ManualClock().wall_ms() == ManualClock.DEFAULT_EPOCH_MS
    assert abs(SystemClock().wall_ms() - time.time() * 1000) < 5_000
