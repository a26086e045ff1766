"""Client.events() and Client.wait() against a real small SSE server (aiohttp, loopback)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from pipeline import sse
from pipeline.client import AsyncClient, Client, EventsUnavailable
from pipeline.embedded.ports import free_port
from pipeline.errors import NotAPlaylist, PipelineError

Script = list[tuple[str, Any]]


def _job(status: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": "j1", "status": status, "position": None, "error": None, **extra}


LIFE: Script = [("queued", _job("queued", position=2)), ("started", _job("running")),
                ("progress", _job("running", progress={"items": 10})),
                ("done", _job("done", result={"items": 20}))]


@dataclass
class SseApi:
    """Scripted event streams per job, resumable by Last-Event-ID; every connect logged."""

    base: str = ""
    script: dict[str, Script] = field(default_factory=dict)
    drop_after: dict[str, dict[int, str]] = field(default_factory=dict)  # seq -> end|abort
    refuse: dict[str, int] = field(default_factory=dict)
    busy: dict[str, int] = field(default_factory=dict)
    status_doc: dict[str, dict[str, Any]] = field(default_factory=dict)
    connects: list[tuple[str, str | None, str]] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)

    async def events(self, request: web.Request) -> web.StreamResponse:
        job = request.match_info["job_id"]
        self.connects.append((job, request.headers.get("Last-Event-ID"),
                              request.headers.get("Accept", "")))
        if job in self.refuse:
            return web.json_response({"error": {"code": "x", "message": "no"}},
                                     status=self.refuse[job])
        if self.busy.get(job, 0) > 0:
            self.busy[job] -= 1
            return web.json_response({"error": {"code": "not_ready", "message": "busy"}},
                                     status=503, headers={"Retry-After": "0"})
        resp = web.StreamResponse(headers=sse.HEADERS)
        await resp.prepare(request)
        await resp.write(sse.retry_hint(20) + sse.heartbeat("hello"))
        after = sse.parse_last_event_id(request.headers.get("Last-Event-ID")) or 0
        for seq, (name, data) in enumerate(self.script.get(job, []), start=1):
            if seq <= after:
                continue
            await resp.write(sse.encode_event(data, event=name, event_id=seq))
            how = self.drop_after.get(job, {}).pop(seq, None)
            if how == "abort":
                assert request.transport is not None
                request.transport.close()
                return resp
            if how == "end":
                return resp
        while True:  # an unfinished job: heartbeats until the client leaves
            await asyncio.sleep(0.05)
            await resp.write(sse.heartbeat())

    async def status(self, request: web.Request) -> web.Response:
        job = request.match_info["job_id"]
        self.polls.append(job)
        return web.json_response(self.status_doc.get(job, _job("done", result={"items": 1})))


@pytest.fixture
def sse_api() -> Iterator[SseApi]:
    """The scripted API on a loop of its own (sync and async clients can both call it)."""
    api = SseApi()
    app = web.Application()
    app.router.add_get("/api/playlist/jobs/{job_id}/events", api.events)
    app.router.add_get("/api/media/{job_id}/events", api.events)
    app.router.add_get("/api/playlist/jobs/{job_id}", api.status)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, shutdown_timeout=1)
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


async def test_events_follow_the_stream_to_the_final_event(sse_api: SseApi) -> None:
    sse_api.script["j1"] = LIFE
    async with AsyncClient(sse_api.base, token="") as api:
        got = [(e.event, e.id, e.json()["status"]) async for e in api.events("j1")]
    assert got == [("queued", "1", "queued"), ("started", "2", "running"),
                   ("progress", "3", "running"), ("done", "4", "done")]
    assert sse_api.connects == [("j1", None, "text/event-stream")]


@pytest.mark.parametrize("how", ["end", "abort"])
async def test_a_broken_stream_resumes_after_the_last_event(sse_api: SseApi, how: str) -> None:
    sse_api.script["j1"] = LIFE
    sse_api.drop_after["j1"] = {2: how, 3: how}
    async with AsyncClient(sse_api.base, token="") as api:
        got = [e.id async for e in api.events("j1")]
    assert got == ["1", "2", "3", "4"]  # none lost, none twice
    assert [last for _, last, _ in sse_api.connects] == [None, "2", "3"]


async def test_resume_from_a_given_id_and_media_streams(sse_api: SseApi) -> None:
    sse_api.script["m1"] = LIFE
    async with AsyncClient(sse_api.base, token="") as api:
        got = [e.event async for e in api.media_events("m1", last_event_id="2")]
    assert got == ["progress", "done"]


async def test_busy_server_is_retried(sse_api: SseApi) -> None:
    sse_api.script["j1"], sse_api.busy["j1"] = LIFE, 2
    async with AsyncClient(sse_api.base, token="") as api:
        assert [e.event async for e in api.events("j1")][-1] == "done"
    assert len(sse_api.connects) == 3


async def test_wait_follows_events_without_polling(sse_api: SseApi) -> None:
    sse_api.script["j1"] = LIFE
    seen: list[str] = []
    async with AsyncClient(sse_api.base, token="") as api:
        job = await api.wait("j1", on_progress=lambda j: seen.append(j["status"]))
    assert job["result"] == {"items": 20}
    assert seen == ["queued", "running", "running", "done"]
    assert sse_api.polls == []


async def test_wait_raises_failed_and_cancelled(sse_api: SseApi) -> None:
    sse_api.script["j1"] = [("failed", _job("failed", error={"code": "not_a_playlist",
                                                             "message": "html"}))]
    sse_api.script["j2"] = [("cancelled", {**_job("cancelled"), "job_id": "j2"})]
    async with AsyncClient(sse_api.base, token="") as api:
        with pytest.raises(NotAPlaylist) as failed:
            await api.wait("j1")
        with pytest.raises(PipelineError) as cancelled:
            await api.wait("j2")
    assert failed.value.details["job"]["status"] == "failed"
    assert cancelled.value.code == "cancelled"


async def test_final_event_without_a_document_reads_the_job(sse_api: SseApi) -> None:
    sse_api.script["j1"] = [("done", "finished")]
    async with AsyncClient(sse_api.base, token="") as api:
        assert (await api.wait("j1"))["result"] == {"items": 1}
    assert sse_api.polls == ["j1"]


@pytest.mark.parametrize("status", [404, 405, 501])
async def test_wait_polls_when_the_stream_is_refused(sse_api: SseApi, status: int) -> None:
    sse_api.refuse["j1"] = status
    async with AsyncClient(sse_api.base, token="") as api:
        with pytest.raises(EventsUnavailable):
            [e async for e in api.events("j1")]
        assert (await api.wait("j1"))["status"] == "done"
    assert sse_api.polls == ["j1"]


async def test_a_plain_json_answer_is_not_a_stream(sse_api: SseApi) -> None:
    async with AsyncClient(sse_api.base, token="") as api:
        with pytest.raises(EventsUnavailable):
            [e async for e in api._follow("/api/playlist/jobs/j1", None)]


async def test_connection_refused_falls_back_to_polling() -> None:
    async with AsyncClient(f"http://127.0.0.1:{free_port()}", token="") as api:
        with pytest.raises(EventsUnavailable):
            [e async for e in api.events("j1")]
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="still not finished"):
            await api.wait("j1", timeout=0.5)  # polling rides out the outage until timeout
    assert time.monotonic() - started < 5


async def test_wait_timeout_while_following(sse_api: SseApi) -> None:
    sse_api.script["j1"] = LIFE[:2]  # never finishes
    async with AsyncClient(sse_api.base, token="") as api:
        with pytest.raises(TimeoutError, match=r"still not finished after 0\.3 s"):
            await api.wait("j1", timeout=0.3)


def test_blocking_client_events_and_wait(sse_api: SseApi) -> None:
    sse_api.script["j1"] = LIFE
    with Client(sse_api.base, token="") as api:
        assert [e.event for e in api.events("j1")] == ["queued", "started", "progress", "done"]
        stream = api.events("j1")
        assert next(stream).event == "queued"
        stream.close()  # stopping early closes the stream
        assert api.wait("j1")["status"] == "done"
