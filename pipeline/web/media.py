"""Media prewarm API: publish an upload event, read a job, list the local queue."""

from __future__ import annotations

import json
import time

from faust.web import Request, Response

from pipeline.api_models import DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT
from pipeline.errors import BadRequest, NotFound
from pipeline.media import rules as media_rules
from pipeline.media.score import score as score_of
from pipeline.media.uploads import checked_upload
from pipeline.records import JobStatus, MediaUploaded
from pipeline.web.base import ApiView, read_json, require_broker, send_or_503
from pipeline.web.callbacks import checked_callback


class SubmitUpload(ApiView):
    """POST an upload event; the worker owning the media_id answers (dedupe is real)."""

    async def post(self, request: Request) -> Response:
        deps, settings = self.deps, self.deps.settings
        body = await read_json(request, settings)
        now = time.time()
        fields = checked_upload(body, now, settings)
        callback = await checked_callback(body, deps)
        owner = deps.router.route(request, deps.media_jobs, fields["media_id"])
        if owner is not None:
            return await deps.router.forward(request, owner, json.dumps(body).encode(),
                                             deps.rate.submitter(request))
        row = deps.accepted.current(deps.media_jobs, fields["media_id"], now)
        if row is not None and not media_rules.upload_starts_job(row, fields["force"]):
            answer = {"media_id": row.media_id, "status": row.status,
                      "score": media_rules.job_answer(row, now, settings.score)["score"],
                      "deduplicated": True}
            return self.json(answer, status=200 if row.status == JobStatus.DONE else 202)
        await deps.rate.check(deps.rate.submitter(request))  # only work-starting submits count
        require_broker(deps.probe)
        await send_or_503(deps.topics.media_uploads, fields["media_id"],
                          MediaUploaded(**fields, callback_url=callback))
        if row is None:
            deps.accepted.remember(fields, now)
        score = score_of(fields["size"], fields["kind"], now - fields["uploaded_at"],
                         settings.score)
        return self.json({"media_id": fields["media_id"], "status": JobStatus.QUEUED,
                          "score": round(score, 3), "deduplicated": False}, status=202)


class MediaQueue(ApiView):
    """GET the next jobs of this worker in start order, with their current scores."""

    async def get(self, request: Request) -> Response:
        raw = request.query.get("limit", str(DEFAULT_QUEUE_LIMIT))
        # ASCII digits, and few: "²" passes isdigit() and int() refuses 5000 digits (a 500).
        if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_QUEUE_LIMIT))
                and 1 <= int(raw) <= MAX_QUEUE_LIMIT):
            raise BadRequest(f"`limit` must be a whole number from 1 to {MAX_QUEUE_LIMIT}")
        now = time.time()
        scheduler = self.deps.prewarm.scheduler
        ranked = scheduler.queue.ranked(now, int(raw))
        return self.json({
            # Each worker queues its own partitions.
            "worker": str(self.deps.app.conf.canonical_url),
            "waiting": len(scheduler.queue),
            "ready": scheduler.queue.ready_count,
            "active": sorted(scheduler.active),
            "concurrency": scheduler.concurrency,
            "jobs": [{"position": i, "media_id": e.media_id, "score": round(s, 3),
                      "kind": e.kind, "size": e.size, "age_s": round(now - e.t, 3)}
                     for i, (e, s) in enumerate(ranked, start=1)],
        })


class MediaStatus(ApiView):
    """GET one job, answered by the worker that owns it."""

    async def get(self, request: Request, media_id: str) -> Response:
        deps = self.deps
        owner = deps.router.route(request, deps.media_jobs, media_id)
        if owner is not None:
            return await deps.router.forward(request, owner)
        row = deps.accepted.current(deps.media_jobs, media_id, time.time())
        if row is None:
            raise NotFound(f"no media job {media_id}")
        return self.json(deps.documents.media(row))
