"""Media prewarm agents: upload events make job rows, run events change them.

- `handle_uploads` (media.uploads, read raw) decodes, dedupes and creates rows,
  then hands them to this worker's scheduler; bad records go to the DLQ.
- `apply_events` (internal events topic) applies run events to rows (Faust allows
  table writes only inside stream iteration) and publishes final outcomes.
- After every rebalance the scheduler is rebuilt from the rows this worker owns.
Rules: `pipeline.media.rules`, `pipeline.media.uploads`; runs: `pipeline.media.service`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import faust

from pipeline.errors import PipelineError
from pipeline.media import rules as media_rules
from pipeline.media.service import PrewarmService
from pipeline.media.uploads import decode_upload, key_text
from pipeline.records import FINAL, DeadLetter, JobStatus, MediaJob, PrewarmResult
from pipeline.settings import Settings
from pipeline.topics import Topics

log = logging.getLogger("pipeline.media")


@dataclass(frozen=True)
class MediaAgents:
    """What the media agents need, built by the composition root."""

    settings: Settings
    topics: Topics
    jobs: Any  # the media_jobs table: media_id -> MediaJob
    prewarm: PrewarmService


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def register(app: faust.App, deps: MediaAgents) -> None:
    """Attach the media agents and the rebalance hook to `app`."""

    @app.agent(deps.topics.raw_uploads, name="agents.media.handle_uploads")
    async def handle_uploads(stream: Any) -> None:
        async for key, value in stream.items():
            await apply_upload(deps, key, value, time.time())

    @app.agent(deps.topics.prewarm_events, name="agents.media.apply_events")
    async def apply_events(stream: Any) -> None:
        async for media_id, event in stream.items():
            s = deps.settings
            updated = media_rules.apply_event(
                deps.jobs.get(media_id), event, weights=s.score,
                max_attempts=s.prewarm_max_attempts, retry_base_s=s.prewarm_retry_base_s,
                jitter=random.random(), next_run_id=new_run_id())
            if updated is not None:
                deps.jobs[media_id] = updated
                await _announce(deps, updated)

    async def resume_owned_jobs(sender: Any, *args: Any, **kwargs: Any) -> None:
        """Rebuild the queue from the queued/running rows of the partitions owned now.

        RocksDB iteration walks only actively owned partitions (docs/embedded-broker.md).
        """
        rows = [row for row in deps.jobs.values()
                if row is not None and row.status in media_rules.ACTIVE]
        deps.prewarm.scheduler.rebuild(rows)
        log.info("prewarm_resumed", extra={
            "jobs": len(rows), "running": sum(r.status == JobStatus.RUNNING for r in rows)})

    app.on_rebalance_complete.connect(resume_owned_jobs)  # type: ignore[arg-type]


async def apply_upload(deps: MediaAgents, raw_key: bytes | None, raw_value: bytes | None,
                       now: float) -> None:
    """Reject (to the DLQ), dedupe, or create the job row and schedule it."""
    try:
        fields = decode_upload(raw_key, raw_value, now, deps.settings)
    except PipelineError as exc:
        key = key_text(raw_key)
        log.warning("upload_rejected", extra={"media_id": key, "code": exc.code,
                                              "error": exc.message})
        await deps.topics.media_dlq.send(key=key, value=DeadLetter(
            key=key, reason=exc.to_dict(), attempts=0, at=now,
            payload={"raw": (raw_value or b"").decode(errors="replace")[:4096]}))
        return
    row = deps.jobs.get(fields["media_id"])
    replay = fields.pop("replay")
    force = fields.pop("force") or (replay and row is not None and row.status == JobStatus.DONE)
    if row is not None and not media_rules.upload_starts_job(row, force):
        log.info("upload_deduplicated", extra={"media_id": row.media_id, "status": row.status})
        return
    row = MediaJob(**fields, status=JobStatus.QUEUED, run_id=new_run_id(), created_at=now)
    row = row.derive(score=media_rules.current_score(row, now, deps.settings.score))
    deps.jobs[row.media_id] = row
    deps.prewarm.scheduler.submit(row)
    log.info("prewarm_queued", extra={"media_id": row.media_id, "score": row.score,
                                      "kind": row.kind, "size": row.size})


async def _announce(deps: MediaAgents, row: MediaJob) -> None:
    """Tell the scheduler about retries; publish final outcomes."""
    if row.status == JobStatus.QUEUED:
        deps.prewarm.scheduler.submit(row)
        return
    if row.status not in FINAL:
        return
    await deps.topics.prewarm_results.send(key=row.media_id, value=PrewarmResult(
        media_id=row.media_id, status=row.status, score=row.score, attempts=row.attempts,
        duration_s=row.duration_s, destination_ref=row.destination_ref, error=row.error))
    if row.status == JobStatus.FAILED:
        await deps.topics.media_dlq.send(key=row.media_id, value=DeadLetter(
            key=row.media_id, reason={**(row.error or {}), "attempts": row.attempts},
            attempts=row.attempts, payload=media_rules.dead_letter_payload(row),
            at=row.finished_at or time.time()))
