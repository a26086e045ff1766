"""pipeline.eta: the rolling median and the queue estimate."""

from __future__ import annotations

import math

import pytest

from pipeline.eta import RollingMedian, eta_s


def test_median_of_a_bounded_window() -> None:
    window = RollingMedian(size=3, max_age_s=None)
    assert window.median(now=0) is None
    for i, d in enumerate([100.0, 1.0, 2.0, 3.0]):
        window.add(d, at=i)
    assert len(window) == 3  # the 100 s run fell out
    assert window.median(now=10) == 2.0


def test_old_runs_leave_the_window() -> None:
    window = RollingMedian(size=10, max_age_s=60)
    window.add(5.0, at=0)
    window.add(9.0, at=50)
    assert window.median(now=55) == 7.0
    assert window.median(now=100) == 9.0
    assert window.median(now=200) is None


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_nonsense_durations_are_ignored(bad: float) -> None:
    window = RollingMedian()
    window.add(bad, at=0)
    assert len(window) == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RollingMedian(size=0)


@pytest.mark.parametrize(("position", "median", "slots", "elapsed", "expected"), [
    (None, 10.0, 1, None, None),
    (3, None, 1, None, None),
    (3, 10.0, 1, None, 30.0),
    (3, 10.0, 2, None, 20.0),   # two rounds of two slots
    (4, 10.0, 2, None, 20.0),
    (1, 2.5, 4, None, 2.5),
    (0, 10.0, 1, None, None),   # running, start time unknown
    (0, 10.0, 1, 4.0, 6.0),
    (0, 10.0, 1, 12.0, 0.0),    # slower than usual: never negative
    (-1, 10.0, 1, None, None),
])
def test_eta(position: int | None, median: float | None, slots: int,
             elapsed: float | None, expected: float | None) -> None:
    assert eta_s(position, median, slots=slots, elapsed_s=elapsed) == expected
