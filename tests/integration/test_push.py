"""Pushes end to end: server-sent events and webhooks on real workers, broker and S3.

The webhook receiver is a real aiohttp server in the test process that verifies
every delivery with the documented secret, as docs/events.md tells a user to.
Blocking harness calls (starting workers) run in threads so the receiver keeps
answering meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline import sse
from pipeline.client import AsyncClient
from pipeline.webhooks import WebhookSignatureError, verify
from tests.conftest import Worker, WorkerFactory
from tests.integration.http_server import serve_dir

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
# The example secret of docs/events.md.
SECRET = "whsec_c2VjcmV0LWZvci10aGUtcGlwZWxpbmUtZG9jcw=="
ORDER = {"queued": 0, "started": 1, "progress": 2, "done": 3, "failed": 3, "cancelled": 3}


@dataclass
class Receiver:
    """Verified deliveries by webhook-id; fails calls while `failing` is above 0."""

    base: str = ""
    verified: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # webhook-ids answered 503
    failing: int = 0

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failing > 0:
            self.failing -= 1
            self.refused.append(request.headers.get("webhook-id", ""))
            return web.Response(status=503)
        try:
            msg_id = verify(SECRET, dict(request.headers), body, now=time.time())
        except WebhookSignatureError as exc:
            return web.Response(status=401, text=exc.message)
        self.verified.setdefault(msg_id, []).append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.base = f"http://127.0.0.1:{server.port}"
    yield rec
    await server.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(PLAYLISTS / "it.m3u", root / "it.m3u")
    shutil.copy(PLAYLISTS / "pt.m3u", root / "pt.m3u")
    with serve_dir(root) as base:
        yield base


PUSH_ENV = {"PIPELINE_URL_ALLOWLIST": "127.0.0.1", "PIPELINE_WEBHOOK_SECRET": SECRET,
            "PIPELINE_WEBHOOK_RETRY_BASE_S": "1"}


async def start(factory: WorkerFactory, **env: str) -> Worker:
    return await asyncio.to_thread(factory, **{**PUSH_ENV, **env})


async def call(session: aiohttp.ClientSession, method: str, url: str,
               body: Any = None) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def read_stream(session: aiohttp.ClientSession, url: str,
                      last_id: str | None = None, timeout: float = 60) -> list[sse.Event]:
    """Every event of one stream connection, up to the end the server chose."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[sse.Event] = []
    decoder = sse.Decoder()
    async with asyncio.timeout(timeout), session.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith(sse.CONTENT_TYPE)
        async for chunk in resp.content.iter_any():
            events.extend(decoder.feed(chunk))
    return events


async def until(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await predicate()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def check_order(events: list[sse.Event], final: str = "done") -> None:
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids)), ids  # decimal, strictly increasing
    ranks = [ORDER[e.event] for e in events]
    assert ranks == sorted(ranks), [e.event for e in events]
    assert events[-1].event == final and events[-1].json()["status"] == final


async def test_sse_submit_to_done_resume_and_signed_webhook(
        worker_factory: WorkerFactory, receiver: Receiver, served: str) -> None:
    worker = await start(worker_factory)
    async with aiohttp.ClientSession() as http:
        status, answer = await call(http, "POST", worker.base + "/api/playlist/parse", {
            "url": f"{served}/it.m3u", "callback_url": receiver.base + "/hook"})
        assert status == 202 and "eta_s" in answer, answer
        job_id = answer["job_id"]
        events_url = f"{worker.base}/api/playlist/jobs/{job_id}/events"
        events = await read_stream(http, events_url)
        check_order(events)
        done = events[-1].json()
        assert done["result"]["items"] == 324 and done["job_id"] == job_id
        assert "eta_s" in done and done["links"]["self"].endswith(job_id)

        resumed = await read_stream(http, events_url, last_id=events[0].id)
        assert [e.id for e in resumed] == [e.id for e in events[1:]] or (
            len(events) == 1 and resumed[-1].event == "done")

        got = await until(lambda: _verified(receiver), what="the signed webhook")
        (msg_id, bodies), = got.items()
        assert bodies[0]["type"] == "playlist.job.done"
        assert bodies[0]["data"]["job_id"] == job_id
        assert bodies[0]["data"]["result"]["items"] == 324
        async def delivered() -> dict[str, Any] | None:
            status, listing = await call(http, "GET",
                                         events_url.replace("/events", "/deliveries"))
            assert status == 200
            (item,) = listing["deliveries"]  # the outcome is applied a moment after the POST
            return item if item["state"] == "delivered" else None

        item = await until(delivered, what="the delivery marked delivered")
        assert item["webhook_id"] == msg_id and item["attempts"] == 1 and "body" not in item

        metrics = await (await http.get(worker.base + "/metrics")).text()
        assert 'pipeline_webhook_attempts_total{code="ok",result="delivered"} 1.0' in metrics

        status, refused = await call(http, "POST", worker.base + "/api/playlist/parse", {
            "url": f"{served}/pt.m3u", "callback_url": "http://169.254.169.254/latest"})
        assert status == 422 and refused["error"]["code"] == "url_refused"


async def _verified(receiver: Receiver) -> dict[str, list[dict[str, Any]]]:
    return receiver.verified


