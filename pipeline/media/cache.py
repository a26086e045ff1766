"""Disk cache of downloaded objects: TTL, LRU, max items, max bytes, single-flight.

Objects are streamed to files under one directory (never held in memory). A file
is removed when its entry is evicted or expires and when the cache starts. Jobs
that ask for an object being downloaded wait for that one download. Entries
in use (leased) are never removed; the limits are enforced once they are free.

The download itself is a function handed in (`fetch(path) -> bytes written`), so
the cache is tested without S3.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

Fetch = Callable[[Path], Awaitable[int]]


@dataclass(frozen=True)
class CacheKey:
    """One version of one object: the size (or ETag) tells versions apart."""

    bucket: str
    key: str
    version: str

    def filename(self) -> str:
        raw = "\0".join((self.bucket, self.key, self.version)).encode()
        return hashlib.sha256(raw).hexdigest()


@dataclass
class _Entry:
    path: Path
    size: int
    expires: float


@dataclass
class Lease:
    """An open cached file; `hit` is False only for the job that downloaded it."""

    file: BinaryIO
    size: int
    hit: bool
    shared: bool  # waited for another job's download


class DiskCache:
    """LRU + TTL cache of files in `root` (the directory is this cache's alone)."""

    def __init__(self, root: Path, *, ttl_s: float, max_items: int, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self.ttl_s, self.max_items, self.max_bytes = ttl_s, max_items, max_bytes
        self._clock = clock
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._inflight: dict[CacheKey, asyncio.Task[_Entry]] = {}
        self._pins: dict[CacheKey, int] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def reset(self) -> None:
        """Remove every file (at start: files of a previous run are unknown to us)."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._entries.clear()
        self.bytes = 0

    @contextlib.asynccontextmanager
    async def lease(self, key: CacheKey, fetch: Fetch) -> AsyncIterator[Lease]:
        """Open the cached object, downloading it first when absent (once for all callers)."""
        self._pins[key] = self._pins.get(key, 0) + 1
        try:
            entry, hit, shared = await self._get(key, fetch)
            with open(entry.path, "rb") as file:
                yield Lease(file, entry.size, hit, shared)
        finally:
            self._pins[key] -= 1
            if not self._pins[key]:
                del self._pins[key]
            self.evict()

    async def _get(self, key: CacheKey, fetch: Fetch) -> tuple[_Entry, bool, bool]:
        entry = self._entries.get(key)
        if entry is not None and entry.expires > self._clock():
            self._entries.move_to_end(key)
            return entry, True, False
        task = self._inflight.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(self._download(key, fetch))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # Shielded: one caller giving up (cancelled) does not cancel the others' download.
        return await asyncio.shield(task), shared, shared

    async def _download(self, key: CacheKey, fetch: Fetch) -> _Entry:
        self._drop(key, force=True)  # an expired entry of the same key
        path = self.root / key.filename()
        part = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            size = await fetch(part)
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)
        entry = _Entry(path, size, self._clock() + self.ttl_s)
        self._entries[key] = entry
        self.bytes += size
        self.evict()
        return entry

    def evict(self) -> int:
        """Drop expired entries, then least recently used ones over the limits."""
        now, removed = self._clock(), 0
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            removed += self._drop(key)
        for key in list(self._entries):
            if len(self._entries) <= self.max_items and self.bytes <= self.max_bytes:
                break
            removed += self._drop(key)
        return removed

    def _drop(self, key: CacheKey, force: bool = False) -> int:
        """Remove one entry and its file unless a lease holds it (1 when removed).

        An open lease keeps reading a removed file (POSIX unlink semantics).
        """
        if key not in self._entries or (key in self._pins and not force):
            return 0
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        entry.path.unlink(missing_ok=True)
        return 1

    async def close(self) -> None:
        """Cancel downloads in flight (at stop)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
