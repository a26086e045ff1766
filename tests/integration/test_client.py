"""The Python client and the Kafka producer against a real worker, broker and S3."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.client import AsyncClient, Client
from pipeline.errors import InvalidURL, NotAPlaylist, NotFound
from pipeline.producer import Producer
from pipeline.settings import Settings, get_settings
from pipeline.urls import job_id_for
from tests.conftest import Worker, WorkerFactory, poll
from tests.integration.http_server import serve_dir

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("it.m3u", "pt.m3u"):
        shutil.copy(PLAYLISTS / name, root / name)
    (root / "page.html").write_text("<html><body>login</body></html>")
    with serve_dir(root) as base:
        yield base


@pytest.fixture
def worker(worker_factory: WorkerFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker whose PIPELINE_* settings are this process's too (clients read settings)."""
    started = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    for name, value in started.env.items():
        if name.startswith("PIPELINE_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield started
    get_settings.cache_clear()


async def test_async_client_submit_wait_items(worker: Worker, served: str) -> None:
    seen: list[str] = []
    async with AsyncClient() as api:  # base URL and token from settings
        assert api.base_url == worker.base
        answer = await api.submit(f"{served}/it.m3u")
        assert answer["deduplicated"] is False
        job = await api.wait(answer["job_id"], on_progress=lambda j: seen.append(j["status"]))
        assert job["status"] == "done" and job["result"]["items"] == 324
        assert seen[-1] == "done" and set(seen) <= {"queued", "running", "done"}
        assert (await api.status(answer["job_id"]))["runs"] == 1
        items = [item async for item in api.items(answer["job_id"])]
        assert len(items) == 324 and items[0]["type"] in ("live", "movie", "series")

        failing = await api.submit(f"{served}/page.html")
        with pytest.raises(NotAPlaylist) as info:
            await api.wait(failing["job_id"], timeout=60)
        assert info.value.code == "not_a_playlist"
        assert info.value.details["job"]["status"] == "failed"
        with pytest.raises(NotFound):
            await api.status("0" * 32)

    def blocking() -> tuple[dict, int]:
        with Client() as sync_api:
            return sync_api.status(answer["job_id"]), sum(1 for _ in sync_api.items(job["job_id"]))

    status, count = await asyncio.to_thread(blocking)
    assert status["status"] == "done" and count == 324


async def test_kafka_producer_reaches_done_without_http(worker: Worker, served: str,
                                                       worker_factory: WorkerFactory) -> None:
    url = f"{served}/pt.m3u"
    async with Producer(Settings()) as producer:
        job_id = await producer.parse(url, client="test-producer")
        assert job_id == job_id_for(url)
        with pytest.raises(InvalidURL):
            await producer.parse("not a url")
    queued = poll(lambda: [e for e in worker.events("parse_queued") if e["job_id"] == job_id],
                  timeout=30, what="the agent applied the request")
    assert queued[0]["replay"] is False
    poll(lambda: (worker.request("GET", f"/api/playlist/jobs/{job_id}")[1] or {}).get("status")
         == "done", timeout=60, what="producer job done")
    assert not [e for e in worker.events("http_error")]
    async with AsyncClient() as api:  # the client's NotFound grace covers not-yet-applied jobs
        job = await api.wait(job_id, timeout=30)
    assert job["result"]["items"] > 0 and job["runs"] == 1
    await _media_over_http_and_kafka(worker_factory)


async def _media_over_http_and_kafka(worker_factory: WorkerFactory) -> None:
    s3 = worker_factory.s3.client()
    for name in ("a.jpg", "b.mp4"):
        s3.put_object(Bucket="media", Key=f"client/{name}", Body=b"0" * 2048)
    async with AsyncClient() as api:
        answer = await api.publish_upload("client-a", "media", "client/a.jpg", size=2048,
                                          kind="photo", content_type="image/jpeg",
                                          destination="null://")
        assert answer["media_id"] == "client-a" and answer["status"] in ("queued", "done")
        async with Producer(Settings()) as producer:
            await producer.upload("client-b", "media", "client/b.mp4", size=2048, kind="video",
                                  destination="null://")

        async def finished(media_id: str) -> dict:
            for _ in range(120):
                try:
                    doc = await api.media_status(media_id)
                except NotFound:
                    doc = {}
                if doc.get("status") in ("done", "failed"):
                    return doc
                await asyncio.sleep(0.25)
            raise AssertionError(f"{media_id} not finished")

        assert (await finished("client-a"))["status"] == "done"
        assert (await finished("client-b"))["status"] == "done"
