"""S3 reachability for `/health`: one bounded probe at a time, its answer cached.

A health check must not cost an S3 request per call, nor hang or stall when S3
does: the probe (`HeadBucket` on the results bucket, through the worker's one
long-lived S3 client: making a client costs 0.1-0.4 s of CPU on the event loop)
runs at most once per `ttl_s` with a `timeout_s` cap. Only the first check waits
for it; later ones answer from the cache at once and start the next probe in the
background when the answer is older than `ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger("pipeline.s3probe")

Check = Callable[[], Awaitable[Any]]


class S3Probe:
    """`await probe.check()` -> True while S3 answered the last probe."""

    def __init__(self, check: Check, ttl_s: float = 5.0, timeout_s: float = 2.0) -> None:
        self._check, self.ttl_s, self.timeout_s = check, ttl_s, timeout_s
        self.ok = True
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Future[None] | None = None

    @classmethod
    def head_bucket(cls, client: Callable[[], Awaitable[Any]], bucket: str, ttl_s: float,
                    timeout_s: float) -> S3Probe:
        """A probe of ``bucket`` through the client ``client()`` returns."""
        async def check() -> None:
            s3 = await client()
            try:
                await s3.head_bucket(Bucket=bucket)
            except ClientError:
                pass  # S3 answered (even 403/404): it is reachable

        return cls(check, ttl_s, timeout_s)

    async def check(self) -> bool:
        if time.monotonic() - self._checked_at < self.ttl_s:
            return self.ok
        if self._checked_at == float("-inf"):  # no answer yet: this one waits for it
            await self._probe_once()
        elif self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._probe_once())
        return self.ok

    async def close(self) -> None:
        """Cancel a background probe still running (before its client closes)."""
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    async def _probe_once(self) -> None:
        async with self._lock:  # concurrent callers share one probe
            if time.monotonic() - self._checked_at >= self.ttl_s:
                await self._probe()

    async def _probe(self) -> None:
        try:
            await asyncio.wait_for(self._check(), self.timeout_s)
            ok = True
        except Exception as exc:  # any failure (timeout, refused, error) is "unreachable"
            ok = False
            if self.ok:
                log.warning("s3_unreachable", extra={"error": type(exc).__name__})
        if ok and not self.ok:
            log.info("s3_reachable")
        self.ok, self._checked_at = ok, time.monotonic()
