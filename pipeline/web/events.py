"""Server-sent events views: one job's events, and every job's for dashboards.

`GET /api/playlist/jobs/{id}/events`, `GET /api/media/{id}/events`: the owner
of the job writes the stream from its `JobEvents`; any other worker relays the
owner's stream. `GET /api/events?topic=playlist|media`: this worker's events
merged with every other worker's. They go through `ApiView.dispatch` (auth,
origin). Promises kept here are listed in docs/events.md.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from faust.web import Request

from pipeline import sse
from pipeline.errors import BadRequest, NotFound
from pipeline.jobevents import FINAL_EVENTS as FINAL
from pipeline.jobevents import event_name
from pipeline.web import streams
from pipeline.web.base import ApiView
from pipeline.web.deps import WebDeps
from pipeline.web.documents import MEDIA, PLAYLIST

DOMAINS = (PLAYLIST, MEDIA)


def _table(deps: WebDeps, domain: str) -> Any:
    return deps.playlist_jobs if domain == PLAYLIST else deps.media_jobs


def _row(deps: WebDeps, domain: str, key: str) -> Any:
    if domain == MEDIA:
        return deps.accepted.current(deps.media_jobs, key, time.time())
    return deps.playlist_jobs.get(key)


def _client(deps: WebDeps, request: Request) -> str | None:
    """Whom a stream counts against; None for a peer's relay (counted where it arrived)."""
    return None if deps.router.was_forwarded(request) else deps.rate.client_ip(request)


async def job_stream(deps: WebDeps, request: Request, domain: str, key: str) -> Any:
    """The event stream of one job, from here or relayed from its owner."""
    settings = deps.settings
    owner = deps.router.route(request, _table(deps, domain), key)
    with deps.streams.slot(_client(deps, request)):
        if owner is not None:
            return await streams.relay(
                request, deps.app.http_client, owner + request.path_qs,  # type: ignore[attr-defined]
                deps.router.forward_token(), heartbeat_s=settings.sse_heartbeat_s,
                allowed_origins=settings.allowed_origins)
        row = _row(deps, domain, key)
        if row is None:
            raise NotFound(f"no {domain} job {key}")
        sub = deps.events.subscribe(domain, key)  # before reading: nothing falls in between
        gauge = deps.metrics.sse_streams.labels(route=domain)
        gauge.inc()
        try:
            last_id = sse.parse_last_event_id(request.headers.get("Last-Event-ID"))
            first = deps.events.since(domain, key, last_id)
            if not first and (first is None or row.status in FINAL):
                # New, resuming on another worker, or resuming a job that ended: the current state.
                first = [deps.events.current(domain, key, _name(row),
                                             deps.documents.render(domain, row))]
            resp = await streams.open_response(request, settings.allowed_origins)
            await streams.write_events(resp, first, sub, heartbeat_s=settings.sse_heartbeat_s,
                                       end_on_final=True, on_event=_counter(deps))
            return resp
        finally:
            gauge.dec()
            deps.events.unsubscribe(sub)


def _name(row: Any) -> str:
    return event_name(row.status, getattr(row, "progress_items", 0),
                      getattr(row, "progress_bytes", 0))


def _counter(deps: WebDeps) -> Any:
    def count(event: Any) -> None:
        deps.metrics.sse_events.labels(event=event.event).inc()
    return count


async def all_stream(deps: WebDeps, request: Request, domain: str) -> Any:
    """Every job event of `domain` from now on: this worker's, and each peer's."""
    settings = deps.settings
    forwarded = deps.router.was_forwarded(request)
    with deps.streams.slot(_client(deps, request)):
        sub = deps.events.subscribe(domain)
        tasks: list[asyncio.Task[None]] = []
        if not forwarded:  # a peer asked for its own jobs only
            headers = streams.forward_headers(request, deps.router.forward_token())
            headers.pop("Last-Event-ID", None)
            for peer in streams.peer_urls(deps.app, _table(deps, domain),
                                          settings.topic_partitions):
                tasks.append(asyncio.create_task(streams.pull_peer(
                    deps.app.http_client, peer + request.path_qs,  # type: ignore[attr-defined]
                    headers, sub, domain, settings.sse_heartbeat_s)))
        gauge = deps.metrics.sse_streams.labels(route="all")
        gauge.inc()
        try:
            resp = await streams.open_response(request, settings.allowed_origins)
            await streams.write_events(resp, [], sub, heartbeat_s=settings.sse_heartbeat_s,
                                       end_on_final=False, renumber=not forwarded)
            return resp
        finally:
            gauge.dec()
            streams.cancel_all(tasks)
            deps.events.unsubscribe(sub)


class PlaylistJobEvents(ApiView):
    """GET a playlist job's events as `text/event-stream` (docs/events.md)."""

    async def get(self, request: Request, job_id: str) -> Any:
        return await job_stream(self.deps, request, PLAYLIST, job_id)


class MediaJobEvents(ApiView):
    """GET a media job's events as `text/event-stream` (docs/events.md)."""

    async def get(self, request: Request, media_id: str) -> Any:
        return await job_stream(self.deps, request, MEDIA, media_id)


class AllEvents(ApiView):
    """GET every job event of one topic (`?topic=playlist|media`) for dashboards."""

    async def get(self, request: Request) -> Any:
        domain = request.query.get("topic", "")
        if domain not in DOMAINS:
            raise BadRequest("`topic` must be playlist or media")
        return await all_stream(self.deps, request, domain)
