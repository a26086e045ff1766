"""Priority: with one slot held by a backlog of large videos, a new small photo goes next."""

from __future__ import annotations

import time
import uuid

from tests.conftest import S3Server, WorkerFactory, poll
from tests.integration.test_media_flow import Destination, destination, job, put_object, upload

__all__ = ["destination"]  # the fixture, imported for pytest

MIB = 1024 * 1024
VIDEOS = 200


def test_small_photo_overtakes_video_backlog(worker_factory: WorkerFactory, s3_server: S3Server,
                                             destination: Destination) -> None:
    run = uuid.uuid4().hex[:8]
    worker = worker_factory(PIPELINE_PREWARM_DESTINATION=destination.base + "/warm",
                            PIPELINE_PREWARM_CONCURRENCY="1")
    destination.delay_s[f"/warm/{run}/video"] = 0.5  # each video holds the only slot
    video, photo = b"v" * (21 * MIB), b"p" * (50 * 1024)
    put_object(s3_server, f"{run}/video.mp4", video)
    put_object(s3_server, f"{run}/photo.jpg", photo)

    for i in range(VIDEOS):
        status, body = upload(worker, f"{run}-v{i:03d}", f"{run}/video.mp4", len(video),
                              kind="video")
        assert status == 202 and body["score"] == 85, body  # 100 - 20 (>20 MiB) - 10 + 15

    def backlog() -> dict | None:
        body = worker.request("GET", "/api/media/queue?limit=3")[1]
        return body if body["waiting"] >= VIDEOS - 20 else None
    queue = poll(backlog, timeout=30, what="video backlog queued")
    assert [j["score"] for j in queue["jobs"]] == [85, 85, 85]
    ids = [j["media_id"] for j in queue["jobs"]]
    assert ids == sorted(ids)  # equal scores: oldest upload first

    status, body = upload(worker, f"{run}-photo", f"{run}/photo.jpg", len(photo))
    assert status == 202 and body["score"] == 185
    done = poll(lambda: (b := job(worker, f"{run}-photo")).get("status") == "done" and b,
                timeout=30, what="photo done")
    videos = [job(worker, f"{run}-v{i:03d}") for i in range(VIDEOS)]
    # No video that was still waiting when the photo was queued started before it.
    jumped = [v["media_id"] for v in videos
              if v["started_at"] and done["created_at"] < v["started_at"] < done["started_at"]]
    assert jumped == [], (jumped, done)
    waiting = [v for v in videos if v["status"] == "queued"]
    assert len(waiting) > VIDEOS - 40
    status, queue = worker.request("GET", "/api/media/queue?limit=1000")
    assert [j["media_id"] for j in queue["jobs"]] == sorted(v["media_id"] for v in waiting
                                                             if v["media_id"] in
                                                             {j["media_id"] for j in queue["jobs"]})
    assert time.time() - done["finished_at"] < 30
