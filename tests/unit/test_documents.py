"""Job documents carry `eta_s` next to `position` (an estimate from recent runs)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pipeline.records import JobStatus, MediaJob, PlaylistJob
from pipeline.settings import Settings
from pipeline.web.documents import MEDIA, PLAYLIST, Documents


class Positions:
    def __init__(self, positions: dict[str, int]) -> None:
        self.positions = positions

    def position(self, key: str, now: float | None = None) -> int | None:
        return self.positions.get(key)


def documents(positions: dict[str, int]) -> tuple[Documents, Any]:
    clock = SimpleNamespace(now=10_000.0)
    prewarm = SimpleNamespace(scheduler=SimpleNamespace(queue=Positions(positions)))
    docs = Documents(Settings(parse_concurrency=2, prewarm_concurrency=1),
                     Positions(positions), prewarm, clock=lambda: clock.now)  # type: ignore[arg-type]
    return docs, clock


def test_playlist_eta_follows_the_median_of_recent_runs() -> None:
    docs, clock = documents({"a": 3, "r": 0})
    queued = PlaylistJob(job_id="a", url="http://x/a.m3u", status=JobStatus.QUEUED)
    assert docs.playlist(queued)["eta_s"] is None  # no recent runs: no basis
    for seconds in (10.0, 20.0, 30.0):
        docs.finished(PLAYLIST, PlaylistJob(job_id="d", url="u", status=JobStatus.DONE,
                                            duration_s=seconds))
    doc = docs.playlist(queued)
    assert doc["position"] == 3 and doc["eta_s"] == 40.0  # ceil(3 / 2 slots) x 20 s
    running = PlaylistJob(job_id="r", url="u", status=JobStatus.RUNNING,
                          started_at=clock.now - 5)
    assert docs.playlist(running)["eta_s"] == 15.0
    done = PlaylistJob(job_id="d", url="u", status=JobStatus.DONE, duration_s=1.0)
    assert docs.playlist(done)["eta_s"] is None and docs.playlist(done)["position"] is None


def test_media_eta_and_position() -> None:
    docs, _ = documents({"m": 2})
    docs.finished(MEDIA, MediaJob(media_id="x", bucket="b", key="k", status=JobStatus.DONE,
                                  duration_s=4.0))
    row = MediaJob(media_id="m", bucket="b", key="k", status=JobStatus.QUEUED)
    doc = docs.media(row)
    assert doc["position"] == 2 and doc["eta_s"] == 8.0
    failed = docs.media(row.derive(status=JobStatus.FAILED))
    assert failed["eta_s"] is None
