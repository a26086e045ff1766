"""What a media job's final status publishes (pure): its result, and for a failed
job a dead letter that `pipeline dlq redrive` can re-run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.media.rules import dead_letter_payload
from pipeline.records import FINAL, DeadLetter, JobStatus, MediaJob, PrewarmResult

UPLOAD_FIELDS = ("media_id", "bucket", "key", "size", "kind", "content_type", "uploaded_at",
                 "destination")


@dataclass(frozen=True)
class Published:
    """Records to send for one updated row; None where there is nothing to send."""

    result: PrewarmResult | None = None
    dead_letter: DeadLetter | None = None


def published(row: MediaJob, now: float) -> Published:
    """The records that announce `row` (nothing unless its status is final)."""
    if row.status not in FINAL:
        return Published()
    result = PrewarmResult(
        media_id=row.media_id, status=row.status, score=row.score, attempts=row.attempts,
        duration_s=row.duration_s, destination_ref=row.destination_ref, error=row.error)
    dead = None
    if row.status == JobStatus.FAILED:
        dead = DeadLetter(
            key=row.media_id, reason={**(row.error or {}), "attempts": row.attempts},
            attempts=row.attempts, payload=dead_letter_payload(row),
            at=row.finished_at or now, request=upload_request(row))
    return Published(result, dead)


def upload_request(row: MediaJob) -> dict[str, Any]:
    """The upload event that re-runs a failed job (`pipeline dlq redrive`)."""
    return {name: getattr(row, name) for name in UPLOAD_FIELDS}
