"""S3 reachability for `/health`: one bounded probe at a time, its answer cached.

A health check must not cost an S3 request per call, nor hang when S3 does: the
probe (`HeadBucket` on the results bucket) runs at most once per `ttl_s` with a
`timeout_s` cap, and concurrent callers share it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

from pipeline import storage
from pipeline.settings import Settings

log = logging.getLogger("pipeline.s3probe")

Check = Callable[[], Awaitable[Any]]


class S3Probe:
    """`await probe.check()` -> True while S3 answered the last probe."""

    def __init__(self, check: Check, ttl_s: float = 5.0, timeout_s: float = 2.0) -> None:
        self._check, self.ttl_s, self.timeout_s = check, ttl_s, timeout_s
        self.ok = True
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Probe:
        async def head_bucket() -> None:
            async with storage.open_client(settings) as s3:
                try:
                    await s3.head_bucket(Bucket=settings.results_bucket)
                except ClientError:
                    pass  # S3 answered (even 403/404): it is reachable

        return cls(head_bucket, settings.s3_probe_ttl_s, settings.s3_probe_timeout_s)

    async def check(self) -> bool:
        if time.monotonic() - self._checked_at < self.ttl_s:
            return self.ok
        async with self._lock:
            if time.monotonic() - self._checked_at >= self.ttl_s:
                await self._probe()
        return self.ok

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
