"""Webhook deliveries of a job: `GET /api/playlist/jobs/{id}/deliveries` (and media).

Answered by the worker that owns the job (its delivery rows sit on the job's
partition); each delivery shows its `webhook_id`, state (pending, delivered,
dead), attempts, next attempt and the last outcomes (docs/events.md).
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response

from pipeline.delivery import public_item
from pipeline.errors import NotFound
from pipeline.web.base import ApiView
from pipeline.web.deps import WebDeps
from pipeline.web.documents import MEDIA, PLAYLIST


async def deliveries(view: ApiView, request: Request, domain: str, key: str) -> Response:
    deps: WebDeps = view.deps
    jobs = deps.playlist_jobs if domain == PLAYLIST else deps.media_jobs
    owner = deps.router.route(request, jobs, key)
    if owner is not None:
        return await deps.router.forward(request, owner)
    if jobs.get(key) is None:
        raise NotFound(f"no {domain} job {key}")
    table: Any = deps.webhook_tables.get(domain)
    row = table.get(key) if table is not None else None
    items = [public_item(item) for item in (row.items if row is not None else [])]
    return view.json({"key": key, "deliveries": items})


class PlaylistDeliveries(ApiView):
    """GET the webhook deliveries of a playlist job."""

    async def get(self, request: Request, job_id: str) -> Response:
        return await deliveries(self, request, PLAYLIST, job_id)


class MediaDeliveries(ApiView):
    """GET the webhook deliveries of a media job."""

    async def get(self, request: Request, media_id: str) -> Response:
        return await deliveries(self, request, MEDIA, media_id)
