"""The per-worker prewarm queue: highest score first, scores re-evaluated at pick time.

Pure (no Faust, network or clock): every call that depends on time takes `now`.

A job's score is a static part (size, kind) plus an age bonus that is a step
function of age (`pipeline.media.score`). Jobs with the same static part form a
*class*, kept sorted by upload time; inside one age band of a class the oldest
job is the best. Picking therefore looks at one candidate per class and band,
not at every job, and stays cheap with thousands waiting.

The queue also notices when waiting jobs change their relative order because
they aged into another band (`pick()` reports it), without sorting everything:
only runs of jobs that changed band can overtake or fall behind others.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.media.score import AGE_BREAKS_S, Weights, age_band, band_bonus, static_score

_Item = tuple[float, int, str]  # (t, seq, media_id), sorted inside a class


@dataclass
class Entry:
    """One waiting job; `data` is the caller's payload (the job row)."""

    media_id: str
    size: int
    kind: str
    t: float  # the time its age counts from (upload time, epoch seconds)
    not_before: float
    seq: int
    static: float
    data: Any = None
    ready: bool = False


@dataclass(frozen=True)
class _Run:
    """Jobs of one class that were in one band at `then` and in one band at `now`."""

    before: float  # score at `then`
    after: float  # score at `now`
    first: tuple[float, int]
    last: tuple[float, int]


def _cuts(items: list[_Item], now: float) -> tuple[int, int]:
    """Indexes splitting `items` into bands 2 | 1 | 0 at `now` (exactly as `age_band`)."""
    # fl(t - now) == -fl(now - t), so these compare the same age the score uses.
    old = bisect_left(items, -AGE_BREAKS_S[1], key=lambda it: it[0] - now)
    young = bisect_right(items, -AGE_BREAKS_S[0], key=lambda it: it[0] - now)
    return old, young


def _band_at(index: int, cuts: tuple[int, int]) -> int:
    return 2 if index < cuts[0] else 1 if index < cuts[1] else 0


def _relation(x: _Run, y: _Run, late: bool) -> int:
    """1 when every job of x is ahead of every job of y, -1 when behind, 0 when mixed."""
    sx, sy = (x.after, y.after) if late else (x.before, y.before)
    if sx != sy:
        return 1 if sx > sy else -1
    if x.last < y.first:
        return 1
    if y.last < x.first:
        return -1
    return 0


