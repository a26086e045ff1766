"""One worker's parse machinery: the queue, the process pool, the running tasks
and the resume after a rebalance.

Runs one job as: `started` event, a parse in a pooled child process (progress
events meanwhile), then a `done`, `retry` or `failed` event that the events
agent applies to the job's row. Rows are only read here; the agents write them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from mode import Service

from pipeline import catalogue_job, storage
from pipeline.metrics import Metrics
from pipeline.parse_job import ParseSpec, result_uri
from pipeline.playlist.pool import Outcome, ParsePool
from pipeline.playlist.queue import ParseQueue
from pipeline.playlist.rules import dropped_runs
from pipeline.records import ACTIVE, EventKind, JobStatus, ParseEvent, PlaylistJob
from pipeline.settings import Settings
from pipeline.urls import redact_url

log = logging.getLogger("pipeline.parse")

Emit = Callable[[ParseEvent], Awaitable[Any]]
ReadRow = Callable[[str], PlaylistJob | None]
# Unapplied run events of the job's events partition (0 when unknown).
EventsBacklog = Callable[[str], int]
# A `running` row found at rebalance may be a crashed run, or a finished one whose
# `done` event is still in the topic: wait this long, and for the events backlog
# to drain, before starting it again.
RESUME_GRACE_S = 2.0
# Longest a resumed job waits for that backlog (progress events of other parses on
# the same partition can keep its lag above zero for a while).
RESUME_MAX_WAIT_S = 8.0
# How long a dispatch pass sleeps when nothing wakes it.
IDLE_WAKE_S = 1.0


class ParseService(Service):
    """Starts at most `parse_concurrency` parses, each in a child process."""

    def __init__(self, settings: Settings, metrics: Metrics, emit: Emit, read_row: ReadRow,
                 events_backlog: EventsBacklog, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.metrics = settings, metrics
        self._emit, self._read_row, self._events_backlog = emit, read_row, events_backlog
        self.queue = ParseQueue()
        self.pool = ParsePool(settings.parse_max_rss_mb)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.task_runs: dict[str, str] = {}  # job_id -> run id of the local task
        self.resumed: dict[str, float] = {}  # job_id -> time after which it starts regardless
        self._background: set[asyncio.Future[Any]] = set()  # progress sends, discards
        # Runs cancelled by request, by task, with when the cancel first reached this
        # worker (time.monotonic()): the view and then the events agent both cancel.
        self._cancel_at: dict[asyncio.Task[None], float] = {}
        self._wakeup = asyncio.Event()
        self._s3 = storage.SharedClient(settings)  # result deletes, kept for the worker's life

    # --- what the agents and views call

    def enqueue(self, job_id: str, queued_at: float, not_before: float = 0.0) -> None:
        """Queue a job of this worker (a new request or a retry) and wake the dispatcher."""
        self.queue.add(job_id, queued_at, not_before)
        self._kick()

    def position(self, job_id: str) -> int | None:
        return self.queue.position(job_id)

    def counts(self) -> dict[str, int]:
        """Waiting and running parses of this worker (without the topic backlog)."""
        return {"waiting": len(self.queue.waiting), "active": len(self.queue.running)}

    def cancel_run(self, job_id: str, run_id: str) -> None:
        """Cancel the local run `run_id` of `job_id` (the job finished meanwhile)."""
        task = self.tasks.get(job_id)
        if task is not None and self.task_runs.get(job_id) == run_id:
            log.info("parse_superseded", extra={"job_id": job_id, "run_id": run_id})
            task.cancel()

    def cancel_job(self, job_id: str, since: float | None = None) -> bool:
        """Cancel by request: out of the queue, its running child killed (the task's
        cancellation kills the pooled process). `since`: when the request reached
        this worker (time.monotonic()), for the logged stop latency. True when a run
        was stopped."""
        self.queue.discard(job_id)
        self.resumed.pop(job_id, None)
        task = self.tasks.get(job_id)
        if task is not None and not task.done():
            self._cancel_at.setdefault(task, time.monotonic() if since is None else since)
            task.cancel()
            log.info("parse_cancelled", extra={"job_id": job_id,
                                               "run_id": self.task_runs.get(job_id)})
        self._kick()
        return task is not None

    def discard_result(self, uri: str) -> None:
        """Delete the result of a cancelled run (in the background): the object, or the
        multipart upload its killed child left unfinished."""
        if uri.startswith("s3://"):
            self._in_background(catalogue_job.discard_result(self._s3, uri))

    def delete_runs(self, job_id: str, runs: list[str]) -> None:
        """Delete the objects of runs the job row no longer keeps, in the background."""
        self._in_background(catalogue_job.delete_runs(self._s3, self.settings.results_bucket,
                                                      job_id, runs))

    def _in_background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)  # a strong reference until it ends
        task.add_done_callback(self._background.discard)

    def follow(self, before: PlaylistJob | None, after: PlaylistJob | None,
               ev: ParseEvent) -> None:
        """This worker's side of a run event the events agent applied (`after` is the
        row it wrote, None when the event changed nothing)."""
        if before is not None and ev.kind == EventKind.DONE \
                and before.status == JobStatus.CANCELLED:
            self.discard_result(ev.result_uri)  # a run that finished as it was cancelled
        if after is None:
            if before is not None and ev.kind == EventKind.STARTED \
                    and before.status not in ACTIVE:
                self.cancel_run(before.job_id, ev.run_id)  # the job finished meanwhile
            return
        if ev.kind == EventKind.CANCELLED:
            self.cancel_job(after.job_id)
        elif ev.kind == EventKind.RETRY:
            self.enqueue(after.job_id, after.queued_at, after.not_before)
        elif ev.kind == EventKind.DONE and before is not None:
            dropped = dropped_runs(before, after)
            if dropped:
                self.delete_runs(after.job_id, dropped)

    def resume(self, owned: dict[str, PlaylistJob]) -> None:
        """Rebuild the queue from the queued/running rows this worker owns after a rebalance."""
        for job_id in list(self.queue.waiting) + list(self.queue.running):
            if job_id not in owned:
                self.queue.discard(job_id)
                task = self.tasks.pop(job_id, None)
                if task:
                    task.cancel()
        for job_id, row in sorted(owned.items(), key=lambda kv: kv[1].queued_at):
            if job_id not in self.queue.running and job_id not in self.queue.waiting:
                not_before = row.not_before
                if row.status == JobStatus.RUNNING:
                    not_before = time.time() + RESUME_GRACE_S
                    log.info("parse_resume", extra={"job_id": job_id, "run_id": row.run_id})
                # A `queued` row may be stale too: its run's `started` and `done` events
                # can sit unapplied in the topic (the agents pause while a rebalance
                # recovers the tables). Each row waits for its events partition first.
                self.resumed[job_id] = max(not_before, time.time()) + RESUME_MAX_WAIT_S
                self.queue.add(job_id, row.queued_at, not_before)
        self._kick()

    async def on_stop(self) -> None:
        await self._s3.close()

    # --- dispatch

    def _kick(self) -> None:
        self.metrics.parse_queued.set(len(self.queue.waiting))
        self.metrics.parse_active.set(len(self.queue.running))
        self._wakeup.set()

    @Service.task
    async def _dispatch(self) -> None:
        """Start queued parses while slots are free."""
        while not self.should_stop:
            self._wakeup.clear()
            while len(self.queue.running) < self.settings.parse_concurrency:
                if not self._start_next():
                    break
            self._kick()
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=IDLE_WAKE_S)
            except TimeoutError:
                pass

    def _start_next(self) -> bool:
        """Start the next ready job; False when none is ready."""
        job_id = self.queue.pop_ready(time.time())
        if job_id is None:
            return False
        row = self._read_row(job_id)
        if row is None or row.status not in ACTIVE:
            self.queue.finish(job_id)
            self.resumed.pop(job_id, None)
            return True
        if (job_id in self.resumed and time.time() < self.resumed[job_id]
                and self._events_backlog(job_id) > 0):
            self.queue.finish(job_id)  # outcome events still unapplied: look again soon
            self.queue.add(job_id, row.queued_at, time.time() + 0.5)
            return True
        self.resumed.pop(job_id, None)
        task = asyncio.create_task(self.run_job(row))
        self.tasks[job_id] = task
        task.add_done_callback(functools.partial(self._task_done, job_id))
        return True

    def _task_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        """Forget a finished run, unless a newer run of the job replaced it already (a
        fresh submit right after a cancel): its slot and task are not ours to clear."""
        self._cancel_at.pop(task, None)
        if self.tasks.get(job_id) is task:
            del self.tasks[job_id]
            self.task_runs.pop(job_id, None)
            self.queue.finish(job_id)
        self._kick()

    # --- one run

    async def run_job(self, row: PlaylistJob) -> None:
        """One run of a job: started event, child process, outcome event."""
        job_id, run_id, started = row.job_id, uuid.uuid4().hex[:12], time.time()
        attempt = row.attempt + 1
        self.task_runs[job_id] = run_id
        await self._emit(ParseEvent(kind=EventKind.STARTED, job_id=job_id, run_id=run_id,
                                    at=started))
        log.info("parse_start", extra={"job_id": job_id, "run_id": run_id, "attempt": attempt,
                                       "url": redact_url(row.url)})
        last, reported = [0, 0], False
        spec = ParseSpec(job_id, run_id, row.url, self.settings, row.catalogue_run)
        try:
            outcome = await self.pool.run(spec, self._progress_relay(job_id, run_id, last))
            reported = True  # from here the agent decides what a late outcome means
            await asyncio.shield(self._report(job_id, run_id, attempt, started, outcome, last))
        except asyncio.CancelledError:
            cancel_at = self._cancel_at.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            if not reported and cancel_at is not None:
                # The pool has killed and reaped the child by now: the stop latency.
                log.info("parse_child_stopped", extra={
                    "job_id": job_id, "run_id": run_id,
                    "stop_s": round(time.monotonic() - cancel_at, 3)})
                # The child may have completed its upload just before it was killed.
                self.discard_result(result_uri(self.settings.results_bucket, spec.result_key))
            raise

    def _progress_relay(self, job_id: str, run_id: str,
                        last: list[int]) -> Callable[[int, int], None]:
        def on_progress(items: int, nbytes: int) -> None:
            self.metrics.parse_items.inc(items - last[0])
            self.metrics.parse_bytes.inc(nbytes - last[1])
            last[:] = [items, nbytes]
            self._in_background(self._emit(ParseEvent(
                kind=EventKind.PROGRESS, job_id=job_id, run_id=run_id, at=time.time(),
                items=items, bytes=nbytes)))
            log.info("parse_progress", extra={"job_id": job_id, "items": items,
                                               "bytes": nbytes})
        return on_progress

    async def _report(self, job_id: str, run_id: str, attempt: int, started: float,
                      outcome: Outcome, last: list[int]) -> None:
        now = time.time()
        duration = round(now - started, 3)
        if outcome.ok:
            await self._done(job_id, run_id, now, duration, outcome, last)
            return
        retry = outcome.transient and attempt < self.settings.parse_max_attempts
        kind = EventKind.RETRY if retry else EventKind.FAILED
        if not retry:
            self.metrics.parse_jobs.labels(status="failed").inc()
        await self._emit(ParseEvent(
            kind=kind, job_id=job_id, run_id=run_id, at=now, error=outcome.error,
            transient=outcome.transient, duration_s=duration))
        log.warning("parse_failed", extra={"job_id": job_id, "run_id": run_id,
                                           "code": outcome.error.get("code"),
                                           "attempt": attempt, "will_retry": retry,
                                           "error": outcome.error.get("message")})

    async def _done(self, job_id: str, run_id: str, now: float, duration: float,
                    outcome: Outcome, last: list[int]) -> None:
        f, m = outcome.fields, self.metrics
        m.parse_items.inc(f["items"] - last[0])
        m.parse_bytes.inc(f["bytes"] - last[1])
        m.parse_jobs.labels(status="done").inc()
        m.parse_duration.observe(duration)
        await self._emit(ParseEvent(
            kind=EventKind.DONE, job_id=job_id, run_id=run_id, at=now, items=f["items"],
            bytes=f["bytes"], counts=f["counts"], groups=f["groups"],
            result_uri=f["result_uri"], duration_s=duration, catalogue=f.get("catalogue")))
        log.info("parse_end", extra={"job_id": job_id, "run_id": run_id, "duration_s": duration,
                                     "items": f["items"], "bytes": f["bytes"],
                                     "rss_delta_mb": round(outcome.rss_delta_mb, 1),
                                     "peak_rss_mb": round(outcome.peak_rss_mb, 1),
                                     "catalogue_timings": (f.get("catalogue") or {}).get(
                                         "timings")})

