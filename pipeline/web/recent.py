"""Submits this worker accepted moments ago whose row the agent has not written yet.

Per-worker memory, built once by the composition root: a burst of identical
submits, or a GET right after a submit, is answered from here instead of a
resend or a 404.
"""

from __future__ import annotations

from typing import Any

from pipeline.media.rules import current_score
from pipeline.media.score import Weights
from pipeline.records import JobStatus, MediaJob, PlaylistJob

# Requests produced here but not yet applied dedupe (and answer GETs) for this long.
PENDING_TTL_S = 30.0
# An accepted upload answers GETs for this long before its row exists.
ACCEPTED_TTL_S = 30.0


class PendingParses:
    """Parse requests produced here but not yet applied by the agent: their
    provisional `queued` rows dedupe repeated submits and answer GETs."""

    def __init__(self) -> None:
        self._rows: dict[str, PlaylistJob] = {}  # job_id -> provisional row

    def is_pending(self, job_id: str, now: float) -> bool:
        row = self._rows.get(job_id)
        return row is not None and row.queued_at > now - PENDING_TTL_S

    def add(self, row: PlaylistJob) -> None:
        while self._rows:  # insertion order is age order: drop the expired head
            oldest = next(iter(self._rows.values()))
            if oldest.queued_at > row.queued_at - PENDING_TTL_S:
                break
            self._rows.pop(oldest.job_id)
        self._rows.pop(row.job_id, None)
        self._rows[row.job_id] = row

    def done(self, job_id: str) -> None:
        self._rows.pop(job_id, None)

    def current(self, table: Any, job_id: str, now: float) -> PlaylistJob | None:
        """The job row, or the provisional one of a submit accepted here moments ago
        (an existing row is shown until the request that re-queues it is applied)."""
        row: PlaylistJob | None = table.get(job_id)
        if row is None and self.is_pending(job_id, now):
            return self._rows[job_id]
        return row


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
