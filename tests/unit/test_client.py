"""The Python client against a scripted in-process HTTP API (no worker needed)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from pipeline.client import AsyncClient, Client, api_error
from pipeline.errors import (
    NotAPlaylist,
    NotFound,
    NotReady,
    PipelineError,
    RateLimited,
    Unauthorized,
    URLRefused,
)

Reply = tuple[int, dict[str, Any], dict[str, str]]
ITEMS = [
    {
        "name": f"Channel {i}",
        "url": f"http://s/{i}.ts",
        "type": "live",
        "attrs": {"pad": "x" * (i * 37 % 500)},
    }
    for i in range(300)
]


@dataclass
class FakeApi:
    """Scripted answers per job id; every request is logged with its time."""

    base: str = ""
    script: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[tuple[float, str, str, str]] = field(default_factory=list)

    def times(self, path: str) -> list[float]:
        return [at for at, _, p, _ in self.seen if p == path]


def _app(api: FakeApi) -> web.Application:
    async def log(request: web.Request) -> None:
        api.seen.append(
            (
                time.monotonic(),
                request.method,
                request.path,
                request.headers.get("Authorization", ""),
            )
        )

    async def submit(request: web.Request) -> web.Response:
        await log(request)
        body = await request.json()
        if not body["url"].startswith("http"):
            return web.json_response(
                {"error": {"code": "url_refused", "message": "no"}}, status=422
            )
        return web.json_response(
            {
                "job_id": "j1",
                "status": "queued",
                "deduplicated": False,
                "position": 1,
                "force": body["force"],
            },
            status=202,
        )

    async def job(request: web.Request) -> web.Response:
        await log(request)
        replies = api.script.get(request.match_info["job_id"], [])
        status, doc, headers = replies.pop(0) if len(replies) > 1 else replies[0]
        return web.json_response(doc, status=status, headers=headers)

    async def items(request: web.Request) -> web.StreamResponse:
        await log(request)
        data = gzip.compress(b"".join(json.dumps(i).encode() + b"\n" for i in ITEMS))
        resp = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        )
        await resp.prepare(request)
        for start in range(0, len(data), 777):  # chunk edges fall inside lines
            await resp.write(data[start : start + 777])
        await resp.write_eof()
        return resp

    async def bad_gateway(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    app = web.Application()
    app.router.add_post("/api/playlist/parse", submit)
    app.router.add_get("/api/playlist/jobs/{job_id}", job)
    app.router.add_get("/api/playlist/jobs/{job_id}/items", items)
    app.router.add_get("/api/media/{media_id}", bad_gateway)
    return app


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """The scripted API on a loop of its own (sync and async clients can both call it)."""
    api = FakeApi()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app(api))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    api.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _job(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "status": status,
        "runs": 1,
        "position": None,
        "progress": {"items": 0, "bytes": 0},
        "error": None,
        "result": None,
        **extra,
    }


async def test_submit_sends_token_and_maps_errors(fake_api: FakeApi) -> None:
    async with AsyncClient(fake_api.base, token="t0ken") as api:
        answer = await api.submit("http://example.com/list.m3u", force=True)
        assert answer["job_id"] == "j1" and answer["force"] is True
        with pytest.raises(URLRefused) as refused:
            await api.submit("ftp://example.com/x")
    assert refused.value.code == "url_refused" and refused.value.http_status == 422
    assert fake_api.seen[0][3] == "Bearer t0ken"


async def test_unknown_codes_and_non_json_errors_stay_typed(fake_api: FakeApi) -> None:
    fake_api.script["weird"] = [(418, {"error": {"code": "teapot", "message": "short"}}, {})]
    fake_api.script["gone"] = [(404, {"error": {"code": "not_found", "message": "no"}}, {})]
    async with AsyncClient(fake_api.base, token="") as api:
        with pytest.raises(PipelineError) as weird:
            await api.status("weird")
        with pytest.raises(NotFound):
            await api.status("gone")
        with pytest.raises(PipelineError) as gateway:
            await api.media_status("m1")
    assert weird.value.code == "teapot" and weird.value.message == "short"
    assert gateway.value.http_status == 502 and gateway.value.code == "internal"


def test_api_error_keeps_retry_after() -> None:
    exc = api_error(429, {"error": {"code": "rate_limited", "message": "slow down"}}, 7)
    assert isinstance(exc, RateLimited) and exc.retry_after == 7
    assert isinstance(api_error(401, {}), Unauthorized)


async def test_unreachable_api_is_not_ready() -> None:
    async with AsyncClient("http://127.0.0.1:9", token="") as api:
        with pytest.raises(NotReady, match="cannot reach"):
            await api.status("j1")


async def test_wait_honours_retry_after_and_reports_progress(fake_api: FakeApi) -> None:
    hint = {"Retry-After": "0.3"}
    fake_api.script["j1"] = [
        (404, {"error": {"code": "not_found", "message": "not yet"}}, {}),  # not applied yet
        (200, _job("queued", position=2), hint),
        (503, {"error": {"code": "not_ready", "message": "rebalancing"}}, {"Retry-After": "0"}),
        (200, _job("running", progress={"items": 50, "bytes": 4096}), hint),
        (200, _job("done", result={"items": 300, "counts": {"live": 300}}), {}),
    ]
    seen: list[str] = []
    async with AsyncClient(fake_api.base, token="") as api:
        job = await api.wait("j1", on_progress=lambda j: seen.append(j["status"]))
    assert job["result"]["items"] == 300
    assert seen == ["queued", "running", "done"]
    times = fake_api.times("/api/playlist/jobs/j1")
    assert len(times) == 5
    assert times[2] - times[1] >= 0.28  # Retry-After: 0.3 after "queued"
    assert times[4] - times[3] >= 0.28  # and after "running"


async def test_wait_raises_the_jobs_typed_error(fake_api: FakeApi) -> None:
    failed = _job("failed", error={"code": "not_a_playlist", "message": "HTML, not M3U"})
    fake_api.script["j1"] = [(200, _job("running"), {"Retry-After": "0"}), (200, failed, {})]
    async with AsyncClient(fake_api.base, token="") as api:
        with pytest.raises(NotAPlaylist) as info:
            await api.wait("j1")
    assert info.value.code == "not_a_playlist"
    assert info.value.details["job"]["status"] == "failed"


async def test_wait_times_out(fake_api: FakeApi) -> None:
    fake_api.script["j1"] = [(200, _job("running"), {"Retry-After": "1"})]
    async with AsyncClient(fake_api.base, token="") as api:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await api.wait("j1", timeout=0.5)
    assert time.monotonic() - started < 2


async def test_items_stream_across_chunk_edges(fake_api: FakeApi) -> None:
    async with AsyncClient(fake_api.base, token="") as api:
        got = [item async for item in api.items("j1")]
    assert got == ITEMS


def test_sync_client_has_the_same_methods(fake_api: FakeApi) -> None:
    fake_api.script["j1"] = [(200, _job("done", result={"items": 3}), {})]
    with Client(fake_api.base, token="") as api:
        assert api.submit("http://example.com/a.m3u")["status"] == "queued"
        assert api.status("j1")["status"] == "done"
        assert api.wait("j1")["result"]["items"] == 3
        stream = api.items("j1")
        assert next(stream)["name"] == "Channel 0"
        stream.close()  # stopping early closes the HTTP stream
        assert sum(1 for _ in api.items("j1")) == len(ITEMS)
        with pytest.raises(PipelineError):
            api.media_status("m1")
