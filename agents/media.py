"""Media prewarm agents: upload events make job rows, run events change them.

- `handle_uploads` (media.uploads, any producer, read raw) and `handle_keyed` (its
  `.keyed` topic) run the intake step (`agents.intake`), then dedupe or queue the job.
- `apply_events` (internal events topic) applies run events to rows (Faust allows
  table writes only inside stream iteration) and publishes final outcomes.
- After every rebalance the scheduler is rebuilt from the rows this worker owns.
Rules: `pipeline.media.rules`, `.outcomes`; runs: `pipeline.media.service`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import faust

from agents.intake import IntakeStep
from pipeline.media import rules as media_rules
from pipeline.media.outcomes import published
from pipeline.media.service import PrewarmService
from pipeline.records import EventKind, JobStatus, PrewarmEvent
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
            await apply_run_event(deps, media_id, event)

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
    old = deps.jobs.get(fields["media_id"])
    row = media_rules.admit(old, fields, now=now, weights=deps.settings.score,
                            run_id=new_run_id())
    if row is None:
        log.info("upload_deduplicated", extra={"media_id": fields["media_id"],
                                               "status": old.status if old else None})
        return
    deps.jobs[row.media_id] = row
    deps.prewarm.scheduler.submit(row)
    log.info("prewarm_queued", extra={"media_id": row.media_id, "score": row.score,
                                      "kind": row.kind, "size": row.size})


async def apply_run_event(deps: MediaAgents, media_id: str, event: PrewarmEvent) -> None:
    """Apply one run event to the job's row; tell the scheduler; publish final outcomes."""
    s = deps.settings
    row = media_rules.apply_event(
        deps.jobs.get(media_id), event, weights=s.score, max_attempts=s.prewarm_max_attempts,
        retry_base_s=s.prewarm_retry_base_s, jitter=random.random(), next_run_id=new_run_id())
    if row is None:
        return
    deps.jobs[media_id] = row
    if event.kind == EventKind.CANCELLED:
        deps.prewarm.scheduler.cancel(media_id)
    if row.status == JobStatus.QUEUED:  # a retry
        deps.prewarm.scheduler.submit(row)
    out = published(row, time.time())
    for topic, value in ((deps.topics.prewarm_results, out.result),
                         (deps.topics.media_dlq, out.dead_letter)):
        if value is not None:
            await topic.send(key=media_id, value=value)
