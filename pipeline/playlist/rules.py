"""Pure rules for playlist jobs: what a request or a run event does to a row,
how a row is shown.

No Faust, network or clock imports: time and jitter are passed in.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pipeline.records import ACTIVE, EventKind, JobStatus, ParseEvent, ParseRequest, PlaylistJob
from pipeline.retry import backoff_s
from pipeline.urls import redact_url

__all__ = ["ACTIVE", "Decision", "applies_to", "apply_event", "cancelled_row", "decide",
           "dropped_runs", "job_answer", "queued_row"]

# Events that apply to whichever run is current; others only to their own run.
UNBOUND_EVENTS = (EventKind.STARTED, EventKind.CANCELLED)


def applies_to(row: PlaylistJob | None, ev: ParseEvent) -> bool:
    """False for an event of a job without a row, or of a superseded run."""
    return row is not None and (ev.kind in UNBOUND_EVENTS or ev.run_id == row.run_id)


class Decision(StrEnum):
    QUEUE = "queue"  # start (or restart) the job
    IN_FLIGHT = "in_flight"  # queued or running already: dedupe
    FRESH = "fresh"  # done and younger than the TTL: return the result


def decide(row: PlaylistJob | None, *, force: bool, replay: bool, now: float,
           ttl_s: float) -> Decision:
    """What a parse request does, given the job's current row.

    A job in flight is never started twice, not even by `force` or a replay;
    a fresh `done` result is reused unless `force` or a replay asks otherwise.
    """
    if row is None:
        return Decision.QUEUE
    if row.status in ACTIVE:
        return Decision.IN_FLIGHT
    if (row.status == JobStatus.DONE and not (force or replay) and row.finished_at is not None
            and now - row.finished_at < ttl_s):
        return Decision.FRESH
    return Decision.QUEUE


def queued_row(job_id: str, req: ParseRequest, row: PlaylistJob | None,
               now: float) -> PlaylistJob:
    """The row of a job (re)queued by `req` (runs and creation time carried over)."""
    return PlaylistJob(
        job_id=job_id, url=req.url, status=JobStatus.QUEUED,
        runs=row.runs if row else 0, created_at=row.created_at if row else now,
        queued_at=now, request_id=req.request_id, callback_url=req.callback_url,
        # A refresh keeps serving (and later diffs against) the last catalogue.
        catalogue_run=row.catalogue_run if row else "",
        catalogue_runs=row.catalogue_runs if row else None,
        changes=row.changes if row else None)


def apply_event(row: PlaylistJob, ev: ParseEvent, *, retry_base_s: float,
                jitter: float, keep_runs: int = 2) -> PlaylistJob | None:
    """The row after `ev`, or None when the event changes nothing."""
    if ev.kind == EventKind.STARTED:
        # Redelivered after a crash (at-least-once): applying it twice would count twice.
        if row.status not in ACTIVE or row.run_id == ev.run_id:
            return None
        return row.derive(status=JobStatus.RUNNING, run_id=ev.run_id, runs=row.runs + 1,
                          attempt=row.attempt + 1, started_at=ev.at, finished_at=None,
                          progress_items=0, progress_bytes=0)
    if ev.kind == EventKind.CANCELLED:
        return cancelled_row(row, ev) if row.status in ACTIVE else None
    if row.status != JobStatus.RUNNING:
        return None
    if ev.kind == EventKind.PROGRESS:
        return row.derive(progress_items=ev.items, progress_bytes=ev.bytes)
    if ev.kind == EventKind.DONE:
        return row.derive(status=JobStatus.DONE, finished_at=ev.at, error=None, attempt=0,
                          progress_items=ev.items, progress_bytes=ev.bytes,
                          result_items=ev.items, counts=ev.counts, groups=ev.groups,
                          result_uri=ev.result_uri, duration_s=ev.duration_s,
                          **_catalogue_fields(row, ev, keep_runs))
    if ev.kind == EventKind.RETRY:
        nb = ev.at + backoff_s(row.attempt, retry_base_s, jitter)
        return row.derive(status=JobStatus.QUEUED, error=ev.error, queued_at=ev.at,
                          not_before=nb)
    if ev.kind == EventKind.FAILED:
        return row.derive(status=JobStatus.FAILED, finished_at=ev.at, error=ev.error,
                          duration_s=ev.duration_s)
    return None


CANCELLED_ERROR = {"code": "cancelled", "message": "cancelled by request"}


def cancelled_row(row: PlaylistJob, ev: ParseEvent) -> PlaylistJob:
    """The row of a job cancelled while queued or running (a later submit starts fresh)."""
    return row.derive(status=JobStatus.CANCELLED, finished_at=ev.at, not_before=0.0,
                      error=ev.error or dict(CANCELLED_ERROR))


def _catalogue_fields(row: PlaylistJob, ev: ParseEvent, keep_runs: int) -> dict[str, Any]:
    """The row's catalogue fields after a `done` event: the new run is served,
    the kept runs are the last ``keep_runs`` (the others' objects may go)."""
    cat = ev.catalogue or {}
    run = cat.get("run_id") or ""
    if not run:  # a run without a catalogue: nothing is served rather than a stale one
        return {"catalogue_run": "", "changes": None}
    runs = [r for r in (row.catalogue_runs or []) if r != run] + [run]
    return {"catalogue_run": run, "catalogue_runs": runs[-max(1, keep_runs):],
            "changes": cat.get("changes")}


def dropped_runs(before: PlaylistJob, after: PlaylistJob) -> list[str]:
    """Runs whose objects may be deleted now that ``after`` is the row."""
    kept = set(after.catalogue_runs or [])
    return [r for r in (before.catalogue_runs or []) if r not in kept]


def job_answer(row: PlaylistJob, position: int | None) -> dict[str, Any]:
    """The public JSON for a job row (URL redacted)."""
    done = row.status == JobStatus.DONE
    return {
        "job_id": row.job_id,
        "url": redact_url(row.url),
        "status": row.status,
        "runs": row.runs,
        "attempt": row.attempt,
        "position": position,
        "progress": {"items": row.progress_items, "bytes": row.progress_bytes},
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": row.error,
        "result": {
            "items": row.result_items,
            "counts": {k: (row.counts or {}).get(k, 0) for k in ("live", "movie", "series")},
            "groups": row.groups,
            "duration_s": row.duration_s,
        } if done else None,
        "result_uri": row.result_uri if done else None,
        "catalogue": {"run_id": row.catalogue_run, "runs": row.catalogue_runs or []}
        if row.catalogue_run else None,
        "changes": row.changes if row.catalogue_run else None,
        "links": {"self": f"/api/playlist/jobs/{row.job_id}",
                  "items": f"/api/playlist/jobs/{row.job_id}/items",
                  "groups": f"/api/playlist/jobs/{row.job_id}/groups",
                  "diff": f"/api/playlist/jobs/{row.job_id}/diff"},
    }
