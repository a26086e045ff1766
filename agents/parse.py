"""Playlist agents: apply requests and run events to the job table.

- `handle_requests` (playlist.parse.requests, any producer, read raw) and
  `handle_keyed` (its `.keyed` topic) run the intake step (`agents.intake`):
  a record on its job's partition creates or dedupes the row, any other is
  re-keyed once, a poison one is dead-lettered.
- `apply_events` (internal events topic) applies started/progress/done/failed/retry
  and cancelled to rows; Faust allows table writes only here, inside stream iteration.
- After every rebalance the `ParseService` resumes the active rows owned now.
The rules are in `pipeline.playlist.rules`, the runs in `pipeline.playlist.service`.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import faust

from agents.intake import IntakeStep
from pipeline.playlist.outcomes import published
from pipeline.playlist.rules import ACTIVE, Decision, applies_to, apply_event, decide, queued_row
from pipeline.playlist.service import ParseService
from pipeline.records import ParseEvent, ParseRequest, PlaylistJob, record_fields
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.urls import redact_url

log = logging.getLogger("pipeline.parse")


@dataclass(frozen=True)
class ParseAgents:
    """What the playlist agents need, built by the composition root."""

    settings: Settings
    topics: Topics
    jobs: Any  # the playlist_jobs table: job_id -> PlaylistJob
    service: ParseService
    intake: IntakeStep


def register(app: faust.App, deps: ParseAgents) -> None:
    """Attach the playlist agents and the rebalance hook to `app`."""

    @app.agent(deps.topics.raw_requests, name="agents.parse.handle_requests")
    async def handle_requests(stream: Any) -> None:
        async for event in stream.events():
            await take_request(deps, event)

    @app.agent(deps.topics.parse_keyed, name="agents.parse.handle_keyed")
    async def handle_keyed(stream: Any) -> None:
        async for event in stream.events():
            await take_request(deps, event)

    @app.agent(deps.topics.parse_events, name="agents.parse.apply_events")
    async def apply_events(stream: Any) -> None:
        async for job_id, event in stream.items():
            await apply_run_event(deps, job_id, event)

    async def resume_owned_jobs(sender: Any, *args: Any, **kwargs: Any) -> None:
        """Resume queued/running jobs of the partitions this worker now owns."""
        deps.service.resume({job_id: row for job_id, row in deps.jobs.items()
                             if row is not None and row.status in ACTIVE})

    app.on_rebalance_complete.connect(resume_owned_jobs)  # type: ignore[arg-type]


async def take_request(deps: ParseAgents, event: Any) -> None:
    """Intake one raw record; apply it when it is on its job's partition."""
    now = time.time()
    accepted = await deps.intake.take(event, now)
    if accepted is not None:
        apply_request(deps, accepted.key,
                      ParseRequest(**record_fields(ParseRequest, accepted.value)), now)


def apply_request(deps: ParseAgents, job_id: str, req: ParseRequest, now: float) -> None:
    """Dedupe the request against the job's row, or (re)queue the job."""
    row = deps.jobs.get(job_id)
    decision = decide(row, force=req.force, replay=req.replay, now=now,
                      ttl_s=deps.settings.result_ttl_s)
    if decision is not Decision.QUEUE:
        log.info("parse_deduplicated", extra={"job_id": job_id, "reason": decision.value})
        return
    deps.jobs[job_id] = queued_row(job_id, req, row, now)
    deps.service.enqueue(job_id, now)
    log.info("parse_queued", extra={"job_id": job_id, "url": redact_url(req.url),
                                    "replay": req.replay, "force": req.force})


async def apply_run_event(deps: ParseAgents, job_id: str, event: ParseEvent) -> None:
    """Apply one run event to the job's row; publish what it announces."""
    row: PlaylistJob | None = deps.jobs.get(job_id)
    updated = None
    if row is not None and applies_to(row, event):
        updated = apply_event(row, event, retry_base_s=deps.settings.parse_retry_base_s,
                              jitter=random.random(), keep_runs=deps.settings.result_keep_runs)
    if updated is not None:
        deps.jobs[job_id] = updated
    deps.service.follow(row, updated, event)
    if updated is not None:
        out = published(updated, event)
        for topic, value in ((deps.topics.parse_results, out.result),
                             (deps.topics.parse_dlq, out.dead_letter),
                             (deps.topics.catalogue_changes, out.changes)):
            if value is not None:
                await topic.send(key=job_id, value=value)
