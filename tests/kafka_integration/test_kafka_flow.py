"""The production path on Apache Kafka: parse end to end with dedupe, media prewarm."""

from __future__ import annotations

import json
import shutil
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Worker, poll
from tests.integration.http_server import serve_dir
from tests.integration.test_media_flow import final, put_object, upload
from tests.kafka_integration.conftest import KafkaWorkerFactory

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("it.m3u", "pt.m3u"):
        shutil.copy(PLAYLISTS / name, root / name)
    with serve_dir(root) as base:
        yield base


def job_final(worker: Worker, job_id: str) -> dict[str, Any] | None:
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def test_parse_dedupe_items_and_forced_run(kafka_workers: KafkaWorkerFactory,
                                           served: str) -> None:
    worker = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    health = poll(lambda: (h := worker.request("GET", "/health")[1]).get("status") == "ok" and h,
                  timeout=30, what="health ok")
    assert health["broker"] is True
    url = f"{served}/it.m3u"
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(
            lambda _: worker.request("POST", "/api/playlist/parse", {"url": url}), range(20)))
    assert {status for status, _ in answers} <= {200, 202}
    assert len({body["job_id"] for _, body in answers}) == 1
    assert sum(1 for _, body in answers if not body["deduplicated"]) == 1
    job_id = answers[0][1]["job_id"]

    body = poll(lambda: job_final(worker, job_id), timeout=60, what="job done")
    assert body["status"] == "done" and body["result"]["items"] == 324 and body["runs"] == 1
    assert len(worker.events("parse_start")) == 1
    with urllib.request.urlopen(worker.base + f"/api/playlist/jobs/{job_id}/items") as resp:
        lines = resp.read().decode().splitlines()
    assert len(lines) == 324 and json.loads(lines[0])["url"].startswith("http")

    status, cached = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 200 and cached["deduplicated"] is True
    status, forced = worker.request("POST", "/api/playlist/parse", {"url": url, "force": True})
    assert status == 202 and forced["deduplicated"] is False
    poll(lambda: (b := job_final(worker, job_id)) and b["runs"] == 2, timeout=60,
         what="forced second run")


def test_media_prewarm_and_dedupe(kafka_workers: KafkaWorkerFactory) -> None:
    worker = kafka_workers()
    media_ids = [f"km-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for media_id in media_ids:
        put_object(kafka_workers.s3, f"kafka/{media_id}.jpg", b"k" * 20_000)
        status, body = upload(worker, media_id, f"kafka/{media_id}.jpg", 20_000,
                              destination="null://")
        assert status == 202, body
    for media_id in media_ids:
        assert final(worker, media_id)["status"] == "done"
    status, again = upload(worker, media_ids[0], f"kafka/{media_ids[0]}.jpg", 20_000,
                           destination="null://")
    assert status == 200 and again["deduplicated"] is True and again["status"] == "done"
    status, forced = upload(worker, media_ids[0], f"kafka/{media_ids[0]}.jpg", 20_000,
                            destination="null://", force=True)
    assert status == 202 and forced["deduplicated"] is False
    poll(lambda: len(worker.events("prewarm_done")) == len(media_ids) + 1, timeout=60,
         what="forced prewarm done")
    assert len(worker.events("prewarm_queued")) == len(media_ids) + 1
