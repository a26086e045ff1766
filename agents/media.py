"""Media prewarm agents: upload events make job rows, run events change them.

- `handle_uploads` (media.uploads, any producer, read raw) and `handle_keyed`
  (its `.keyed` topic) run the intake step (`agents.intake`): a record on its
  job's partition is deduped or creates a row for this worker's scheduler, any
  other is re-keyed once, a poison one goes to the DLQ.
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

from agents.intake import IntakeStep, record_fields
from pipeline.media import rules as media_rules
from pipeline.media.service import PrewarmService
from pipeline.records import FINAL, DeadLetter, EventKind, JobStatus, MediaJob, PrewarmResult
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
    intake: IntakeStep


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def register(app: faust.App, deps: MediaAgents) -> None:
    """Attach the media agents and the rebalance hook to `app`."""

    @app.agent(deps.topics.raw_uploads, name="agents.media.handle_uploads")
    async def handle_uploads(stream: Any) -> None:
        async for event in stream.events():
            await take_upload(deps, event)

    @app.agent(deps.topics.media_keyed, name="agents.media.handle_keyed")
    async def handle_keyed(stream: Any) -> None:
        async for event in stream.events():
            await take_upload(deps, event)

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
                if event.kind == EventKind.CANCELLED:
                    deps.prewarm.scheduler.cancel(media_id)
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


async def take_upload(deps: MediaAgents, event: Any) -> None:
    """Intake one raw record; apply it when it is on its job's partition."""
    now = time.time()
    accepted = await deps.intake.take(event, now)
    if accepted is not None:
        apply_upload(deps, dict(accepted.value), now)


def apply_upload(deps: MediaAgents, fields: dict[str, Any], now: float) -> None:
    """Dedupe, or create the job row and schedule it."""
    row = deps.jobs.get(fields["media_id"])
    replay = fields.pop("replay")
    force = fields.pop("force") or (replay and row is not None and row.status == JobStatus.DONE)
    if row is not None and not media_rules.upload_starts_job(row, force):
        log.info("upload_deduplicated", extra={"media_id": row.media_id, "status": row.status})
        return
    row = MediaJob(**record_fields(MediaJob, fields), status=JobStatus.QUEUED,
                   run_id=new_run_id(), created_at=now)
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
            at=row.finished_at or time.time(), request=_upload_request(row)))


def _upload_request(row: MediaJob) -> dict[str, Any]:
    """The upload event that re-runs a failed job (`pipeline dlq redrive`)."""
    names = ("media_id", "bucket", "key", "size", "kind", "content_type", "uploaded_at",
             "destination")
    return {name: getattr(row, name) for name in names}
