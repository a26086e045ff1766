"""Starts the best queued prewarm whenever one of the worker's slots is free.

Plain asyncio (no Faust): the agents feed it rows (`submit`, `rebuild`) and it
calls `run(row, score)` as a task per job, at most `concurrency` at once. It
never writes tables; runs report through events that an agent applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from pipeline.media.queue import JobQueue
from pipeline.media.rules import job_time
from pipeline.records import MediaJob

log = logging.getLogger("pipeline.media")

RunJob = Callable[[MediaJob, float], Awaitable[None]]
# Runs finished here whose outcome event may not be applied yet: a rebuild in
# that window must not start them again. Bounded; older ones are forgotten.
FINISHED_MEMORY = 10_000
IDLE_TICK_S = 1.0


class Scheduler:
    """Per-worker: the queue of waiting jobs and the tasks of running ones."""

    def __init__(self, queue: JobQueue, concurrency: int, run: RunJob, *,
                 clock: Callable[[], float] = time.time,
                 on_change: Callable[[], None] | None = None) -> None:
        self.queue, self.concurrency, self._run = queue, concurrency, run
        self._clock, self._on_change = clock, on_change
        self.active: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._finished: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wake = asyncio.Event()

    def stats(self) -> dict[str, int]:
        return {"waiting": len(self.queue), "active": len(self.active)}

    def submit(self, row: MediaJob) -> None:
        """Queue a row's run (replacing a waiting or running older run of the job)."""
        current = self.active.get(row.media_id)
        if current is not None:
            if current[0] == row.run_id:
                return
            current[1].cancel()  # superseded (forced) run: its events will be ignored
        self.queue.push(row.media_id, size=row.size, kind=row.kind, t=job_time(row),
                        now=self._clock(), not_before=row.not_before, data=row)
        self._wake.set()

    def cancel(self, media_id: str) -> bool:
        """Cancel by request: out of the queue, its running task cancelled (a cancelled
        run reports nothing). True when a run was stopped."""
        self.queue.remove(media_id)
        current = self.active.get(media_id)
        if current is not None:
            current[1].cancel()
        self._changed()
        self._wake.set()
        return current is not None

    def rebuild(self, rows: Iterable[MediaJob]) -> None:
        """After a rebalance: exactly the queued/running rows of the partitions owned now."""
        owned = {row.media_id: row for row in rows
                 if (row.media_id, row.run_id) not in self._finished}
        for media_id, (_, task) in list(self.active.items()):
            if media_id not in owned:
                task.cancel()
        self.queue.clear()
        for row in owned.values():
            self.submit(row)
        self._changed()
        self._wake.set()

    async def run(self, stopped: Callable[[], bool]) -> None:
        """The loop: fill free slots, then sleep until a change or a retry is due."""
        while not stopped():
            self._wake.clear()
            self._fill()
            self._changed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._sleep_s())

    async def stop(self) -> None:
        """Cancel running jobs (their rows stay `running` and are resumed elsewhere)."""
        tasks = [task for _, task in self.active.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _fill(self) -> None:
        while len(self.active) < self.concurrency:
            now = self._clock()
            entry, reordered = self.queue.pick(now)
            if entry is None:
                return
            row: MediaJob = entry.data
            score = self.queue.score_of(entry, now)
            if reordered:
                log.info("queue_reorder", extra={"waiting": len(self.queue),
                                                 "next": row.media_id, "score": score})
            task = asyncio.ensure_future(self._run(row, score))
            self.active[row.media_id] = (row.run_id, task)
            task.add_done_callback(functools.partial(self._done, row))

    def _done(self, row: MediaJob, task: asyncio.Task[None]) -> None:
        current = self.active.get(row.media_id)
        if current is not None and current[1] is task:
            del self.active[row.media_id]
        if not task.cancelled():
            self._finished[(row.media_id, row.run_id)] = None
            while len(self._finished) > FINISHED_MEMORY:
                self._finished.popitem(last=False)
            if task.exception() is not None:
                log.error("prewarm_crashed", extra={"media_id": row.media_id},
                          exc_info=task.exception())
        self._wake.set()

    def _sleep_s(self) -> float:
        due = self.queue.next_due()
        if due is None:
            return IDLE_TICK_S
        return max(0.01, min(IDLE_TICK_S, due - self._clock()))

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

