"""`pipeline replay` against a real worker: the jobs in the window run again, the others not."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Worker, WorkerFactory, poll
from tests.integration.http_server import serve_dir
from tests.integration.test_cli import cli

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
NAMES = ("it.m3u", "pt.m3u", "ar.m3u", "in.m3u")
TOPIC = "playlist.parse.requests"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    for name in NAMES:
        shutil.copy(PLAYLISTS / name, root / name)
    with serve_dir(root) as base:
        yield base


def _job(worker: Worker, job_id: str) -> dict[str, Any]:
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    assert status == 200, body
    return dict(body)


def _run_to_done(worker: Worker, url: str) -> str:
    status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 202, body
    job_id = str(body["job_id"])
    poll(lambda: _job(worker, job_id)["status"] == "done", timeout=60, what=f"{url} done")
    return job_id


def _runs(worker: Worker, jobs: dict[str, str]) -> dict[str, int]:
    return {name: _job(worker, job_id)["runs"] for name, job_id in jobs.items()}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_replay_a_time_window(worker_factory: WorkerFactory, served: str) -> None:
    worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    env = worker.env
    jobs = {"before": _run_to_done(worker, f"{served}/it.m3u")}
    since = time.time()
    jobs["inside1"] = _run_to_done(worker, f"{served}/pt.m3u")
    jobs["inside2"] = _run_to_done(worker, f"{served}/ar.m3u")
    until = time.time()
    time.sleep(0.05)
    jobs["after"] = _run_to_done(worker, f"{served}/in.m3u")
    assert _runs(worker, jobs) == dict.fromkeys(jobs, 1)
    first_result = _job(worker, jobs["inside1"])["result_uri"]

    dry = cli(env, "replay", TOPIC, "--since", f"{since:.3f}", "--until", f"{until:.3f}",
              "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "read 4 records from 4 partitions; 2 in the window" in dry.stdout
    assert "would send 2 replays; sent 0" in dry.stdout
    assert "embedded broker has no offsets_for_times" in dry.stdout
    time.sleep(1.0)
    assert len(worker.events("parse_queued")) == 4  # the dry run sent nothing
    assert _runs(worker, jobs) == dict.fromkeys(jobs, 1)

    sent = cli(env, "replay", TOPIC, "--since", _iso(since), "--until", _iso(until))
    assert sent.returncode == 0, sent.stderr
    assert "sent 2 replays" in sent.stdout
    expected = {"before": 1, "inside1": 2, "inside2": 2, "after": 1}
    poll(lambda: _runs(worker, jobs) == expected, timeout=60,
         what="the window's jobs ran again")
    poll(lambda: all(_job(worker, j)["status"] == "done" for j in jobs.values()), timeout=60,
         what="replays done")
    replayed = [e for e in worker.events("parse_queued") if e.get("replay")]
    assert sorted(e["job_id"] for e in replayed) == sorted([jobs["inside1"], jobs["inside2"]])
    rerun = _job(worker, jobs["inside1"])  # a new run, and the row points at its result
    assert rerun["result_uri"] != first_result and rerun["result"]["items"] > 0

    # Relative time and --key given as the URL: only that job; replays are records too now.
    by_key = cli(env, "replay", TOPIC, "--since", "10m", "--key", f"{served}/in.m3u")
    assert by_key.returncode == 0, by_key.stderr
    assert "read 6 records" in by_key.stdout and "1 in the window" in by_key.stdout
    assert "sent 1 replay\n" in by_key.stdout
    expected["after"] = 2
    poll(lambda: _runs(worker, jobs) == expected, timeout=60, what="keyed replay ran")
    poll(lambda: _job(worker, jobs["after"])["status"] == "done", timeout=60, what="done")


def test_replay_media_uploads_prewarms_again(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    worker_factory.s3.client().put_object(Bucket="media", Key="replay/a.jpg", Body=b"1" * 4096)
    since = time.time()
    status, body = worker.request("POST", "/api/media/uploads", {
        "media_id": "replay-a", "bucket": "media", "key": "replay/a.jpg", "size": 4096,
        "kind": "photo", "destination": "null://"})
    assert status == 202, body

    def media_done() -> bool:
        code, doc = worker.request("GET", "/api/media/replay-a")
        return code == 200 and doc["status"] == "done"

    poll(media_done, timeout=60, what="prewarm done")
    assert len(worker.events("prewarm_queued")) == 1
    sent = cli(worker.env, "replay", "media.uploads", "--since", f"{since:.3f}")
    assert sent.returncode == 0, sent.stderr
    assert "sent 1 replay\n" in sent.stdout
    poll(lambda: len(worker.events("prewarm_queued")) == 2
         or worker.events("upload_deduplicated"), timeout=30, what="the replay applied")
    assert len(worker.events("prewarm_queued")) == 2, "the replayed upload was deduplicated"
    poll(media_done, timeout=60, what="second prewarm done")
