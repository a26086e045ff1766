"""Pure rules for media prewarm jobs: validating an upload, dedupe, applying run events.

No Faust, network or clock imports: time, randomness and run ids are passed in.
Rows are duck-typed (`pipeline.records.MediaJob`); changes go through `row.derive`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from pipeline.encoding import require_utf8
from pipeline.errors import BadRequest, URLRefused
from pipeline.media.score import KINDS, Weights, score
from pipeline.media.targets import Policy, resolve
from pipeline.redaction import redact
from pipeline.retry import backoff_s

ACTIVE = ("queued", "running")
# Statuses in which a repeated upload event does nothing (unless `force`).
DEDUPED = ("queued", "running", "done")
_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@=+-]{0,199}")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
MAX_KEY_BYTES = 1024


def _text(body: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None = None,
          max_len: int = 1024, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise BadRequest(f"`{name}` is required")
    if not isinstance(value, str) or not value or len(value.encode()) > max_len:
        raise BadRequest(f"`{name}` must be a non-empty string of at most {max_len} bytes")
    if pattern is not None and not pattern.fullmatch(value):
        raise BadRequest(f"`{name}` has characters that are not allowed")
    return value


# The largest S3 object; also keeps sizes inside the JSON/int64 range.
MAX_SIZE = 5 * 1024**4


def _timestamp(value: Any, now: float) -> float:
    """Epoch seconds from a number or an ISO-8601 string; `now` when absent."""
    if value is None or value == 0:
        return now
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise BadRequest("`uploaded_at` must be epoch seconds or ISO-8601") from exc
    try:
        ok = not isinstance(value, bool) and isinstance(value, int | float) \
            and math.isfinite(value) and 0 <= value < 1e11
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise BadRequest("`uploaded_at` must be epoch seconds or ISO-8601")
    return float(value)


def validate_upload(body: Mapping[str, Any], *, default_bucket: str, now: float,
                    allowed_buckets: Collection[str] = ()) -> dict[str, Any]:
    """The fields of a `media.uploads` event, checked; raises BadRequest (400), or
    URLRefused (422) for a source bucket outside `allowed_buckets` (when given)."""
    require_utf8(body)
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise BadRequest("`size` must be a whole number of bytes, 0 to 5 TiB")
    kind = body.get("kind")
    if kind not in KINDS:
        raise BadRequest(f"`kind` must be one of {', '.join(KINDS)}")
    content_type = body.get("content_type") or ""
    if not isinstance(content_type, str) or len(content_type) > 255:
        raise BadRequest("`content_type` must be a string")
    destination = body.get("destination") or None
    if destination is not None and (not isinstance(destination, str) or len(destination) > 2048):
        raise BadRequest("`destination` must be a URL string")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise BadRequest("`force` must be true or false")
    bucket = _text(body, "bucket", _BUCKET, 255, default=default_bucket)
    if allowed_buckets and bucket not in allowed_buckets:
        raise URLRefused("`bucket` is not a media source bucket (PIPELINE_MEDIA_SOURCE_BUCKETS)")
    return {
        "media_id": _text(body, "media_id", _MEDIA_ID, 200),
        "bucket": bucket,
        "key": _text(body, "key", None, MAX_KEY_BYTES),
        "size": size, "kind": kind, "content_type": content_type,
        "uploaded_at": _timestamp(body.get("uploaded_at"), now),
        "destination": destination, "force": force,
    }


def check_destination(url: str, *, default: str, allowed: Iterable[str],
                      protected_buckets: Iterable[str]) -> str:
    """Refuse a per-event destination override the operator did not allow (422).

    The rules live in `pipeline.media.targets.resolve`, which the writer runs again.
    """
    resolve(url, Policy(default, tuple(allowed), frozenset(protected_buckets)))
    return url


def upload_starts_job(row: Any, force: bool) -> bool:
    """True when an upload event (re)queues the job; False when it is a duplicate."""
    return row is None or force or row.status not in DEDUPED


def job_time(row: Any) -> float:
    """The time a job's age counts from: its upload time, else when it was queued."""
    return float(row.uploaded_at or row.created_at)


def current_score(row: Any, now: float, weights: Weights) -> float:
    return score(row.size, row.kind, now - job_time(row), weights)


def apply_event(row: Any, ev: Any, *, weights: Weights, max_attempts: int, retry_base_s: float,
                jitter: float, next_run_id: str) -> Any | None:
    """The row after a run event, or None when the event is stale or changes nothing."""
    if row is not None and ev.kind == "cancelled":  # whichever run is current
        return row.derive(status="cancelled", finished_at=ev.at, not_before=0.0,
                          error=ev.error or {"code": "cancelled",
                                             "message": "cancelled by request"}) \
            if row.status in ACTIVE else None
    if row is None or ev.run_id != row.run_id:
        return None
    if ev.kind == "started" and row.status in ACTIVE:
        return row.derive(status="running", attempts=ev.attempts, started_at=ev.at,
                          finished_at=None, score=score(row.size, row.kind,
                                                        ev.at - job_time(row), weights))
    if row.status != "running":
        return None
    common = {"attempts": ev.attempts, "error": ev.error, "duration_s": ev.duration_s}
    if ev.kind == "done":
        return row.derive(**common, status="done", finished_at=ev.at, bytes=ev.bytes,
                          destination_ref=ev.destination_ref)
    if ev.kind == "retry" and ev.attempts < max_attempts:
        wait = backoff_s(ev.attempts, retry_base_s, jitter)
        return row.derive(**common, status="queued", not_before=ev.at + wait,
                          run_id=next_run_id)
    if ev.kind in ("retry", "failed"):
        return row.derive(**common, status="failed", finished_at=ev.at)
    return None


def job_answer(row: Any, now: float, weights: Weights,
               position: int | None = None) -> dict[str, Any]:
    """The public JSON of a job (`GET /api/media/{media_id}`)."""
    live = row.status == "queued"
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


def dead_letter_payload(row: Any) -> dict[str, Any]:
    """The upload event of a failed job, as it could be re-published (a destination
    URL's credentials are masked: dead letters are read by more people than workers)."""
    fields = ("media_id", "bucket", "key", "size", "kind", "content_type", "uploaded_at",
              "destination")
    return redact({name: getattr(row, name) for name in fields})
