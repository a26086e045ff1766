"""Media prewarm agents: upload events make job rows, run events change them.

- `handle_uploads` (topic media.uploads) validates, dedupes and creates rows,
  then hands them to this worker's scheduler.
- `apply_events` (internal events topic) applies started/done/retry/failed to
  rows (Faust allows table writes only here, inside stream iteration), sends a
  result for every final outcome and a dead letter for every failed job.
- After every rebalance the scheduler is rebuilt from the rows this worker owns.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from typing import Any

from pipeline import queues
from pipeline.app import app, metrics, settings
from pipeline.broker import consumer_lag
from pipeline.errors import BadRequest, PipelineError
from pipeline.media import jobs
from pipeline.media.service import PrewarmService
from pipeline.records import DeadLetter, PrewarmEvent, PrewarmResult
from pipeline.topics import media_dlq, prewarm_events, prewarm_results
from tables.media_jobs import MediaJob, media_jobs

log = logging.getLogger("pipeline.media")


async def _emit(event: PrewarmEvent) -> None:
    await prewarm_events.send(key=event.media_id, value=event)


prewarm = PrewarmService(settings, metrics, _emit)
app.service(prewarm)  # type: ignore[arg-type]  # an instance is accepted too
queues.register("prewarm", lambda: {
    "waiting": len(prewarm.scheduler.queue) + consumer_lag(settings.topic_media_uploads),
    "active": len(prewarm.scheduler.active)})


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def decode_upload(raw_key: bytes | None, raw_value: bytes | None, now: float) -> dict[str, Any]:
    """An upload record's fields, validated like `POST /api/media/uploads` does.

    Records are decoded here, not by Faust, so that a malformed record from any
    producer is rejected (to the DLQ) instead of crashing the agent.
    """
    try:
        key, body = json.loads(raw_key or b"null"), json.loads(raw_value or b"null")
    except ValueError as exc:
        raise BadRequest("record key and value must be JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("record value must be a JSON object")
    fields = jobs.validate_upload(body, default_bucket=settings.media_bucket, now=now,
                                  allowed_buckets=settings.allowed_source_buckets)
    if key != fields["media_id"]:
        raise BadRequest("record key is not the media_id")
    if fields["destination"]:
        jobs.check_destination(fields["destination"], default=settings.default_destination,
                               allowed=settings.prewarm_allowed_destinations,
                               protected_buckets=(settings.results_bucket,
                                                  settings.broker_bucket))
    # A replay re-prewarms a done job (never one queued or running), like parse replays.
    fields["replay"] = body.get("replay") is True
    return fields


# The agent reads media.uploads as raw bytes and decodes records itself (see
# `decode_upload`); `pipeline.topics.media_uploads` stays the typed topic for senders.
raw_uploads = app.topic(settings.topic_media_uploads, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw",
                        partitions=settings.topic_partitions,
                        # Declared here with our partition count: if a producer's send
                        # made the broker auto-create it, its default count would
                        # break co-partitioning with the media_jobs changelog.
                        internal=True)


@app.agent(raw_uploads)
async def handle_uploads(stream: Any) -> None:
    async for key, value in stream.items():
        await apply_upload(key, value, time.time())


async def apply_upload(raw_key: bytes | None, raw_value: bytes | None, now: float) -> None:
    try:
        fields = decode_upload(raw_key, raw_value, now)
    except PipelineError as exc:
        key = _key_text(raw_key)
        log.warning("upload_rejected", extra={"media_id": key, "code": exc.code,
                                              "error": exc.message})
        await media_dlq.send(key=key, value=DeadLetter(
            key=key, reason=exc.to_dict(), attempts=0, at=now,
            payload={"raw": (raw_value or b"").decode(errors="replace")[:4096]}))
        return
    row = media_jobs.get(fields["media_id"])
    replay = fields.pop("replay")
    force = fields.pop("force") or (replay and row is not None and row.status == "done")
    if row is not None and not jobs.upload_starts_job(row, force):
        log.info("upload_deduplicated", extra={"media_id": row.media_id, "status": row.status})
        return
    row = MediaJob(**fields, status="queued", run_id=new_run_id(), created_at=now)
    row = row.derive(score=jobs.current_score(row, now, settings.score))
    media_jobs[row.media_id] = row
    prewarm.scheduler.submit(row)
    log.info("prewarm_queued", extra={"media_id": row.media_id, "score": row.score,
                                      "kind": row.kind, "size": row.size})


def _key_text(raw_key: bytes | None) -> str:
    """The record key as text for logs and the DLQ (the JSON string when it is one)."""
    text = (raw_key or b"").decode(errors="replace")
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    return (key if isinstance(key, str) else text)[:200]


@app.agent(prewarm_events)
async def apply_events(stream: Any) -> None:
    async for media_id, event in stream.items():
        row = media_jobs.get(media_id)
        updated = jobs.apply_event(
            row, event, weights=settings.score, max_attempts=settings.prewarm_max_attempts,
            retry_base_s=settings.prewarm_retry_base_s, jitter=random.random(),
            next_run_id=new_run_id())
        if updated is None:
            continue
        media_jobs[media_id] = updated
        await _announce(updated)


async def _announce(row: MediaJob) -> None:
    """Tell the scheduler about retries; publish final outcomes."""
    if row.status == "queued":
        prewarm.scheduler.submit(row)
        return
    if row.status not in ("done", "failed"):
        return
    await prewarm_results.send(key=row.media_id, value=PrewarmResult(
        media_id=row.media_id, status=row.status, score=row.score, attempts=row.attempts,
        duration_s=row.duration_s, destination_ref=row.destination_ref, error=row.error))
    if row.status == "failed":
        await media_dlq.send(key=row.media_id, value=DeadLetter(
            key=row.media_id, reason={**(row.error or {}), "attempts": row.attempts},
            attempts=row.attempts, payload=jobs.dead_letter_payload(row),
            at=row.finished_at or time.time()))


@app.on_rebalance_complete.connect  # type: ignore[arg-type]
async def resume_owned_jobs(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Rebuild the queue from the queued/running rows of the partitions owned now.

    RocksDB iteration walks only actively owned partitions (EMBEDDED.md).
    """
    rows = [row for row in media_jobs.values()
            if row is not None and row.status in jobs.ACTIVE]
    prewarm.scheduler.rebuild(rows)
    log.info("prewarm_resumed", extra={"jobs": len(rows),
                                       "running": sum(r.status == "running" for r in rows)})
