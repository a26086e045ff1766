"""The prewarm disk cache, fed by a fake download function."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.media.cache import CacheKey, DiskCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Fetcher:
    """Writes `data` for a key; counts calls; can be held open with `gate`."""

    def __init__(self, data: bytes = b"x" * 1000) -> None:
        self.data, self.calls = data, 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def __call__(self, path: Path) -> int:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            path.write_bytes(b"partial")
            raise OSError("boom")
        path.write_bytes(self.data)
        return len(self.data)


def _cache(tmp_path: Path, clock: Clock, **limits: int) -> DiskCache:
    cache = DiskCache(
        tmp_path / "c",
        ttl_s=limits.pop("ttl_s", 300),
        clock=clock,
        max_items=limits.pop("max_items", 50),
        max_bytes=limits.pop("max_bytes", 10**9),
    )
    cache.reset()
    return cache


def _key(name: str) -> CacheKey:
    return CacheKey("media", name, "1000")


async def _read(cache: DiskCache, key: CacheKey, fetch: Fetcher) -> tuple[bytes, bool]:
    async with cache.lease(key, fetch) as lease:
        return lease.file.read(), lease.hit


def _files(cache: DiskCache) -> list[Path]:
    return sorted(cache.root.iterdir())


async def test_miss_then_hit_then_ttl(tmp_path: Path) -> None:
    clock, fetch = Clock(), Fetcher()
    cache = _cache(tmp_path, clock, ttl_s=300)
    assert await _read(cache, _key("a"), fetch) == (fetch.data, False)
    assert await _read(cache, _key("a"), fetch) == (fetch.data, True)
    assert fetch.calls == 1 and len(_files(cache)) == 1
    clock.now = 301
    assert cache.evict() == 1 and _files(cache) == [] and cache.bytes == 0
    assert await _read(cache, _key("a"), fetch) == (fetch.data, False)
    assert fetch.calls == 2


async def test_lru_eviction_by_items_and_bytes(tmp_path: Path) -> None:
    clock, fetch = Clock(), Fetcher()
    cache = _cache(tmp_path, clock, max_items=2, max_bytes=2500)
    for name in ("a", "b"):
        await _read(cache, _key(name), fetch)
    await _read(cache, _key("a"), fetch)  # a is now the most recently used
    await _read(cache, _key("c"), fetch)
    assert _key("b") not in cache and _key("a") in cache and _key("c") in cache
    assert len(_files(cache)) == 2
    cache.max_items = 10
    cache.max_bytes = 1500
    cache.evict()
    assert len(cache) == 1 and _key("c") in cache and cache.bytes == 1000
    assert len(_files(cache)) == 1


async def test_concurrent_leases_share_one_download(tmp_path: Path) -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = _cache(tmp_path, Clock())
    readers = [asyncio.ensure_future(_read(cache, _key("a"), fetch)) for _ in range(10)]
    await asyncio.sleep(0.01)
    fetch.gate.set()
    results = await asyncio.gather(*readers)
    assert fetch.calls == 1
    assert all(data == fetch.data for data, _ in results)
    assert sum(1 for _, hit in results if not hit) == 1


async def test_cancelled_first_caller_does_not_cancel_the_download(tmp_path: Path) -> None:
    fetch = Fetcher()
    fetch.gate = asyncio.Event()
    cache = _cache(tmp_path, Clock())
    first = asyncio.ensure_future(_read(cache, _key("a"), fetch))
    second = asyncio.ensure_future(_read(cache, _key("a"), fetch))
    await asyncio.sleep(0.01)
    first.cancel()
    fetch.gate.set()
    assert (await second)[0] == fetch.data
    assert fetch.calls == 1


async def test_failed_download_reaches_every_waiter_and_leaves_no_file(tmp_path: Path) -> None:
    fetch = Fetcher()
    fetch.fail, fetch.gate = True, asyncio.Event()
    cache = _cache(tmp_path, Clock())
    readers = [asyncio.ensure_future(_read(cache, _key("a"), fetch)) for _ in range(3)]
    await asyncio.sleep(0.01)
    fetch.gate.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert _files(cache) == [] and len(cache) == 0
    fetch.fail = False
    assert (await _read(cache, _key("a"), fetch))[1] is False


async def test_leased_file_is_kept_until_released(tmp_path: Path) -> None:
    clock, fetch = Clock(), Fetcher()
    cache = _cache(tmp_path, clock, max_items=1)
    async with cache.lease(_key("a"), fetch) as lease:
        await _read(cache, _key("b"), fetch)  # over the limit, but a is in use
        assert _key("a") in cache and _key("b") not in cache
        assert lease.file.read() == fetch.data
    assert len(cache) == 1


def test_reset_removes_files_of_a_previous_run(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "stale").write_bytes(b"old")
    cache = DiskCache(root, ttl_s=1, max_items=1, max_bytes=1)
    cache.reset()
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("version", ["1", "2"])
def test_versions_use_different_files(version: str) -> None:
    assert CacheKey("m", "k", version).filename() != CacheKey("m", "k", "3").filename()
