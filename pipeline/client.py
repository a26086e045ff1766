"""Python client for the pipeline's HTTP API: `AsyncClient` and its blocking twin `Client`.

    async with AsyncClient() as api:        # PIPELINE_API_URL, else 127.0.0.1:PIPELINE_WEB_PORT
        job = await api.submit("http://example.com/list.m3u")
        done = await api.wait(job["job_id"], on_progress=print)   # follows SSE, else polls
        async for event in api.events(job["job_id"]):             # queued, started, ... done
            print(event.event, event.json())
        async for item in api.items(job["job_id"]):
            ...

    with Client() as api:                   # the same methods, blocking
        api.wait(api.submit(url)["job_id"])

Answers are the API's JSON documents (docs/architecture.md, "HTTP API"). A non-2xx answer
is raised as the typed error of its `error.code` (`pipeline.errors.error_class`)
with that code in `exc.code`; a job that ends `failed` or `cancelled` makes
`wait()` raise its error, the final job document in `exc.details["job"]`. An
unreachable API is `NotReady`. Event streams: docs/events.md.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from contextlib import aclosing
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from pipeline import sse
from pipeline.errors import (
    BadRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PipelineError,
    RateLimited,
    Unauthorized,
    URLRefused,
    error_class,
)
from pipeline.settings import Settings, get_settings

T = TypeVar("T")
Job = dict[str, Any]
ProgressCallback = Callable[[Job], None]

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
# Items stream in chunks of this size; lines are split client-side (no line-length cap).
ITEM_CHUNK_BYTES = 64 * 1024

_BY_STATUS: dict[int, type[PipelineError]] = {
    400: BadRequest, 401: Unauthorized, 404: NotFound, 413: PayloadTooLarge,
    422: URLRefused, 429: RateLimited, 503: NotReady,
}


def api_error(status: int, body: Any, retry_after: float | None = None) -> PipelineError:
    """The typed error for an error answer `{"error": {"code", "message"}}`."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or f"HTTP {status}")
    cls = error_class(code) if code else _BY_STATUS.get(status, PipelineError)
    exc = cls(message)
    exc.code = code or exc.code  # keep the server's code even when this client lacks it
    exc.http_status = status
    if retry_after is not None and isinstance(exc, RateLimited | NotReady):
        exc.retry_after = max(0, round(retry_after))
    return exc


class EventsUnavailable(PipelineError):
    """The server refused the event stream (no such route, or nothing listening)."""

    code, http_status = "events_unavailable", 501


def job_error(job: Job) -> PipelineError:
    """The typed error of a failed or cancelled job; the document rides in `details["job"]`."""
    err = job.get("error") or {}
    code = str(err.get("code") or ("cancelled" if job.get("status") == "cancelled"
                                   else "job_error"))
    exc = error_class(code)(str(err.get("message") or code))
    exc.code = code
    exc.details["job"] = job
    return exc


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:  # the HTTP-date form is not used by this API
        return None