class JobQueue:
    """Waiting jobs by media_id; retries wait in a not-before heap until due."""

    def __init__(self, weights: Weights) -> None:
        self._w = weights
        self._entries: dict[str, Entry] = {}
        self._classes: dict[float, list[_Item]] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._last: float | None = None
        self._reordered = False

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, media_id: object) -> bool:
        return media_id in self._entries

    def get(self, media_id: str) -> Entry | None:
        return self._entries.get(media_id)

    @property
    def ready_count(self) -> int:
        return sum(len(items) for items in self._classes.values())

    def push(self, media_id: str, *, size: int, kind: str, t: float, now: float,
             not_before: float = 0.0, data: Any = None) -> None:
        """Add a job (replacing any entry with the same media_id)."""
        self._advance(now)
        self.remove(media_id)
        entry = Entry(media_id, size, kind, t, not_before, next(self._seq),
                      static_score(size, kind, self._w), data)
        self._entries[media_id] = entry
        if not_before > now:
            heapq.heappush(self._delayed, (not_before, entry.seq, media_id))
        else:
            self._make_ready(entry)

    def remove(self, media_id: str) -> Entry | None:
        entry = self._entries.pop(media_id, None)
        if entry is not None and entry.ready:
            items = self._classes[entry.static]
            index = bisect_left(items, (entry.t, entry.seq, media_id))
            del items[index]
            if not items:
                del self._classes[entry.static]
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self._classes.clear()
        self._delayed.clear()
        self._reordered = False

    def pick(self, now: float) -> tuple[Entry | None, bool]:
        """Take the best ready job; also tell whether waiting jobs re-ordered since last pick."""
        self._advance(now)
        best: tuple[tuple[float, float, int], str] | None = None
        for static, items in self._classes.items():
            for index, band in self._band_heads(items, now):
                t, seq, media_id = items[index]
                key = (-(static + band_bonus(band, self._w)), t, seq)
                if best is None or key < best[0]:
                    best = (key, media_id)
        if best is None:
            return None, False
        reordered, self._reordered = self._reordered, False
        return self.remove(best[1]), reordered

    def ranked(self, now: float, limit: int | None = None) -> list[tuple[Entry, float]]:
        """Ready jobs in the order they would start, with their current scores."""
        self._advance(now)
        keyed = []
        for static, items in self._classes.items():
            cuts = _cuts(items, now)
            for index, (t, seq, media_id) in enumerate(items):
                score = static + band_bonus(_band_at(index, cuts), self._w)
                keyed.append((-score, t, seq, media_id))
        top = heapq.nsmallest(limit, keyed) if limit is not None else sorted(keyed)
        return [(self._entries[media_id], -neg) for neg, _, _, media_id in top]

    def score_of(self, entry: Entry, now: float) -> float:
        """An entry's score at `now`."""
        return entry.static + band_bonus(age_band(now - entry.t), self._w)

    def position(self, media_id: str, now: float) -> int | None:
        """1 for the job that starts next, 2 after it...; None when absent or delayed."""
        entry = self._entries.get(media_id)
        if entry is None or not entry.ready:
            return None
        ranked = self.ranked(now)
        return next(i for i, (e, _) in enumerate(ranked, start=1) if e is entry)

    def next_due(self) -> float | None:
        """When the earliest delayed job becomes ready (None when none waits)."""
        while self._delayed:
            not_before, seq, media_id = self._delayed[0]
            entry = self._entries.get(media_id)
            if entry is not None and entry.seq == seq and not entry.ready:
                return not_before
            heapq.heappop(self._delayed)
        return None

    # --- internals

    def _make_ready(self, entry: Entry) -> None:
        entry.ready = True
        items = self._classes.setdefault(entry.static, [])
        item = (entry.t, entry.seq, entry.media_id)
        items.insert(bisect_left(items, item), item)

    def _band_heads(self, items: list[_Item], now: float) -> Iterator[tuple[int, int]]:
        """(index of the oldest job, band) for each non-empty band of one class."""
        old, young = _cuts(items, now)
        for lo, hi, band in ((0, old, 2), (old, young, 1), (young, len(items), 0)):
            if lo < hi:
                yield lo, band

    def _advance(self, now: float) -> None:
        """Move the queue's clock to `now`: note re-orders, then release due retries."""
        if self._last is not None and now > self._last and self._order_changes(self._last, now):
            self._reordered = True
        if self._last is None or now > self._last:
            self._last = now
        while (due := self.next_due()) is not None and due <= now:
            _, _, media_id = heapq.heappop(self._delayed)
            self._make_ready(self._entries[media_id])

    def _runs(self, then: float, now: float) -> list[_Run]:
        runs = []
        for static, items in self._classes.items():
            cuts_then, cuts_now = _cuts(items, then), _cuts(items, now)
            points = sorted({0, len(items), *cuts_then, *cuts_now})
            for lo, hi in itertools.pairwise(points):
                if lo < hi:
                    runs.append(_Run(
                        static + band_bonus(_band_at(lo, cuts_then), self._w),
                        static + band_bonus(_band_at(lo, cuts_now), self._w),
                        items[lo][:2], items[hi - 1][:2]))
        return runs

    def _order_changes(self, then: float, now: float) -> bool:
        """True when some pair of ready jobs is in another order at `now` than at `then`."""
        runs = self._runs(then, now)
        movers = [run for run in runs if run.before != run.after]
        return any(_relation(m, r, False) != _relation(m, r, True)
                   for m in movers for r in runs if r is not m)
