"""Media prewarm API: publish an upload event, read a job, list the local queue."""

from __future__ import annotations

import json
import time
from typing import Any

from faust.web import Request, Response

from agents.media import prewarm
from pipeline.app import app, settings
from pipeline.errors import BadRequest, NotFound
from pipeline.media import jobs
from pipeline.media.score import score as score_of
from pipeline.media.targets import Policy
from pipeline.records import MediaUploaded
from pipeline.topics import media_uploads
from pipeline.web.base import (
    ApiView,
    forward,
    owner_url,
    read_json,
    require_broker,
    send_or_503,
    was_forwarded,
)
from pipeline.web.ratelimit import check_rate, submitter
from tables.media_jobs import MediaJob, media_jobs

TABLE = "media_jobs"
MAX_QUEUE_LIMIT = 1000
# Uploads accepted by this (owning) worker whose row the agent has not written yet:
# a GET or a duplicate in that window answers from here instead of 404 / a resend.
_accepted: dict[str, MediaJob] = {}
ACCEPTED_TTL_S = 30.0
_policy = Policy.from_settings(settings)


def _remember(fields: dict[str, Any], now: float) -> None:
    while _accepted:  # insertion order is age order: drop the expired head
        oldest = next(iter(_accepted.values()))
        if oldest.created_at > now - ACCEPTED_TTL_S:
            break
        _accepted.pop(oldest.media_id)
    row = MediaJob(**{k: v for k, v in fields.items() if k != "force"}, status="queued",
                   created_at=now)
    _accepted[row.media_id] = row.derive(score=jobs.current_score(row, now, settings.score))


def _current(media_id: str, now: float) -> MediaJob | None:
    """The job row, or the provisional one of an upload accepted here moments ago."""
    row = media_jobs.get(media_id)
    if row is not None:
        _accepted.pop(media_id, None)
        return row  # type: ignore[no-any-return]
    pending = _accepted.get(media_id)
    if pending is not None and pending.created_at > now - ACCEPTED_TTL_S:
        return pending
    return None


def validated(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The upload event's fields; 400 for bad fields, 422 for a refused destination."""
    fields = jobs.validate_upload(body, default_bucket=settings.media_bucket, now=now,
                                  allowed_buckets=settings.allowed_source_buckets)
    if fields["destination"]:
        jobs.check_destination(fields["destination"], default=settings.default_destination,
                               allowed=settings.prewarm_allowed_destinations,
                               protected_buckets=_policy.protected_buckets)
    return fields


@app.page("/api/media/uploads")
class SubmitUpload(ApiView):
    """POST an upload event; the worker owning the media_id answers (dedupe is real)."""

    async def post(self, request: Request) -> Response:
        body = await read_json(request)
        now = time.time()
        fields = validated(body, now)
        owner = owner_url(TABLE, fields["media_id"])
        if owner is not None and not was_forwarded(request):
            return await forward(request, owner, json.dumps(body).encode(), submitter(request))
        row = _current(fields["media_id"], now)
        if row is not None and not jobs.upload_starts_job(row, fields["force"]):
            answer = {"media_id": row.media_id, "status": row.status,
                      "score": jobs.job_answer(row, now, settings.score)["score"],
                      "deduplicated": True}
            return self.json(answer, status=200 if row.status == "done" else 202)
        await check_rate(submitter(request))  # only work-starting submits count
        require_broker()
        await send_or_503(media_uploads, fields["media_id"], MediaUploaded(**fields))
        if row is None:
            _remember(fields, now)
        score = score_of(fields["size"], fields["kind"], now - fields["uploaded_at"],
                           settings.score)
        return self.json({"media_id": fields["media_id"], "status": "queued",
                          "score": round(score, 3), "deduplicated": False}, status=202)


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
        now = time.time()
        row = _current(media_id, now)
        if row is None:
            raise NotFound(f"no media job {media_id}")
        position = (prewarm.scheduler.queue.position(media_id, now)
                    if row.status == "queued" else None)
        return self.json(jobs.job_answer(row, now, settings.score, position))