class AsyncClient:
    """The HTTP API from asyncio code. One session per client; close it (or `async with`)."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None,
                 timeout_s: float = 30.0, settings: Settings | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        if base_url is None or token is None:
            settings = settings or get_settings()
            base_url = base_url or settings.api_base_url
            if token is None and settings.api_token is not None:
                token = settings.api_token.get_secret_value()
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._session = aiohttp.ClientSession(headers=headers, timeout=self.timeout)
            self._own_session = True
        return self._session

    async def _call(self, method: str, path: str,
                    body: dict[str, Any] | None = None) -> tuple[Any, float | None]:
        """(JSON answer, Retry-After seconds or None); errors raised typed."""
        try:
            async with self._http().request(method, self.base_url + path, json=body) as resp:
                raw = await resp.read()
                hint = _retry_after(resp.headers)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotReady(f"cannot reach the pipeline API at {self.base_url}: "
                           f"{exc or type(exc).__name__}") from exc
        doc = _loads_or_empty(raw)
        if status >= 400:
            raise api_error(status, doc, hint)
        return doc, hint

    # --- playlist jobs

    async def submit(self, url: str, force: bool = False,
                     callback_url: str | None = None) -> Job:
        """Queue a parse of `url`: `{"job_id", "status", "deduplicated", "position", ...}`.

        `callback_url` gets the signed outcome as a webhook (docs/events.md).
        """
        body: dict[str, Any] = {"url": url, "force": force}
        if callback_url:
            body["callback_url"] = callback_url
        doc, _ = await self._call("POST", "/api/playlist/parse", body)
        return dict(doc)

    async def status(self, job_id: str) -> Job:
        """The job document (URL redacted by the server); `NotFound` for an unknown job."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}")
        return dict(doc)

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
                return _outcome(job)
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
                        return _outcome(job)
            return _outcome(await final_status)  # not reached: streams end on a final event
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
                    return _outcome(job)
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
            raise api_error(resp.status, _loads_or_empty(raw), _retry_after(resp.headers))
        return resp

    async def items(self, job_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The parsed items of a done job, streamed (gzip on the wire)."""
        url = f"{self.base_url}/api/playlist/jobs/{job_id}/items"
        try:
            async with self._http().get(url, timeout=aiohttp.ClientTimeout(
                    total=None, sock_read=self.timeout.total)) as resp:
                if resp.status >= 400:
                    raw = await resp.read()
                    raise api_error(resp.status, _loads_or_empty(raw),
                                    _retry_after(resp.headers))
                tail = b""
                async for chunk in resp.content.iter_chunked(ITEM_CHUNK_BYTES):
                    *lines, tail = (tail + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
                if tail.strip():
                    yield json.loads(tail)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotReady(f"items stream from {self.base_url} broke: "
                           f"{exc or type(exc).__name__}") from exc

    # --- catalogue (issue 14): groups, pages, one item, changes

    async def groups(self, job_id: str) -> list[dict[str, Any]]:
        """The job's groups with their item counts by type (current run)."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}/groups")
        return list(doc["groups"])

    async def page(self, job_id: str, *, group: str | None = None, type: str | None = None,
                   q: str | None = None, limit: int | None = None,
                   cursor: str | None = None) -> dict[str, Any]:
        """One page ``{"items", "next", "run_id"}``; pass ``next`` as ``cursor`` to go on."""
        query = {k: str(v) for k, v in (("group", group), ("type", type), ("q", q),
                 ("limit", limit), ("cursor", cursor)) if v is not None}
        if not query:
            query["limit"] = "100"  # no parameter at all would mean the full NDJSON
        path = f"/api/playlist/jobs/{job_id}/items?" + urllib.parse.urlencode(query)
        doc, _ = await self._call("GET", path)
        return dict(doc)

    async def item(self, job_id: str, item_id: str) -> dict[str, Any]:
        """One item of the job's current run by its stable id."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}/items/"
                                  + urllib.parse.quote(item_id, safe=""))
        return dict(doc["item"])

    def diff(self, job_id: str, since_run: str | None = None,
             ) -> AsyncGenerator[dict[str, Any], None]:
        """The changes of the current run against the one before, streamed:
        ``{"change": "added" | "changed" | "removed", "id", "item"}``."""
        query = "?" + urllib.parse.urlencode({"since_run": since_run}) if since_run else ""
        return self._ndjson(f"/api/playlist/jobs/{job_id}/diff{query}")

    async def _ndjson(self, path: str) -> AsyncGenerator[dict[str, Any], None]:
        try:
            async with self._http().get(self.base_url + path, timeout=aiohttp.ClientTimeout(
                    total=None, sock_read=self.timeout.total)) as resp:
                if resp.status >= 400:
                    raise api_error(resp.status, _loads_or_empty(await resp.read()),
                                    _retry_after(resp.headers))
                tail = b""
                async for chunk in resp.content.iter_chunked(ITEM_CHUNK_BYTES):
                    *lines, tail = (tail + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
                if tail.strip():
                    yield json.loads(tail)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotReady(f"stream from {self.base_url} broke: "
                           f"{exc or type(exc).__name__}") from exc

    # --- media

    async def publish_upload(self, media_id: str, bucket: str, key: str, *, size: int = 0,
                             kind: str = "other", content_type: str = "",
                             uploaded_at: float | None = None, destination: str | None = None,
                             force: bool = False,
                             callback_url: str | None = None) -> dict[str, Any]:
        """Announce a stored object for prewarm: `{"media_id", "status", "score"}`."""
        body = {"media_id": media_id, "bucket": bucket, "key": key, "size": size, "kind": kind,
                "content_type": content_type,
                "uploaded_at": time.time() if uploaded_at is None else uploaded_at,
                "destination": destination, "force": force}
        if callback_url:
            body["callback_url"] = callback_url
        doc, _ = await self._call("POST", "/api/media/uploads", body)
        return dict(doc)

    async def media_status(self, media_id: str) -> dict[str, Any]:
        """The media job document; `NotFound` for an unknown media id."""
        doc, _ = await self._call("GET", f"/api/media/{media_id}")
        return dict(doc)

    # --- cancel and dead letters

    async def cancel(self, job_id: str, *, media: bool = False) -> Job:
        """Cancel a playlist job (or a media job): the job document, status `cancelled`;
        `JobFinished` (409) when it already ended."""
        path = f"/api/media/{job_id}" if media else f"/api/playlist/jobs/{job_id}"
        doc, _ = await self._call("DELETE", path)
        return dict(doc)

    async def dead_letters(self, topic: str, **filters: Any) -> dict[str, Any]:
        """One page of `topic`'s dead letters (`playlist`, `media` or a topic name);
        filters: reason, since, until, key, limit, start."""
        query = urlencode({k: v for k, v in filters.items() if v is not None})
        doc, _ = await self._call("GET", f"/api/dlq/{topic}" + (f"?{query}" if query else ""))
        return dict(doc)

    async def redrive(self, topic: str, **filters: Any) -> dict[str, Any]:
        """Re-publish `topic`'s matching dead letters through the intake;
        filters: reason, since, until, key, dry_run."""
        body = {k: v for k, v in filters.items() if v is not None}
        doc, _ = await self._call("POST", f"/api/dlq/{topic}/redrive", body)
        return dict(doc)


def _loads_or_empty(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)


def _outcome(job: Job) -> Job:
    if job.get("status") in ("failed", "cancelled"):
        raise job_error(job)
    return job


def _event_job(event: sse.Event) -> Job | None:
    """The job document an event carries (docs/events.md), or None."""
    try:
        doc = event.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


class Client:
    """Blocking client: the `AsyncClient` methods on a private event loop.

    Not for use inside a running event loop (use `AsyncClient` there).
    """

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._api = AsyncClient(base_url, **kwargs)
        self.base_url = self._api.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._run(self._api.close())
        self._runner.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def submit(self, url: str, force: bool = False, callback_url: str | None = None) -> Job:
        """See `AsyncClient.submit`."""
        return self._run(self._api.submit(url, force, callback_url))

    def status(self, job_id: str) -> Job:
        """See `AsyncClient.status`."""
        return self._run(self._api.status(job_id))

    def wait(self, job_id: str, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> Job:
        """See `AsyncClient.wait`."""
        return self._run(self._api.wait(job_id, on_progress, timeout))

    def wait_media(self, media_id: str, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> Job:
        """See `AsyncClient.wait_media`."""
        return self._run(self._api.wait_media(media_id, on_progress, timeout))

    def poll(self, job_id: str, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> Job:
        """See `AsyncClient.poll`."""
        return self._run(self._api.poll(job_id, on_progress, timeout))

    def items(self, job_id: str) -> Iterator[dict[str, Any]]:
        """See `AsyncClient.items`; a generator (close it to stop early)."""
        return self._iterate(self._api.items(job_id))

    # --- catalogue (issue 14)

    def groups(self, job_id: str) -> list[dict[str, Any]]:
        """See `AsyncClient.groups`."""
        return self._run(self._api.groups(job_id))

    def page(self, job_id: str, **query: Any) -> dict[str, Any]:
        """See `AsyncClient.page`."""
        return self._run(self._api.page(job_id, **query))

    def item(self, job_id: str, item_id: str) -> dict[str, Any]:
        """See `AsyncClient.item`."""
        return self._run(self._api.item(job_id, item_id))

    def diff(self, job_id: str, since_run: str | None = None) -> Iterator[dict[str, Any]]:
        """See `AsyncClient.diff`; a generator (close it to stop early)."""
        return self._iterate(self._api.diff(job_id, since_run))

    def events(self, job_id: str, last_event_id: str | None = None) -> Iterator[sse.Event]:
        """See `AsyncClient.events`; a generator (close it to stop early)."""
        return self._iterate(self._api.events(job_id, last_event_id))

    def media_events(self, media_id: str,
                     last_event_id: str | None = None) -> Iterator[sse.Event]:
        """See `AsyncClient.media_events`."""
        return self._iterate(self._api.media_events(media_id, last_event_id))

    def _iterate(self, stream: AsyncGenerator[T, None]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            self._run(stream.aclose())

    def publish_upload(self, media_id: str, bucket: str, key: str, **kwargs: Any) -> dict:
        """See `AsyncClient.publish_upload`."""
        return self._run(self._api.publish_upload(media_id, bucket, key, **kwargs))

    def media_status(self, media_id: str) -> dict[str, Any]:
        """See `AsyncClient.media_status`."""
        return self._run(self._api.media_status(media_id))

    def cancel(self, job_id: str, *, media: bool = False) -> Job:
        """See `AsyncClient.cancel`."""
        return self._run(self._api.cancel(job_id, media=media))

    def dead_letters(self, topic: str, **filters: Any) -> dict[str, Any]:
        """See `AsyncClient.dead_letters`."""
        return self._run(self._api.dead_letters(topic, **filters))

    def redrive(self, topic: str, **filters: Any) -> dict[str, Any]:
        """See `AsyncClient.redrive`."""
        return self._run(self._api.redrive(topic, **filters))
