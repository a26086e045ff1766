"""Media prewarm API: publish an upload event, read a job, list the local queue."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from faust.web import Request, Response

from agents.media import prewarm
from pipeline.app import app, settings
from pipeline.errors import BadRequest, NotFound
from pipeline.media import jobs
from pipeline.media.score import score as score_of
from pipeline.records import MediaUploaded
from pipeline.topics import media_uploads
from pipeline.web.base import (
    APPLY_WAIT_S,
    ApiView,
    forward,
    owner_url,
    read_json,
    require_broker,
    send_or_503,
    was_forwarded,
)
from pipeline.web.ratelimit import check_rate
from tables.media_jobs import media_jobs

TABLE = "media_jobs"
MAX_QUEUE_LIMIT = 1000


def validated(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The upload event's fields; 400 for bad fields, 422 for a refused destination."""
    fields = jobs.validate_upload(body, default_bucket=settings.media_bucket, now=now,
                                  allowed_buckets=settings.allowed_source_buckets)
    if fields["destination"]:
        jobs.check_destination(fields["destination"], default=settings.default_destination,
                               allowed=settings.prewarm_allowed_destinations,
                               protected_buckets=(settings.results_bucket,
                                                  settings.broker_bucket))
    return fields


@app.page("/api/media/uploads")
class SubmitUpload(ApiView):
    """POST an upload event; the worker owning the media_id answers (dedupe is real)."""

    async def post(self, request: Request) -> Response:
        await check_rate(request)
        body = await read_json(request)
        now = time.time()
        fields = validated(body, now)
        owner = owner_url(TABLE, fields["media_id"])
        if owner is not None and not was_forwarded(request):
            return await forward(request, owner, json.dumps(body).encode())
        row = media_jobs.get(fields["media_id"])
        if row is not None and not jobs.upload_starts_job(row, fields["force"]):
            answer = {"media_id": row.media_id, "status": row.status,
                      "score": jobs.job_answer(row, now, settings.score)["score"],
                      "deduplicated": True}
            return self.json(answer, status=200 if row.status == "done" else 202)
        require_broker()
        await send_or_503(media_uploads, fields["media_id"], MediaUploaded(**fields))
        if row is None:
            await _wait_row(fields["media_id"])
        score = score_of(fields["size"], fields["kind"], now - fields["uploaded_at"],
                           settings.score)
        return self.json({"media_id": fields["media_id"], "status": "queued",
                          "score": round(score, 3), "deduplicated": False}, status=202)


async def _wait_row(media_id: str) -> None:
    """Wait (a little) until the agent has made the row, so a GET right after 202 finds it."""
    deadline = time.monotonic() + APPLY_WAIT_S
    while media_jobs.get(media_id) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


# Declared before /api/media/{media_id} so that "queue" is not taken for an id.
@app.page("/api/media/queue")
class MediaQueue(ApiView):
    """GET the next jobs of this worker in start order, with their current scores."""

    async def get(self, request: Request) -> Response:
        raw = request.query.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_QUEUE_LIMIT:
            raise BadRequest(f"`limit` must be a whole number from 1 to {MAX_QUEUE_LIMIT}")
        now = time.time()
        scheduler = prewarm.scheduler
        ranked = scheduler.queue.ranked(now, int(raw))
        return self.json({
            "worker": str(app.conf.canonical_url),  # each worker queues its own partitions
            "waiting": len(scheduler.queue),
            "ready": scheduler.queue.ready_count,
            "active": sorted(scheduler.active),
            "concurrency": scheduler.concurrency,
            "jobs": [{"position": i, "media_id": e.media_id, "score": round(s, 3),
                      "kind": e.kind, "size": e.size, "age_s": round(now - e.t, 3)}
                     for i, (e, s) in enumerate(ranked, start=1)],
        })


@app.page("/api/media/{media_id}")
class MediaStatus(ApiView):
    """GET one job, answered by the worker that owns it."""

    async def get(self, request: Request, media_id: str) -> Response:
        owner = owner_url(TABLE, media_id)
        if owner is not None and not was_forwarded(request):
            return await forward(request, owner)
        row = media_jobs.get(media_id)
        if row is None:
            raise NotFound(f"no media job {media_id}")
        now = time.time()
        position = (prewarm.scheduler.queue.position(media_id, now)
                    if row.status == "queued" else None)
        return self.json(jobs.job_answer(row, now, settings.score, position))
