"""Submits this worker accepted moments ago whose row the agent has not written yet.

Per-worker memory, built once by the composition root: a burst of identical
submits, or a GET right after a submit, is answered from here instead of a
resend or a 404.
"""

from __future__ import annotations

from typing import Any

from pipeline.media.rules import current_score
from pipeline.media.score import Weights
from pipeline.records import JobStatus, MediaJob

# Requests produced here but not yet applied dedupe for this long.
PENDING_TTL_S = 30.0
# An accepted upload answers GETs for this long before its row exists.
ACCEPTED_TTL_S = 30.0


class PendingParses:
    """Parse requests produced here but not yet applied by the agent."""

    def __init__(self) -> None:
        self._sent: dict[str, float] = {}  # job_id -> when it was produced

    def is_pending(self, job_id: str, now: float) -> bool:
        return self._sent.get(job_id, 0) > now - PENDING_TTL_S

    def add(self, job_id: str, now: float) -> None:
        self._sent[job_id] = now

    def done(self, job_id: str) -> None:
        self._sent.pop(job_id, None)


class AcceptedUploads:
    """Provisional rows of uploads accepted by this (owning) worker."""

    def __init__(self, weights: Weights) -> None:
        self.weights = weights
        self._rows: dict[str, MediaJob] = {}

    def remember(self, fields: dict[str, Any], now: float) -> None:
        while self._rows:  # insertion order is age order: drop the expired head
            oldest = next(iter(self._rows.values()))
            if oldest.created_at > now - ACCEPTED_TTL_S:
                break
            self._rows.pop(oldest.media_id)
        row = MediaJob(**{k: v for k, v in fields.items() if k != "force"},
                       status=JobStatus.QUEUED, created_at=now)
        self._rows[row.media_id] = row.derive(score=current_score(row, now, self.weights))

    def current(self, table: Any, media_id: str, now: float) -> MediaJob | None:
        """The job row, or the provisional one of an upload accepted here moments ago."""
        row: MediaJob | None = table.get(media_id)
        if row is not None:
            self._rows.pop(media_id, None)
            return row
        pending = self._rows.get(media_id)
        if pending is not None and pending.created_at > now - ACCEPTED_TTL_S:
            return pending
        return None
