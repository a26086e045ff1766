"""One worker's prewarm machinery, opened at start and closed at stop.

Holds the S3 client (one keep-alive pool per worker), the HTTP session for
`http(s)://` destinations, the disk cache and the scheduler, and runs one job:
`started` event, cache fetch and push, then a `done`, `retry` or `failed`
event that the events agent applies to the job's row.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from mode import Service

from pipeline import storage
from pipeline.errors import PipelineError
from pipeline.media.cache import DiskCache
from pipeline.media.destinations import HttpOptions, open_destination
from pipeline.media.prewarm import Outcome, prewarm
from pipeline.media.queue import JobQueue
from pipeline.media.rules import job_time
from pipeline.media.scheduler import Scheduler
from pipeline.metrics import Metrics
from pipeline.records import EventKind, MediaJob, PrewarmEvent
from pipeline.settings import Settings

log = logging.getLogger("pipeline.media")

Emit = Callable[[PrewarmEvent], Awaitable[Any]]
# Expired cache files are removed at this interval even when no job runs.
CACHE_SWEEP_S = 5.0


class PrewarmService(Service):
    """S3 client, HTTP session, disk cache and scheduler of one worker."""

    def __init__(self, settings: Settings, metrics: Metrics, emit: Emit, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.metrics, self._emit = settings, metrics, emit
        self.cache = DiskCache(settings.cache_dir / "prewarm", ttl_s=settings.prewarm_cache_ttl_s,
                               max_items=settings.prewarm_cache_max_items,
                               max_bytes=settings.prewarm_cache_max_bytes)
        self.scheduler = Scheduler(JobQueue(settings.score), settings.prewarm_concurrency,
                                   self.run_job, on_change=self._gauges)
        self.s3: Any = None
        self.session: aiohttp.ClientSession | None = None
        self._clients = contextlib.AsyncExitStack()
        self._http = HttpOptions(
            settings.prewarm_http_method, settings.prewarm_http_headers,
            aiohttp.ClientTimeout(total=None, sock_connect=settings.fetch_connect_timeout_s,
                                  sock_read=settings.fetch_read_timeout_s))

    async def on_start(self) -> None:
        self.cache.reset()
        self.s3 = await self._clients.enter_async_context(storage.open_client(self.settings))
        connector = aiohttp.TCPConnector(limit=max(10, 2 * self.settings.prewarm_concurrency),
                                         keepalive_timeout=30)
        self.session = await self._clients.enter_async_context(
            aiohttp.ClientSession(connector=connector))
        self.add_future(self.scheduler.run(lambda: self.should_stop))

    async def on_stop(self) -> None:
        await self.scheduler.stop()
        await self.cache.close()
        await self._clients.aclose()

    @Service.timer(CACHE_SWEEP_S)
    async def _sweep_cache(self) -> None:
        self.cache.evict()

    def _gauges(self) -> None:
        self.metrics.prewarm_active.set(len(self.scheduler.active))
        self.metrics.prewarm_queued.set(len(self.scheduler.queue))

    # --- one run

    async def run_job(self, row: MediaJob, score: float) -> None:
        """Prewarm one job and report its outcome as events (cancellation reports nothing)."""
        attempt, at, t0 = row.attempts + 1, time.time(), time.monotonic()
        await self._send(row, EventKind.STARTED, attempt, at=at)
        log.info("prewarm_start", extra={
            "media_id": row.media_id, "run_id": row.run_id, "attempt": attempt,
            "score": score, "kind": row.kind, "size": row.size,
            "wait_s": round(at - job_time(row), 3)})
        try:
            outcome = await self._prewarm(row)
        except Exception as exc:
            await self._failed(row, attempt, exc, time.monotonic() - t0)
        else:
            await self._done(row, attempt, outcome, time.monotonic() - t0)

    async def _prewarm(self, row: MediaJob) -> Outcome:
        url = row.destination or self.settings.default_destination
        destination = open_destination(url, s3=self.s3, session=self.session, http=self._http)
        return await prewarm(row, s3=self.s3, cache=self.cache, destination=destination)

    async def _done(self, row: MediaJob, attempt: int, outcome: Outcome, duration: float) -> None:
        m = self.metrics
        m.prewarm_jobs.labels(status="done").inc()
        m.prewarm_duration.observe(duration)
        m.prewarm_bytes.labels(direction="in").inc(outcome.bytes_in)
        m.prewarm_bytes.labels(direction="out").inc(outcome.bytes_out)
        m.prewarm_cache.labels(result="hit" if outcome.cache_hit else "miss").inc()
        if outcome.cache_hit:
            log.info("cache_hit", extra={"media_id": row.media_id, "bucket": row.bucket,
                                         "key": row.key, "shared": outcome.shared})
        await self._send(row, EventKind.DONE, attempt, duration_s=round(duration, 4),
                         bytes=outcome.bytes_out, destination_ref=outcome.destination_ref)
        log.info("prewarm_done", extra={
            "media_id": row.media_id, "run_id": row.run_id, "attempt": attempt,
            "duration_s": round(duration, 4), "bytes": outcome.bytes_out,
            "cache_hit": outcome.cache_hit, "destination_ref": outcome.destination_ref})

    async def _failed(self, row: MediaJob, attempt: int, exc: Exception, duration: float) -> None:
        if isinstance(exc, PipelineError):
            error = exc
        else:  # a bug or an unexpected library error: worth another try
            log.exception("prewarm_crashed", extra={"media_id": row.media_id})
            error = PipelineError(f"unexpected {type(exc).__name__}")
            error.transient = True
        retry = error.transient and attempt < self.settings.prewarm_max_attempts
        self.metrics.prewarm_jobs.labels(status="retry" if retry else "failed").inc()
        await self._send(row, EventKind.RETRY if retry else EventKind.FAILED, attempt,
                         duration_s=round(duration, 4), error=error.to_dict())
        log.warning("prewarm_failed", extra={
            "media_id": row.media_id, "run_id": row.run_id, "attempt": attempt,
            "code": error.code, "error": error.message, "will_retry": retry,
            "duration_s": round(duration, 4)})

    async def _send(self, row: MediaJob, kind: EventKind, attempt: int, **fields: Any) -> None:
        fields.setdefault("at", time.time())
        await self._emit(PrewarmEvent(kind=kind, media_id=row.media_id, run_id=row.run_id,
                                      attempts=attempt, **fields))

