"""Writing event streams: the per-client limit, the write loop, relays from peers.

A stream is written here from a `JobEvents` subscription (heartbeat comments
while it is quiet), relayed byte for byte from the worker that owns the job,
or merged from every worker for the dashboard stream. Wire format and
promises: docs/events.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import aiohttp
from aiohttp import web as aioweb
from faust.types import TP
from faust.web import Request

from pipeline import compat, sse
from pipeline.errors import NotReady, RateLimited
from pipeline.jobevents import JobEvent, Subscription
from pipeline.web import guards
from pipeline.web.routing import FORWARDED_HEADER

log = logging.getLogger("pipeline.web")

# How long a client waits before reconnecting a stream that ended (milliseconds).
RETRY_MS = 1000
# A relayed stream whose source says nothing for this long (3 heartbeats) is dead.
IDLE_FACTOR = 3
_GONE = (ConnectionResetError, aiohttp.ClientConnectionError)


class StreamLimit:
    """Open event streams per client on this worker (`PIPELINE_SSE_MAX_STREAMS_PER_CLIENT`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    @contextlib.contextmanager
    def slot(self, client: str | None) -> Iterator[None]:
        """Hold one stream for `client` (None: not counted, a peer's relay); 429 over it."""
        if client is not None:
            if self.open.get(client, 0) >= self.limit:
                raise RateLimited(f"at most {self.limit} open event streams per client",
                                  retry_after=5)
            self.open[client] = self.open.get(client, 0) + 1
        try:
            yield
        finally:
            if client is not None:
                left = self.open.get(client, 1) - 1
                if left > 0:
                    self.open[client] = left
                else:
                    self.open.pop(client, None)


async def open_response(request: Request, allowed_origins: Iterable[str]) -> Any:
    """A prepared `text/event-stream` answer (CORS headers set before it is sent)."""
    headers = {**sse.HEADERS, **guards.cors_headers(request.headers, list(allowed_origins))}
    resp = aioweb.StreamResponse(status=200, headers=headers)
    await resp.prepare(request)  # type: ignore[arg-type]
    await resp.write(sse.retry_hint(RETRY_MS))
    return resp


async def write_events(resp: Any, first: list[JobEvent], sub: Subscription, *,
                       heartbeat_s: float, end_on_final: bool, renumber: bool = False,
                       on_event: Any = None) -> None:
    """Write `first`, then the subscription's events, until a final event (when
    `end_on_final`), the hub ending the subscription, or the client leaving."""
    last, count = 0, 0
    try:
        for event in first:
            await resp.write(event.encode())
            last = event.seq
            if end_on_final and event.final:
                return
        while True:
            got = await sub.next(heartbeat_s)
            if got is None:
                if sub.ended:
                    return
                await resp.write(sse.heartbeat())
                continue
            event = got
            if not renumber and event.seq <= last:
                continue  # already sent as part of `first`
            count += 1
            await resp.write(event.encode(count if renumber else None))
            last = event.seq
            if on_event is not None:
                on_event(event)
            if end_on_final and event.final:
                return
    except _GONE:
        return  # the client went away


def forward_headers(request: Request, token: str) -> dict[str, str]:
    headers = {FORWARDED_HEADER: token, "Accept": sse.CONTENT_TYPE}
    for name in ("Authorization", "Last-Event-ID", "X-Forwarded-For"):
        if name in request.headers:
            headers[name] = request.headers[name]
    return headers


def _timeout(heartbeat_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=heartbeat_s * IDLE_FACTOR)


async def relay(request: Request, http: aiohttp.ClientSession, url: str, token: str, *,
                heartbeat_s: float, allowed_origins: Iterable[str]) -> Any:
    """The owner's stream for this request, relayed; its error answer relayed as JSON."""
    try:
        upstream = await http.get(url, headers=forward_headers(request, token),
                                  timeout=_timeout(heartbeat_s))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NotReady("owning worker unreachable; retry") from exc
    try:
        if upstream.status != 200 or sse.CONTENT_TYPE not in upstream.headers.get(
                "Content-Type", ""):
            body = await upstream.read()
            keep = {k: v for k, v in upstream.headers.items() if k == "Retry-After"}
            return aioweb.Response(body=body, status=upstream.status, headers=keep,
                                   content_type="application/json")
        resp = await open_response(request, allowed_origins)
        with contextlib.suppress(*_GONE, TimeoutError):
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
        return resp  # the owner ended it, or lost the job: the client resumes
    finally:
        upstream.close()


def peer_urls(app: Any, table: Any, partitions: int) -> set[str]:
    """Web URLs of the other workers that own partitions of `table` now."""
    urls = set()
    for partition in range(table.partitions or partitions):
        tp = TP(table.changelog_topic.get_topic_name(), partition)
        url = compat.owner_url_of(app.assignor, tp)
        if url:
            urls.add(str(url).rstrip("/"))
    urls.discard(str(app.conf.canonical_url).rstrip("/"))
    return urls


async def pull_peer(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    sub: Subscription, domain: str, heartbeat_s: float) -> None:
    """Feed a peer's dashboard stream (its own jobs only) into `sub`; end `sub` when lost."""
    try:
        async with http.get(url, headers=headers, timeout=_timeout(heartbeat_s)) as upstream:
            if upstream.status != 200:
                return
            decoder = sse.Decoder()
            async for chunk in upstream.content.iter_any():
                for event in decoder.feed(chunk):
                    data = json.loads(event.data)
                    key = str(data.get("job_id") or data.get("media_id") or "")
                    sub.put(JobEvent(0, domain, key, event.event, data, event.data))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("sse_peer_lost", extra={"peer": url, "error": type(exc).__name__})
    finally:
        sub.end()  # the peer set changed or it left: the dashboard reconnects


def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
