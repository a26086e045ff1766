"""Pure rules for media prewarm jobs: validating an upload, dedupe, applying run events.

No Faust, network or clock imports: time, randomness and run ids are passed in.
Rows are `pipeline.records.MediaJob`; changes go through `row.derive`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pipeline.api_models import MediaUpload, validate
from pipeline.errors import URLRefused
from pipeline.media.score import Weights, score
from pipeline.media.targets import Policy, resolve
from pipeline.records import (
    ACTIVE,
    EventKind,
    JobStatus,
    MediaJob,
    PrewarmEvent,
    record_fields,
)
from pipeline.redaction import redact
from pipeline.retry import backoff_s

# Statuses in which a repeated upload event does nothing (unless `force`).
DEDUPED = (*ACTIVE, JobStatus.DONE)


def validate_upload(body: Mapping[str, Any], *, default_bucket: str, now: float,
                    allowed_buckets: Collection[str] = ()) -> dict[str, Any]:
    """The fields of a `media.uploads` event, checked against `api_models.MediaUpload`;
    raises BadRequest (400), or URLRefused (422) for a source bucket outside
    `allowed_buckets` (when given)."""
    upload = validate(MediaUpload, body, default_bucket=default_bucket, now=now)
    if allowed_buckets and upload.bucket not in allowed_buckets:
        raise URLRefused("`bucket` is not a media source bucket (PIPELINE_MEDIA_SOURCE_BUCKETS)")
    return upload.model_dump()


def check_destination(url: str, *, default: str, allowed: Iterable[str],
                      protected_buckets: Iterable[str]) -> str:
    """Refuse a per-event destination override the operator did not allow (422).

    The rules live in `pipeline.media.targets.resolve`, which the writer runs again.
    """
    resolve(url, Policy(default, tuple(allowed), frozenset(protected_buckets)))
    return url


def upload_starts_job(row: MediaJob | None, force: bool) -> bool:
    """True when an upload event (re)queues the job; False when it is a duplicate."""
    return row is None or force or row.status not in DEDUPED


def admit(row: MediaJob | None, fields: dict[str, Any], *, now: float, weights: Weights,
          run_id: str) -> MediaJob | None:
    """The queued row an upload event creates, or None when it is a duplicate of `row`.

    `fields` are a checked upload event's (`validate_upload`) with `replay`/`force`;
    a replayed upload re-runs a job that is done.
    """
    replay, force = fields.get("replay", False), fields.get("force", False)
    force = force or (replay and row is not None and row.status == JobStatus.DONE)
    if row is not None and not upload_starts_job(row, force):
        return None
    new = MediaJob(**record_fields(MediaJob, fields), status=JobStatus.QUEUED, run_id=run_id,
                   created_at=now)
    return new.derive(score=current_score(new, now, weights))


def job_time(row: MediaJob) -> float:
    """The time a job's age counts from: its upload time, else when it was queued."""
    return float(row.uploaded_at or row.created_at)


def current_score(row: MediaJob, now: float, weights: Weights) -> float:
    return score(row.size, row.kind, now - job_time(row), weights)


def apply_event(row: MediaJob | None, ev: PrewarmEvent, *, weights: Weights, max_attempts: int,
                retry_base_s: float, jitter: float, next_run_id: str) -> MediaJob | None:
    """The row after a run event, or None when the event is stale or changes nothing."""
    if row is not None and ev.kind == EventKind.CANCELLED:  # whichever run is current
        if row.status not in ACTIVE:
            return None
        return row.derive(status=JobStatus.CANCELLED, finished_at=ev.at, not_before=0.0,
                          error=ev.error or {"code": "cancelled",
                                             "message": "cancelled by request"})
    if row is None or ev.run_id != row.run_id:
        return None
    if ev.kind == EventKind.STARTED and row.status in ACTIVE:
        return row.derive(status=JobStatus.RUNNING, attempts=ev.attempts, started_at=ev.at,
                          finished_at=None, score=score(row.size, row.kind,
                                                        ev.at - job_time(row), weights))
    if row.status != JobStatus.RUNNING:
        return None
    common = {"attempts": ev.attempts, "error": ev.error, "duration_s": ev.duration_s}
    if ev.kind == EventKind.DONE:
        return row.derive(**common, status=JobStatus.DONE, finished_at=ev.at, bytes=ev.bytes,
                          destination_ref=ev.destination_ref)
    if ev.kind == EventKind.RETRY and ev.attempts < max_attempts:
        wait = backoff_s(ev.attempts, retry_base_s, jitter)
        return row.derive(**common, status=JobStatus.QUEUED, not_before=ev.at + wait,
                          run_id=next_run_id)
    if ev.kind in (EventKind.RETRY, EventKind.FAILED):
        return row.derive(**common, status=JobStatus.FAILED, finished_at=ev.at)
    return None


def job_answer(row: MediaJob, now: float, weights: Weights,
               position: int | None = None) -> dict[str, Any]:
    """The public JSON of a job (`GET /api/media/{media_id}`)."""
    live = row.status == JobStatus.QUEUED
    return {
        "media_id": row.media_id,
        "status": row.status,
        "score": round(current_score(row, now, weights) if live else row.score, 3),
        "attempts": row.attempts,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "destination_ref": row.destination_ref,
        "error": row.error,
        "kind": row.kind,
        "size": row.size,
        "position": position,
        "not_before": row.not_before if live and row.not_before > now else None,
    }


def dead_letter_payload(row: MediaJob) -> dict[str, Any]:
    """The upload event of a failed job, as it could be re-published (a destination
    URL's credentials are masked: dead letters are read by more people than workers)."""
    fields = ("media_id", "bucket", "key", "size", "kind", "content_type", "uploaded_at",
              "destination")
    return redact({name: getattr(row, name) for name in fields})