async def test_sse_on_a_worker_that_does_not_own_the_job(
        worker_factory: WorkerFactory, served: str) -> None:
    first = await start(worker_factory)
    second = await start(worker_factory)
    async with aiohttp.ClientSession() as http:
        async def settled() -> bool:
            answers = [await call(http, "GET", f"{w.base}/api/playlist/jobs/{'0' * 32}")
                       for w in (first, second)]
            return all(status == 404 for status, _ in answers)

        await until(settled, what="both workers assigned")
        dashboards = [asyncio.create_task(dashboard_until_done(http, w.base, count=2))
                      for w in (first, second)]
        await asyncio.sleep(1)  # the dashboards connect (and reach their peer) first
        urls = [f"{served}/it.m3u", f"{served}/pt.m3u"]
        answers = [await call(http, "POST", first.base + "/api/playlist/parse", {"url": url})
                   for url in urls]
        assert all(status in (200, 202) for status, _ in answers), answers
        answer = answers[0][1]
        path = f"/api/playlist/jobs/{answer['job_id']}/events"
        streams = await asyncio.gather(*(read_stream(http, w.base + path)
                                         for w in (first, second)))
        for events in streams:
            check_order(events)
            assert events[-1].json()["result"]["items"] == 324
        job_ids = {a["job_id"] for _, a in answers}
        for seen in await asyncio.gather(*dashboards):  # every job, whichever worker owns it
            assert job_ids <= seen
    for worker in (first, second):  # the client follows the stream from either worker
        async with AsyncClient(worker.base) as api:
            job = await api.wait(answer["job_id"], timeout=30)
        assert job["status"] == "done"
        metrics = await asyncio.to_thread(worker.request, "GET", "/metrics")
        assert 'route="PlaylistJobEvents",status="200"' in metrics[1]


async def dashboard_until_done(http: aiohttp.ClientSession, base: str,
                               count: int) -> set[str]:
    """Job ids of the `done` events on one worker's dashboard stream, until `count`.

    The dashboard stream ends after a rebalance (docs/events.md): like a real
    client, reconnect, after the server's `retry:` hint, and read on.
    """
    done: set[str] = set()
    async with asyncio.timeout(90):
        while len(done) < count:
            decoder = sse.Decoder()
            async with http.get(base + "/api/events?topic=playlist") as resp:
                assert resp.status == 200
                async for chunk in resp.content.iter_any():
                    for event in decoder.feed(chunk):
                        if event.event == "done":
                            done.add(event.json()["job_id"])
                    if len(done) >= count:
                        return done
            await asyncio.sleep(1)  # the stream ended: reconnect
    return done


async def test_webhook_retries_and_survives_sigkill_before_the_retry(
        worker_factory: WorkerFactory, receiver: Receiver, served: str) -> None:
    worker = await start(worker_factory)
    receiver.failing = 10_000  # every call fails until the worker is killed
    async with aiohttp.ClientSession() as http:
        status, answer = await call(http, "POST", worker.base + "/api/playlist/parse", {
            "url": f"{served}/pt.m3u", "callback_url": receiver.base + "/hook"})
        assert status == 202, answer
        deliveries = f"{worker.base}/api/playlist/jobs/{answer['job_id']}/deliveries"

        async def retried() -> bool:
            status, listing = await call(http, "GET", deliveries)
            items = listing.get("deliveries", []) if status == 200 else []
            return bool(items) and items[0]["attempts"] >= 2 and items[0]["state"] == "pending"

        await until(retried, what="two failed attempts recorded")
        await asyncio.to_thread(worker.kill)
        receiver.failing = 0
        refused = set(receiver.refused)
        assert len(refused) == 1 and len(receiver.refused) >= 2  # one stable webhook-id
        await asyncio.to_thread(worker.start)
        got = await until(lambda: _verified(receiver), what="delivery after the restart")
        assert set(got) == refused
        assert got[refused.pop()][0]["data"]["status"] == "done"

        async def delivered() -> bool:
            status, listing = await call(http, "GET", deliveries)
            return status == 200 and listing["deliveries"][0]["state"] == "delivered"

        await until(delivered, what="the delivery row marked delivered")


async def test_media_events_and_wait(worker_factory: WorkerFactory, receiver: Receiver) -> None:
    worker = await start(worker_factory)
    s3 = worker_factory.s3.client()
    await asyncio.to_thread(s3.put_object, Bucket="media", Key="push/a.jpg", Body=b"0" * 2048)
    async with AsyncClient(worker.base) as api:
        answer = await api.publish_upload("push-a", "media", "push/a.jpg", size=2048,
                                          kind="photo", content_type="image/jpeg",
                                          destination="null://",
                                          callback_url=receiver.base + "/hook")
        assert answer["media_id"] == "push-a"
        seen: list[str] = []
        job = await api.wait_media("push-a", on_progress=lambda j: seen.append(j["status"]),
                                   timeout=60)
        assert job["status"] == "done" and seen[-1] == "done" and "eta_s" in job
    got = await until(lambda: _verified(receiver), what="the media webhook")
    (bodies,) = got.values()
    assert bodies[0]["type"] == "media.job.done" and bodies[0]["data"]["media_id"] == "push-a"
