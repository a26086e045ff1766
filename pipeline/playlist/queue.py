"""The per-worker parse queue: FIFO of waiting jobs plus the set running now.

Plain data structure (no Faust): `pipeline.playlist.service.ParseService` drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParseQueue:
    """Waiting jobs in arrival order, each with a not-before time (retry backoff)."""

    waiting: dict[str, tuple[float, float]] = field(default_factory=dict)  # id -> (queued_at, nb)
    running: set[str] = field(default_factory=set)

    def add(self, job_id: str, queued_at: float, not_before: float = 0.0) -> None:
        if job_id in self.running:
            return
        self.waiting[job_id] = (queued_at, not_before)
        if len(self.waiting) > 1 and queued_at < max(q for q, _ in self.waiting.values()):
            # Rebuilt or late arrivals: keep the queue ordered by when jobs were queued.
            self.waiting = dict(sorted(self.waiting.items(), key=lambda kv: kv[1][0]))

    def discard(self, job_id: str) -> None:
        self.waiting.pop(job_id, None)
        self.running.discard(job_id)

    def pop_ready(self, now: float) -> str | None:
        """The oldest waiting job whose backoff has passed; it moves to `running`."""
        for job_id, (_, not_before) in self.waiting.items():
            if not_before <= now:
                del self.waiting[job_id]
                self.running.add(job_id)
                return job_id
        return None

    def finish(self, job_id: str) -> None:
        self.running.discard(job_id)

    def position(self, job_id: str) -> int | None:
        """0 while running, 1 for the next to start, ...; None when not here."""
        if job_id in self.running:
            return 0
        for index, key in enumerate(self.waiting, start=1):
            if key == job_id:
                return index
        return None
