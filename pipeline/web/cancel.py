"""Cancel a job: `DELETE /api/playlist/jobs/{job_id}` and `DELETE /api/media/{media_id}`.

Any worker answers: the request is forwarded to the job's owner (`OwnerRouter`).
The owner publishes a `cancelled` run event (the events agent applies it to the
row; table writes happen only there) and stops the job at once: out of the
queue, a running parse's child killed. A later submit starts the job fresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from faust.web import Request, Response

from pipeline.errors import JobFinished, NotFound
from pipeline.media import rules as media_rules
from pipeline.playlist.rules import ACTIVE, job_answer
from pipeline.records import EventKind, JobStatus, ParseEvent, PrewarmEvent
from pipeline.web.base import ApiView, require_broker, send_or_503

# How long a cancel waits for its event to be applied, so the answer says `cancelled`.
APPLY_WAIT_S = 3.0


async def _applied(read: Callable[[], Any]) -> Any:
    """The row once it is no longer active (or as it is after APPLY_WAIT_S)."""
    deadline = time.monotonic() + APPLY_WAIT_S
    row = read()
    while row is not None and row.status in ACTIVE and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        row = read()
    return row


def _check_cancellable(row: Any, what: str) -> bool:
    """False for an already cancelled job (answered as is); raises for a finished one."""
    if row is None:
        raise NotFound(f"no {what}")
    if row.status == JobStatus.CANCELLED:
        return False
    if row.status not in ACTIVE:
        raise JobFinished(f"the job is {row.status}; there is nothing to cancel")
    return True


class CancelJob(ApiView):
    """DELETE a playlist job: a queued job never starts, a running parse is stopped."""

    async def delete(self, request: Request, job_id: str) -> Response:
        deps, received = self.deps, time.monotonic()
        owner = deps.router.route(request, deps.playlist_jobs, job_id)
        if owner is not None:
            return await deps.router.forward(request, owner)
        row = deps.playlist_jobs.get(job_id)
        if _check_cancellable(row, f"job {job_id}"):
            require_broker(deps.probe)
            await send_or_503(deps.topics.parse_events, job_id, ParseEvent(
                kind=EventKind.CANCELLED, job_id=job_id, run_id=row.run_id, at=time.time()))
            deps.parse.cancel_job(job_id, received)
            deps.metrics.cancels.labels(domain="parse").inc()
            row = await _applied(lambda: deps.playlist_jobs.get(job_id))
        return self.json(job_answer(row, None), status=200 if row.status not in ACTIVE else 202)


class CancelMedia(ApiView):
    """DELETE a media job: a queued prewarm never starts, a running one is stopped."""

    async def delete(self, request: Request, media_id: str) -> Response:
        deps = self.deps
        owner = deps.router.route(request, deps.media_jobs, media_id)
        if owner is not None:
            return await deps.router.forward(request, owner)
        row = deps.media_jobs.get(media_id)
        if _check_cancellable(row, f"media job {media_id}"):
            require_broker(deps.probe)
            await send_or_503(deps.topics.prewarm_events, media_id, PrewarmEvent(
                kind=EventKind.CANCELLED, media_id=media_id, run_id=row.run_id,
                at=time.time(), attempts=row.attempts))
            deps.prewarm.scheduler.cancel(media_id)
            deps.metrics.cancels.labels(domain="media").inc()
            row = await _applied(lambda: deps.media_jobs.get(media_id))
        answer = media_rules.job_answer(row, time.time(), deps.settings.score)
        return self.json(answer, status=200 if row.status not in ACTIVE else 202)
