"""The public job documents, with `position` and the queue ETA `eta_s`.

One place builds them, so `GET /api/playlist/jobs/{id}`, `GET /api/media/{id}`,
the event streams and the webhook bodies carry the same JSON. `eta_s` is an
estimate from this worker's recent run times (`pipeline.eta`, docs/events.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pipeline.eta import RollingMedian, eta_s
from pipeline.media import rules as media_jobs
from pipeline.media.service import PrewarmService
from pipeline.playlist.rules import ACTIVE, job_answer
from pipeline.playlist.service import ParseService
from pipeline.records import JobStatus
from pipeline.settings import Settings

PLAYLIST, MEDIA = "playlist", "media"


class Documents:
    """Renders job rows of this worker; remembers run times for the ETA."""

    def __init__(self, settings: Settings, parse: ParseService, prewarm: PrewarmService,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.parse, self.prewarm, self.clock = settings, parse, prewarm, clock
        self.medians = {PLAYLIST: RollingMedian(), MEDIA: RollingMedian()}

    def finished(self, domain: str, row: Any) -> None:
        """Note a run that ended `done` (its duration feeds the ETA)."""
        if row.status == JobStatus.DONE and row.duration_s:
            self.medians[domain].add(row.duration_s, self.clock())

    def render(self, domain: str, row: Any) -> dict[str, Any]:
        return self.playlist(row) if domain == PLAYLIST else self.media(row)

    def playlist(self, row: Any) -> dict[str, Any]:
        """`GET /api/playlist/jobs/{id}`'s answer for `row`."""
        position = self.parse.position(row.job_id) if row.status in ACTIVE else None
        doc = job_answer(row, position)
        doc["eta_s"] = self._eta(PLAYLIST, row, position, self.settings.parse_concurrency)
        return doc

    def media(self, row: Any) -> dict[str, Any]:
        """`GET /api/media/{id}`'s answer for `row`."""
        now = self.clock()
        position = None
        if row.status == JobStatus.QUEUED:
            position = self.prewarm.scheduler.queue.position(row.media_id, now)
        elif row.status == JobStatus.RUNNING:
            position = 0
        doc = media_jobs.job_answer(row, now, self.settings.score, position)
        if row.status == JobStatus.RUNNING:
            doc["position"] = None  # the media API shows positions of waiting jobs only
        doc["eta_s"] = self._eta(MEDIA, row, position, self.settings.prewarm_concurrency)
        return doc

    def _eta(self, domain: str, row: Any, position: int | None, slots: int) -> float | None:
        if row.status not in ACTIVE:
            return None
        now = self.clock()
        elapsed = now - row.started_at if row.started_at and position == 0 else None
        return eta_s(position, self.medians[domain].median(now), slots=slots,
                     elapsed_s=elapsed)
