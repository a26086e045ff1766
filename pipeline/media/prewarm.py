"""One prewarm: the object through the disk cache (one download) to its destination."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pipeline import storage
from pipeline.media.cache import CacheKey, DiskCache
from pipeline.media.destinations import Destination, PushItem
from pipeline.records import MediaJob

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    destination_ref: str
    bytes_in: int  # downloaded from S3 by this job (0 on a cache hit)
    bytes_out: int  # pushed to the destination
    cache_hit: bool
    shared: bool  # waited for another job's download of the same object


async def download(s3: Any, bucket: str, key: str, path: Path) -> int:
    """Stream an object to `path` in 1 MiB chunks; the S3 body is closed in every case."""
    size = 0
    with open(path, "wb") as out:
        body = cast(AsyncGenerator[bytes, None], storage.iter_object(s3, bucket, key, CHUNK))
        async with contextlib.aclosing(body) as chunks:
            async for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
    return size


async def prewarm(row: MediaJob, *, s3: Any, cache: DiskCache, destination: Destination) -> Outcome:
    """Fetch `row`'s object (cached) and push it; raises the pipeline's JobErrors."""
    cache_key = CacheKey(row.bucket, row.key, str(row.size))

    async def fetch(path: Path) -> int:
        return await download(s3, row.bucket, row.key, path)

    async with cache.lease(cache_key, fetch) as lease:
        item = PushItem(row.media_id, row.bucket, row.key, row.content_type, lease.size)
        ref = await destination.push(lease.file, item)
    return Outcome(ref, 0 if lease.hit else lease.size, lease.size, lease.hit, lease.shared)
