"""Submit -> dedupe -> parse in a child -> results in S3 -> items endpoint."""

from __future__ import annotations

import gzip
import json
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_dir

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "www"
    root.mkdir()
    for src in PLAYLISTS.glob("*.m3u"):
        shutil.copy(src, root / src.name)
    with serve_dir(root) as base:
        yield base


def _done(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def test_submit_parse_dedupe_and_items(worker_factory: WorkerFactory, served: str) -> None:
    worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    url = f"{served}/it.m3u"

    def submit(_: int) -> tuple[int, dict]:
        return worker.request("POST", "/api/playlist/parse", {"url": url})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(submit, range(40)))
    assert {status for status, _ in answers} <= {200, 202}
    job_ids = {body["job_id"] for _, body in answers}
    assert len(job_ids) == 1
    assert sum(1 for _, body in answers if not body["deduplicated"]) == 1
    job_id = job_ids.pop()

    body = poll(lambda: _done(worker, job_id), timeout=60, what="job done")
    assert body["status"] == "done", body
    assert body["result"]["items"] == 324
    assert body["runs"] == 1
    assert len(worker.events("parse_start")) == 1
    (end,) = poll(lambda: worker.events("parse_end"), timeout=10, what="parse_end logged")
    assert end["job_id"] == job_id and end["items"] == 324 and end["bytes"] > 0
    assert end["duration_s"] > 0
    # A 324-item parse barely grows its process; the peak includes the imports.
    assert 0 <= end["rss_delta_mb"] < 50 <= end["peak_rss_mb"], end

    with urllib.request.urlopen(worker.base + f"/api/playlist/jobs/{job_id}/items") as resp:
        lines = resp.read().decode().splitlines()
    assert len(lines) == 324
    assert json.loads(lines[0])["url"].startswith("http")

    req = urllib.request.Request(worker.base + f"/api/playlist/jobs/{job_id}/items",
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert len(gzip.decompress(resp.read()).splitlines()) == 324

    # A fresh done result is returned as is; force starts a second run.
    status, cached = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 200 and cached["status"] == "done" and cached["deduplicated"] is True
    status, forced = worker.request("POST", "/api/playlist/parse", {"url": url, "force": True})
    assert status == 202 and forced["deduplicated"] is False
    poll(lambda: (b := _done(worker, job_id)) and b["runs"] == 2 and b, timeout=60,
         what="forced second run")
