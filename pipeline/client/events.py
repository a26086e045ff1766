"""`EventClient`: follow a job's event stream (SSE), wait for its end, or poll.

The wire format and the events are in docs/events.md. `wait()` follows the
stream and falls back to polling when the server has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import aiohttp

from pipeline import sse
from pipeline.client.base import BaseClient
from pipeline.client.errors import (
    EventsUnavailable,
    Job,
    ProgressCallback,
    api_error,
    loads_or_empty,
    outcome,
    parse_retry_after,
)
from pipeline.errors import NotFound, NotReady, RateLimited

TERMINAL = ("done", "failed", "cancelled")
# A server without the event stream answers these; wait() then polls.
STREAM_REFUSED = (404, 405, 501)
# The server sends a heartbeat every 15 s: this long without a byte means the stream is dead.
STREAM_IDLE_S = 45.0
# Pause before reconnecting a broken stream unless the server's `retry:` says otherwise.
RECONNECT_S = 1.0
# Poll pacing when the server gives no Retry-After: start fast, back off to a ceiling.
POLL_MIN_S, POLL_MAX_S, POLL_FACTOR = 0.25, 5.0, 1.5
# wait() rides out an unreachable / not-ready / rate-limited API for this long (a restart).
TRANSIENT_GIVE_UP_S = 60.0
# A request sent straight to Kafka is unknown to the API until an agent applies it.
NOT_FOUND_GRACE_S = 15.0


class EventClient(BaseClient):
    """The event streams of playlist and media jobs, and waiting on them."""

    async def wait(self, job_id: str, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> Job:
        """Follow the job's events until it is `done` (returned) or `failed` /
        `cancelled` (its error raised); `on_progress(job)` sees every job document.

        When the server refuses the stream (404/405/501, connection refused),
        polls instead (:meth:`poll`). Past `timeout` seconds, `TimeoutError`.
        """
        clock = asyncio.get_running_loop().time
        deadline = None if timeout is None else clock() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self._wait_events(self.events(job_id), self.status(job_id),
                                               on_progress)
        except EventsUnavailable:
            pass
        except TimeoutError:
            raise TimeoutError(f"job {job_id} still not finished after {timeout} s") from None
        left = None if deadline is None else max(0.0, deadline - clock())
        return await self.poll(job_id, on_progress, left)

    async def wait_media(self, media_id: str, on_progress: ProgressCallback | None = None,
                         timeout: float | None = None) -> Job:
        """`wait()` for a media job: follows `GET /api/media/{id}/events`, else polls."""
        clock = asyncio.get_running_loop().time
        deadline = None if timeout is None else clock() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self._wait_events(self.media_events(media_id),
                                               self.media_status(media_id), on_progress)
        except EventsUnavailable:
            pass
        except TimeoutError:
            raise TimeoutError(f"media {media_id} still not finished after {timeout} s") \
                from None
        while True:  # the polling fallback
            if deadline is not None and clock() >= deadline:
                raise TimeoutError(f"media {media_id} still not finished after {timeout} s")
            try:
                job = await self.media_status(media_id)
            except (NotFound, NotReady):
                job = {}
            if job and on_progress is not None:
                on_progress(job)
            if job.get("status") in TERMINAL:
                return outcome(job)
            await asyncio.sleep(POLL_MIN_S * 2)

    async def _wait_events(self, stream_gen: AsyncGenerator[sse.Event, None],
                           final_status: Coroutine[Any, Any, Job],
                           on_progress: ProgressCallback | None) -> Job:
        """Follow a stream to its final event; `final_status` is read only when that
        event carries no job document."""
        try:
            async with aclosing(stream_gen) as stream:
                async for event in stream:
                    job = _event_job(event)
                    if job is not None and on_progress is not None:
                        on_progress(job)
                    if event.event in TERMINAL:
                        if job is None or job.get("status") != event.event:
                            job = await final_status
                        return outcome(job)
            return outcome(await final_status)  # not reached: streams end on a final event
        finally:
            final_status.close()  # never awaited when the event carried the document

    async def poll(self, job_id: str, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> Job:
        """Poll until the job is `done` (returned) or `failed` / `cancelled` (raised).

        The pace follows the server's `Retry-After` when given, else backs off
        from 0.25 s to 5 s. `on_progress(job)` sees every answer. A brief outage
        or a job not yet applied (sent straight to Kafka) is waited out; past
        `timeout` seconds, `TimeoutError`.
        """
        clock = asyncio.get_running_loop().time
        deadline = None if timeout is None else clock() + timeout
        started, delay, trouble_since = clock(), POLL_MIN_S, None
        while True:
            try:
                job, hint = await self._poll(job_id, started, clock)
                trouble_since = None
            except (NotReady, RateLimited) as exc:
                trouble_since = trouble_since or clock()
                if clock() - trouble_since > TRANSIENT_GIVE_UP_S:
                    raise
                job, hint = None, float(exc.retry_after)
            if job is not None:
                if on_progress is not None:
                    on_progress(job)
                if job.get("status") in TERMINAL:
                    return outcome(job)
            pause = hint if hint is not None else delay
            delay = min(delay * POLL_FACTOR, POLL_MAX_S)
            if deadline is not None:
                if clock() >= deadline:
                    raise TimeoutError(f"job {job_id} still not finished after {timeout} s")
                pause = min(pause, deadline - clock())
            await asyncio.sleep(pause)

    async def _poll(self, job_id: str, started: float,
                    clock: Callable[[], float]) -> tuple[Job | None, float | None]:
        try:
            doc, hint = await self._call("GET", f"/api/playlist/jobs/{job_id}")
        except NotFound:
            if clock() - started > NOT_FOUND_GRACE_S:
                raise
            return None, None
        return dict(doc), hint

    def events(self, job_id: str,
               last_event_id: str | None = None) -> AsyncGenerator[sse.Event, None]:
        """The job's events (`GET /api/playlist/jobs/{id}/events`) up to the final one.

        A broken stream is reconnected with `Last-Event-ID`, so no event is
        missed; `EventsUnavailable` when the server has no stream.
        """
        return self._follow(f"/api/playlist/jobs/{job_id}/events", last_event_id)

    def media_events(self, media_id: str,
                     last_event_id: str | None = None) -> AsyncGenerator[sse.Event, None]:
        """The media job's events (`GET /api/media/{id}/events`); see `events`."""
        return self._follow(f"/api/media/{media_id}/events", last_event_id)

    async def _follow(self, path: str,
                      last_id: str | None) -> AsyncGenerator[sse.Event, None]:
        clock = asyncio.get_running_loop().time
        # `reconnect_s` lasts across connections, as in a browser's EventSource.
        reconnect_s, trouble_since, connected = RECONNECT_S, None, False
        while True:
            pause = None
            try:
                resp = await self._open_stream(path, last_id, first=not connected)
                connected, decoder = True, sse.Decoder()
                try:
                    async for chunk in resp.content.iter_any():
                        for event in decoder.feed(chunk):
                            last_id, trouble_since = event.id or last_id, None
                            yield event
                            if event.event in TERMINAL:
                                return
                finally:
                    resp.close()  # a half-read stream must not go back to the pool
                    if decoder.retry_ms is not None:
                        reconnect_s = decoder.retry_ms / 1000
            except (NotReady, RateLimited) as exc:
                pause = float(exc.retry_after)
            except (aiohttp.ClientError, TimeoutError):
                pass
            trouble_since = trouble_since or clock()
            if clock() - trouble_since > TRANSIENT_GIVE_UP_S:
                raise NotReady(f"event stream {path} from {self.base_url} lost")
            await asyncio.sleep(reconnect_s if pause is None else pause)

    async def _open_stream(self, path: str, last_id: str | None,
                           first: bool) -> aiohttp.ClientResponse:
        headers = {"Accept": sse.CONTENT_TYPE, "Cache-Control": "no-cache"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout.total,
                                        sock_read=STREAM_IDLE_S)
        try:
            resp = await self._http().get(self.base_url + path, headers=headers,
                                          timeout=timeout)
        except aiohttp.ClientConnectorError as exc:
            if first and isinstance(exc.os_error, ConnectionRefusedError):
                raise EventsUnavailable(f"nothing listens at {self.base_url}") from exc
            raise
        kind = resp.headers.get("Content-Type", "")
        if resp.status in STREAM_REFUSED or (resp.status < 300 and sse.CONTENT_TYPE not in kind):
            resp.close()
            raise EventsUnavailable(f"{path} is not an event stream (HTTP {resp.status})")
        if resp.status >= 300:
            raw = await resp.read()
            raise api_error(resp.status, loads_or_empty(raw), parse_retry_after(resp.headers))
        return resp


def _event_job(event: sse.Event) -> Job | None:
    """The job document an event carries (docs/events.md), or None."""
    try:
        doc = event.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
