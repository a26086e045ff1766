"""Pure rules for playlist jobs: what a request does to a row, how a row is shown.

No Faust, network or clock imports: time is passed in.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pipeline.urls import redact_url

ACTIVE = ("queued", "running")


class Decision(StrEnum):
    QUEUE = "queue"  # start (or restart) the job
    IN_FLIGHT = "in_flight"  # queued or running already: dedupe
    FRESH = "fresh"  # done and younger than the TTL: return the result


class JobRow(Protocol):
    job_id: str
    url: str
    status: str
    finished_at: float | None


def decide(row: JobRow | None, *, force: bool, replay: bool, now: float,
           ttl_s: float) -> Decision:
    """What a parse request does, given the job's current row.

    A job in flight is never started twice, not even by `force` or a replay;
    a fresh `done` result is reused unless `force` or a replay asks otherwise.
    """
    if row is None:
        return Decision.QUEUE
    if row.status in ACTIVE:
        return Decision.IN_FLIGHT
    if (row.status == "done" and not (force or replay) and row.finished_at is not None
            and now - row.finished_at < ttl_s):
        return Decision.FRESH
    return Decision.QUEUE


def backoff_s(attempt: int, base_s: float, jitter: float, cap_s: float = 300.0) -> float:
    """Exponential backoff with jitter in [0.5, 1.5) (`jitter` in [0, 1) is passed in)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)) * (0.5 + jitter))


def job_answer(row: Any, position: int | None) -> dict[str, Any]:
    """The public JSON for a job row (URL redacted)."""
    done = row.status == "done"
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
        "links": {"self": f"/api/playlist/jobs/{row.job_id}",
                  "items": f"/api/playlist/jobs/{row.job_id}/items"},
    }
