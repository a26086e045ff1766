"""Job events of one worker, for its event streams (docs/events.md).

Row writes are the source: the composition root hands the agents their job
tables wrapped in `ObservedTable`, so every row an agent writes (queued,
started, progress, done, failed, cancelled, whoever writes it) is published
here. `JobEvents` numbers the events, keeps the last few per job for
`Last-Event-ID` resume, drops progress events closer than a second apart and
fans them out to the subscribed streams. Nothing here is durable: a stream
that loses its worker ends and the client resumes elsewhere, where the first
event is the job's current state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline import sse

log = logging.getLogger("pipeline.events")

FINAL_EVENTS = ("done", "failed", "cancelled")
# Events kept per job for resume, and in all (least recently changed jobs go first:
# their streams then resume from the job's current state). Each event holds a job
# document, about 1-4 KB in memory: the total bounds the worker's RSS (10,000 jobs
# with 3 events each took ~40 MB under tracemalloc).
HISTORY_PER_JOB = 32
HISTORY_EVENTS = 4_096
# A stream that falls this many events behind is ended (it resumes with Last-Event-ID).
SUBSCRIBER_BUFFER = 256
PROGRESS_EVERY_S = 1.0


def event_name(status: str, progress_items: int = 0, progress_bytes: int = 0) -> str:
    """The event a row write announces: its status, `started`/`progress` while running."""
    if status == "running":
        return "progress" if (progress_items or progress_bytes) else "started"
    return str(status)


@dataclass(frozen=True)
class JobEvent:
    """One numbered event of one job."""

    seq: int
    domain: str  # playlist | media
    key: str  # job id or media id
    event: str
    data: dict[str, Any]
    # `data` as compact JSON, made once: one event is written to many streams.
    text: str = field(default="", compare=False, repr=False)

    @staticmethod
    def of(seq: int, domain: str, key: str, event: str, data: dict[str, Any]) -> JobEvent:
        return JobEvent(seq, domain, key, event, data, json.dumps(data, separators=(",", ":")))

    @property
    def final(self) -> bool:
        return self.event in FINAL_EVENTS

    def encode(self, event_id: int | None = None) -> bytes:
        return sse.encode_event(self.text or self.data, event=self.event,
                                event_id=self.seq if event_id is None else event_id)


@dataclass(eq=False)  # compared and hashed by identity: held in sets
class Subscription:
    """A stream's inbox: events in order; `ended` when the hub let it go."""

    domain: str
    key: str | None  # None: every job of the domain
    pending: deque[JobEvent] = field(default_factory=deque)
    ended: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: JobEvent) -> None:
        if len(self.pending) >= SUBSCRIBER_BUFFER:
            self.end()  # a stalled reader must not hold memory: it resumes later
            return
        self.pending.append(event)
        self.wakeup.set()

    def end(self) -> None:
        self.ended = True
        self.wakeup.set()

    async def next(self, timeout_s: float) -> JobEvent | None:
        """The next event; None after `timeout_s` of silence or once ended."""
        if not self.pending and not self.ended:
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout_s)
            except TimeoutError:
                return None
        return self.pending.popleft() if self.pending else None


class JobEvents:
    """Numbers, remembers and fans out the job events of this worker."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        # Milliseconds at start: a restarted or other worker numbers above an older one.
        self._seq = int(clock() * 1000)
        self._history: OrderedDict[tuple[str, str], deque[JobEvent]] = OrderedDict()
        self._remembered = 0  # events in _history
        self._progress_at: dict[tuple[str, str], float] = {}
        self._keyed: dict[tuple[str, str], set[Subscription]] = {}
        self._all: dict[str, set[Subscription]] = {}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def publish(self, domain: str, key: str, event: str, data: dict[str, Any]) -> JobEvent | None:
        """Number, remember and fan out one event (None: a progress event dropped)."""
        ref = (domain, key)
        now = self.clock()
        if event == "progress":
            if now - self._progress_at.get(ref, float("-inf")) < PROGRESS_EVERY_S:
                return None
            self._progress_at[ref] = now
        elif event in FINAL_EVENTS:
            self._progress_at.pop(ref, None)
        out = JobEvent.of(self._next_seq(), domain, key, event, data)
        self._remember(out)
        for sub in (*self._keyed.get(ref, ()), *self._all.get(domain, ())):
            sub.put(out)
        return out

    def current(self, domain: str, key: str, event: str, data: dict[str, Any]) -> JobEvent:
        """The job's current state as an event for one new stream (remembered, not fanned out)."""
        out = JobEvent.of(self._next_seq(), domain, key, event, data)
        self._remember(out)
        return out

    def since(self, domain: str, key: str, last_id: int | None) -> list[JobEvent] | None:
        """The remembered events after `last_id`; None when `last_id` is not one of them."""
        history = self._history.get((domain, key))
        if last_id is None or not history or not history[0].seq <= last_id <= history[-1].seq:
            return None
        return [ev for ev in history if ev.seq > last_id]

    def subscribe(self, domain: str, key: str | None = None) -> Subscription:
        sub = Subscription(domain, key)
        if key is None:
            self._all.setdefault(domain, set()).add(sub)
        else:
            self._keyed.setdefault((domain, key), set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.key is None:
            self._all.get(sub.domain, set()).discard(sub)
            return
        subs = self._keyed.get((sub.domain, sub.key))
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._keyed[(sub.domain, sub.key)]

    def keyed_subscriptions(self) -> list[tuple[tuple[str, str], set[Subscription]]]:
        """The per-job subscriptions, by (domain, key)."""
        return list(self._keyed.items())

    def end_all(self) -> int:
        """End every stream (the worker stops: open streams must not hold the web server)."""
        ended = self.end_dashboards()
        for _, subs in self.keyed_subscriptions():
            for sub in list(subs):
                sub.end()
                ended += 1
        return ended

    def end_dashboards(self) -> int:
        """End every all-jobs stream; how many."""
        subs = [sub for group in self._all.values() for sub in group]
        for sub in subs:
            sub.end()
        return len(subs)

    def _remember(self, event: JobEvent) -> None:
        ref = (event.domain, event.key)
        history = self._history.get(ref)
        if history is None:
            history = self._history[ref] = deque(maxlen=HISTORY_PER_JOB)
        self._history.move_to_end(ref)
        self._remembered += len(history) < HISTORY_PER_JOB  # else the oldest one goes
        history.append(event)
        while self._remembered > HISTORY_EVENTS and len(self._history) > 1:
            old, dropped = self._history.popitem(last=False)
            self._remembered -= len(dropped)
            self._progress_at.pop(old, None)

    def remembered(self) -> int:
        """Events kept for resume, all jobs together."""
        return self._remembered


class ObservedTable:
    """A job table whose writes are reported to `on_set(row)` after they are made.

    Everything else goes to the table itself. `on_set` runs inside the agent's
    event (so it may write co-partitioned tables too) and must not raise.
    """

    def __init__(self, table: Any, on_set: Callable[[Any], None]) -> None:
        self._table, self._on_set = table, on_set

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def __getitem__(self, key: str) -> Any:
        return self._table[key]

    def __setitem__(self, key: str, row: Any) -> None:
        self._table[key] = row
        try:
            self._on_set(row)
        except Exception:  # a push problem must never stop the agent
            log.exception("job_event_failed", extra={"key": key})

    def __delitem__(self, key: str) -> None:
        del self._table[key]

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __iter__(self) -> Iterator[Any]:
        return iter(self._table)
