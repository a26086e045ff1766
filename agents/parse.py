"""Playlist parsing: apply requests and run events to the job table, run parses.

- `handle_requests` (topic playlist.parse.requests) creates or dedupes job rows.
- `apply_events` (internal events topic) applies started/progress/done/failed/retry
  to rows; Faust allows table writes only here, inside stream iteration.
- `dispatch` starts at most `parse_concurrency` parses, each in a child process,
  and reports back through events keyed by job_id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

from pipeline import queues
from pipeline.app import app, metrics, settings
from pipeline.broker import consumer_lag
from pipeline.jobs import ACTIVE, Decision, backoff_s, decide
from pipeline.parse_job import ParseSpec
from pipeline.parse_queue import ParseQueue
from pipeline.parse_runner import ParsePool
from pipeline.partitioning import key_partition
from pipeline.records import DeadLetter, ParseEvent, ParseRequest, ParseResult
from pipeline.topics import parse_dlq, parse_events, parse_requests, parse_results
from pipeline.urls import redact_url
from tables.playlist_jobs import PlaylistJob, playlist_jobs

log = logging.getLogger("pipeline.parse")

queue = ParseQueue()
pool = ParsePool(settings.parse_max_rss_mb)
tasks: dict[str, asyncio.Task[None]] = {}
task_runs: dict[str, str] = {}  # job_id -> run id of the local task
# A `running` row found at rebalance may be a crashed run, or a finished one whose
# `done` event is still in the topic: wait this long, and for the events backlog
# to drain, before starting it again.
RESUME_GRACE_S = 2.0
# Longest a resumed job waits for that backlog (progress events of other parses on
# the same partition can keep its lag above zero for a while).
RESUME_MAX_WAIT_S = 8.0
resumed: dict[str, float] = {}  # job_id -> time after which it starts regardless
_background: set[asyncio.Future[Any]] = set()  # progress sends in flight
_wakeup = asyncio.Event()
queues.register("parse", lambda: {
    "waiting": len(queue.waiting) + consumer_lag(settings.topic_parse_requests),
    "active": len(queue.running)})


def _kick() -> None:
    metrics.parse_queued.set(len(queue.waiting))
    metrics.parse_active.set(len(queue.running))
    _wakeup.set()


@app.agent(parse_requests)
async def handle_requests(stream: Any) -> None:
    async for job_id, req in stream.items():
        apply_request(job_id, req, time.time())


def apply_request(job_id: str, req: ParseRequest, now: float) -> None:
    row = playlist_jobs.get(job_id)
    decision = decide(row, force=req.force, replay=req.replay, now=now,
                      ttl_s=settings.result_ttl_s)
    if decision is not Decision.QUEUE:
        log.info("parse_deduplicated", extra={"job_id": job_id, "reason": decision.value})
        return
    playlist_jobs[job_id] = PlaylistJob(
        job_id=job_id, url=req.url, status="queued",
        runs=row.runs if row else 0, created_at=row.created_at if row else now,
        queued_at=now, request_id=req.request_id)
    queue.add(job_id, now)
    log.info("parse_queued", extra={"job_id": job_id, "url": redact_url(req.url),
                                    "replay": req.replay, "force": req.force})
    _kick()


@app.agent(parse_events)
async def apply_events(stream: Any) -> None:
    async for job_id, event in stream.items():
        row = playlist_jobs.get(job_id)
        if row is None or (event.kind != "started" and event.run_id != row.run_id):
            continue  # an event of a superseded run
        updated = apply_event(row, event)
        if updated is None and event.kind == "started" and row.status not in ACTIVE:
            _cancel_local_run(job_id, event.run_id)  # the job finished meanwhile
        if updated is not None:
            playlist_jobs[job_id] = updated
            await _announce(updated, event)


def _cancel_local_run(job_id: str, run_id: str) -> None:
    task = tasks.get(job_id)
    if task is not None and task_runs.get(job_id) == run_id:
        log.info("parse_superseded", extra={"job_id": job_id, "run_id": run_id})
        task.cancel()


def apply_event(row: PlaylistJob, ev: ParseEvent) -> PlaylistJob | None:
    """The row after `ev`, or None when the event changes nothing."""
    if ev.kind == "started":
        # Redelivered after a crash (at-least-once): applying it twice would count twice.
        if row.status not in ACTIVE or row.run_id == ev.run_id:
            return None
        return row.derive(status="running", run_id=ev.run_id, runs=row.runs + 1,
                          attempt=row.attempt + 1, started_at=ev.at, finished_at=None,
                          progress_items=0, progress_bytes=0)
    if row.status != "running":
        return None
    if ev.kind == "progress":
        return row.derive(progress_items=ev.items, progress_bytes=ev.bytes)
    if ev.kind == "done":
        return row.derive(status="done", finished_at=ev.at, error=None, attempt=0,
                          progress_items=ev.items, progress_bytes=ev.bytes,
                          result_items=ev.items, counts=ev.counts, groups=ev.groups,
                          result_uri=ev.result_uri, duration_s=ev.duration_s)
    if ev.kind == "retry":
        nb = ev.at + backoff_s(row.attempt, settings.parse_retry_base_s, random.random())
        return row.derive(status="queued", error=ev.error, queued_at=ev.at, not_before=nb)
    if ev.kind == "failed":
        return row.derive(status="failed", finished_at=ev.at, error=ev.error,
                          duration_s=ev.duration_s)
    return None


async def _announce(row: PlaylistJob, ev: ParseEvent) -> None:
    if ev.kind == "retry":
        queue.add(row.job_id, row.queued_at, row.not_before)
        _kick()
    if ev.kind not in ("done", "failed"):
        return
    await parse_results.send(key=row.job_id, value=ParseResult(
        job_id=row.job_id, status=row.status, items=row.result_items, counts=row.counts,
        result_uri=row.result_uri, duration_s=row.duration_s, error=row.error,
        run_id=row.run_id))
    if ev.kind == "failed" and ev.transient:
        await parse_dlq.send(key=row.job_id, value=DeadLetter(
            key=row.job_id, reason=row.error or {}, attempts=row.attempt,
            payload={"url": redact_url(row.url), "run_id": row.run_id}, at=ev.at))


@app.task
async def dispatch() -> None:
    """Start queued parses while slots are free."""
    while not app.should_stop:
        _wakeup.clear()
        while len(queue.running) < settings.parse_concurrency:
            job_id = queue.pop_ready(time.time())
            if job_id is None:
                break
            row = playlist_jobs.get(job_id)
            if row is None or row.status not in ACTIVE:
                queue.finish(job_id)
                resumed.pop(job_id, None)
                continue
            if (job_id in resumed and time.time() < resumed[job_id]
                    and consumer_lag(parse_events.get_topic_name(),
                                     key_partition(job_id, settings.topic_partitions)) > 0):
                queue.finish(job_id)  # outcome events still unapplied: look again soon
                queue.add(job_id, row.queued_at, time.time() + 0.5)
                continue
            resumed.pop(job_id, None)
            tasks[job_id] = asyncio.create_task(run_job(row))
        _kick()
        _wakeup.clear()
        try:
            await asyncio.wait_for(_wakeup.wait(), timeout=1.0)
        except TimeoutError:
            pass


async def run_job(row: PlaylistJob) -> None:
    """One run of a job: started event, child process, outcome event."""
    job_id, run_id, started = row.job_id, uuid.uuid4().hex[:12], time.time()
    attempt = row.attempt + 1
    task_runs[job_id] = run_id
    await parse_events.send(key=job_id, value=ParseEvent(
        kind="started", job_id=job_id, run_id=run_id, at=started))
    log.info("parse_start", extra={"job_id": job_id, "run_id": run_id, "attempt": attempt,
                                   "url": redact_url(row.url)})
    last = [0, 0]

    def on_progress(items: int, nbytes: int) -> None:
        metrics.parse_items.inc(items - last[0])
        metrics.parse_bytes.inc(nbytes - last[1])
        last[:] = [items, nbytes]
        sending = asyncio.ensure_future(parse_events.send(key=job_id, value=ParseEvent(
            kind="progress", job_id=job_id, run_id=run_id, at=time.time(),
            items=items, bytes=nbytes)))
        _background.add(sending)
        sending.add_done_callback(_background.discard)
        log.info("parse_progress", extra={"job_id": job_id, "items": items, "bytes": nbytes})

    try:
        spec = ParseSpec(job_id, run_id, row.url, settings)
        outcome = await pool.run(spec, on_progress)
        await _report(job_id, run_id, attempt, started, outcome, last)
    finally:
        queue.finish(job_id)
        tasks.pop(job_id, None)
        task_runs.pop(job_id, None)
        _kick()


async def _report(job_id: str, run_id: str, attempt: int, started: float,
                  outcome: Any, last: list[int]) -> None:
    now = time.time()
    duration = round(now - started, 3)
    if outcome.ok:
        f = outcome.fields
        metrics.parse_items.inc(f["items"] - last[0])
        metrics.parse_bytes.inc(f["bytes"] - last[1])
        metrics.parse_jobs.labels(status="done").inc()
        metrics.parse_duration.observe(duration)
        await parse_events.send(key=job_id, value=ParseEvent(
            kind="done", job_id=job_id, run_id=run_id, at=now, items=f["items"],
            bytes=f["bytes"], counts=f["counts"], groups=f["groups"],
            result_uri=f["result_uri"], duration_s=duration))
        log.info("parse_end", extra={"job_id": job_id, "run_id": run_id, "duration_s": duration,
                                     "items": f["items"], "bytes": f["bytes"],
                                     "rss_delta_mb": round(outcome.rss_delta_mb, 1),
                                     "peak_rss_mb": round(outcome.peak_rss_mb, 1)})
        return
    retry = outcome.transient and attempt < settings.parse_max_attempts
    kind = "retry" if retry else "failed"
    if not retry:
        metrics.parse_jobs.labels(status="failed").inc()
    await parse_events.send(key=job_id, value=ParseEvent(
        kind=kind, job_id=job_id, run_id=run_id, at=now, error=outcome.error,
        transient=outcome.transient, duration_s=duration))
    log.warning("parse_failed", extra={"job_id": job_id, "run_id": run_id,
                                       "code": outcome.error.get("code"), "attempt": attempt,
                                       "will_retry": retry,
                                       "error": outcome.error.get("message")})


@app.on_rebalance_complete.connect  # type: ignore[arg-type]
async def resume_owned_jobs(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Resume queued/running jobs of the partitions this worker now owns."""
    owned: dict[str, PlaylistJob] = {}
    for job_id, row in playlist_jobs.items():
        if row is not None and row.status in ACTIVE:
            owned[job_id] = row
    for job_id in list(queue.waiting) + list(queue.running):
        if job_id not in owned:
            queue.discard(job_id)
            task = tasks.pop(job_id, None)
            if task:
                task.cancel()
    for job_id, row in sorted(owned.items(), key=lambda kv: kv[1].queued_at):
        if job_id not in queue.running and job_id not in queue.waiting:
            not_before = row.not_before
            if row.status == "running":
                not_before = time.time() + RESUME_GRACE_S
                resumed[job_id] = not_before + RESUME_MAX_WAIT_S
                log.info("parse_resume", extra={"job_id": job_id, "run_id": row.run_id})
            queue.add(job_id, row.queued_at, not_before)
    _kick()
