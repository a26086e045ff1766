"""Queue ETA: an estimate of when a queued job finishes, from recent run times.

`eta_s = ceil(position / slots) x median(recent durations)`. It is an estimate,
not a promise: it assumes the next runs take as long as the recent ones did,
that the jobs ahead keep their places (a `force` submit or a retry can move in
front) and that this worker keeps the partition. Pure: time is passed in.
See docs/events.md.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

# Runs remembered per worker: enough for a stable median, small enough to follow
# a change of load within minutes.
DEFAULT_WINDOW = 50
# Runs older than this no longer speak for the current load (seconds).
DEFAULT_MAX_AGE_S = 3600.0


class RollingMedian:
    """The median of the last `size` durations, each younger than `max_age_s`."""

    def __init__(self, size: int = DEFAULT_WINDOW,
                 max_age_s: float | None = DEFAULT_MAX_AGE_S) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.max_age_s = max_age_s
        self._runs: deque[tuple[float, float]] = deque(maxlen=size)  # (finished at, seconds)

    def __len__(self) -> int:
        return len(self._runs)

    def add(self, duration_s: float, at: float) -> None:
        """Remember one finished run; negative or non-finite durations are ignored."""
        if math.isfinite(duration_s) and duration_s >= 0:
            self._runs.append((at, float(duration_s)))

    def median(self, now: float) -> float | None:
        """The median of the runs still in the window, or None when there are none."""
        if self.max_age_s is not None:
            while self._runs and now - self._runs[0][0] > self.max_age_s:
                self._runs.popleft()
        if not self._runs:
            return None
        return float(statistics.median(d for _, d in self._runs))


def eta_s(position: int | None, median_s: float | None, *, slots: int = 1,
          elapsed_s: float | None = None) -> float | None:
    """Estimated seconds until a job is done, or None when there is no basis.

    `position` is the queue's: 0 running, 1 next to start, ... `slots` is how
    many jobs run at once. A running job's estimate is the median less the
    time it has run (`elapsed_s`), never below 0.
    """
    if position is None or median_s is None or position < 0:
        return None
    if position == 0:
        if elapsed_s is None:
            return None
        return round(max(0.0, median_s - elapsed_s), 1)
    rounds = math.ceil(position / max(1, slots))
    return round(rounds * median_s, 1)
