"""The `pipeline` client commands as real subprocesses against a real worker, broker and S3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Worker, WorkerFactory, poll
from tests.integration.http_server import serve_dir

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    for name in ("it.m3u", "pt.m3u"):
        shutil.copy(PLAYLISTS / name, root / name)
    (root / "expired.html").write_text("<!DOCTYPE html><html><body>Account expired</body></html>")
    with serve_dir(root) as base:
        yield base


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`pipeline ARGS...` in a subprocess (stdout is a pipe: plain progress lines)."""
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=env,
                          cwd=str(ROOT), capture_output=True, text=True, timeout=timeout)


def _job_id(first_line: str) -> str:
    assert first_line.startswith("job "), first_line
    return first_line.split()[1].rstrip(":")


def test_parse_wait_status_items_and_a_failing_job(worker_factory: WorkerFactory, served: str,
                                                   tmp_path: Path) -> None:
    worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    env = worker.env

    done = cli(env, "parse", f"{served}/it.m3u", "--wait")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    job_id = _job_id(lines[0])
    assert "\r" not in done.stdout  # not a TTY: plain lines
    assert lines[-1].startswith("done: 324 items (live "), lines
    doc = json.loads(cli(env, "status", job_id).stdout)
    counts = doc["result"]["counts"]
    assert lines[-1].startswith(f"done: 324 items (live {counts['live']}, movie "
                                f"{counts['movie']}, series {counts['series']}), ")
    assert doc["status"] == "done" and doc["runs"] == 1

    again = cli(env, "parse", f"{served}/it.m3u")  # a fresh result is reused
    assert again.returncode == 0 and "a fresh result exists" in again.stdout

    out = tmp_path / "items.ndjson"
    wrote = cli(env, "items", job_id, "-o", str(out))
    assert wrote.returncode == 0, wrote.stderr
    assert "wrote 324 items" in wrote.stderr
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(items) == 324 and all(item["url"].startswith("http") for item in items)
    streamed = cli(env, "items", job_id)
    assert streamed.stdout.count("\n") == 324

    failed = cli(env, "parse", f"{served}/expired.html", "--wait")
    assert failed.returncode == 1
    assert "failed: not_a_playlist: " in failed.stderr
    failed_id = _job_id(failed.stdout.splitlines()[0])
    status = cli(env, "status", failed_id)
    assert status.returncode == 1 and json.loads(status.stdout)["error"]["code"] == \
        "not_a_playlist"

    _api_errors(worker)


def _api_errors(worker: Worker) -> None:
    """Refusals and unreachable APIs: exit 3 with the error code."""
    env = worker.env
    unknown = cli(env, "status", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 3 and "error: not_found: " in unknown.stderr
    refused = cli(env, "parse", "ftp://example.com/list.m3u")
    assert refused.returncode == 3 and "error: url_refused: " in refused.stderr
    secret = "http://u:hunter2@[::1/x.m3u"
    bad = cli(env, "parse", secret)
    assert bad.returncode == 3 and "hunter2" not in bad.stderr + bad.stdout
    dead = cli(env, "--api", "http://127.0.0.1:9", "status", "abc")
    assert dead.returncode == 3 and "error: not_ready: cannot reach" in dead.stderr
    missing = cli(env, "items", "0123456789abcdef0123456789abcdef")
    assert missing.returncode == 3 and "not_found" in missing.stderr


def test_media_publish_and_status(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    s3 = worker_factory.s3.client()
    s3.put_object(Bucket="media", Key="cli/photo.jpg", Body=b"\xff\xd8" + b"x" * 5000,
                  ContentType="image/jpeg")
    published = cli(worker.env, "media", "publish", "--bucket", "media", "--key",
                    "cli/photo.jpg", "--destination", "null://")
    assert published.returncode == 0, published.stderr
    media_id = published.stdout.split()[1].rstrip(":")
    assert "queued" in published.stdout and "score " in published.stdout

    def done() -> dict | None:
        run = cli(worker.env, "media", "status", media_id)
        doc = json.loads(run.stdout) if run.returncode == 0 else {}
        return doc if doc.get("status") in ("done", "failed") else None

    doc = poll(done, timeout=60, what="prewarm done")
    assert doc["status"] == "done" and doc["size"] == 5002 and doc["kind"] == "photo"

    absent = cli(worker.env, "media", "publish", "--key", "cli/nope.jpg")
    assert absent.returncode == 3 and "object_not_found" in absent.stderr


def test_topics_and_reset_state(worker_factory: WorkerFactory) -> None:
    fresh = worker_factory.base_env(PIPELINE_DATA_DIR=str(worker_factory.root / "fresh"),
                                    PIPELINE_WEB_PORT="9")
    listed = cli(fresh, "topics")
    assert listed.returncode == 0, listed.stderr
    assert "playlist.parse.requests" in listed.stdout and "missing" in listed.stdout
    created = cli(fresh, "topics", "--create")
    assert created.returncode == 0, created.stdout + created.stderr
    rows = {line.split()[0]: line.split()[1] for line in created.stdout.splitlines()[1:]}
    assert rows["playlist.parse.requests"] == "4" and rows["media.uploads.dlq"] == "4"
    assert rows["pipeline-playlist_jobs-changelog"] == "missing"  # workers create those
    assert created.stdout.count("(created)") == 9
    mismatch = cli({**fresh, "PIPELINE_TOPIC_PARTITIONS": "8"}, "topics")
    assert mismatch.returncode == 1 and "(PIPELINE_TOPIC_PARTITIONS is 8)" in mismatch.stdout

    worker = worker_factory()
    listed = cli(worker.env, "topics")
    assert "pipeline-playlist_jobs-changelog" in listed.stdout
    assert "missing" not in listed.stdout

    plan = cli(worker.env, "reset-state")
    assert plan.returncode == 2 and "nothing deleted" in plan.stderr
    assert "would delete topic pipeline-media_jobs-changelog" in plan.stdout
    busy = cli(worker.env, "reset-state", "--yes")
    assert busy.returncode == 1 and "refused: a worker answers" in busy.stderr
    locked = cli({**worker.env, "PIPELINE_WEB_PORT": "9"}, "reset-state", "--yes")
    assert locked.returncode == 1 and "is locked by a running process" in locked.stderr
    table_dir = Path(worker.env["PIPELINE_DATA_DIR"]) / "tables"
    assert table_dir.exists()

    worker.stop()
    reset = cli(worker.env, "reset-state", "--yes")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "topic pipeline-playlist_jobs-changelog: deleted" in reset.stdout
    assert "consumer group pipeline: deleted" in reset.stdout
    assert not table_dir.exists()
    after = cli(worker.env, "topics")
    rows = {line.split()[0]: line.split()[1] for line in after.stdout.splitlines()[1:]}
    assert rows["pipeline-playlist_jobs-changelog"] == "missing"
    assert rows["playlist.parse.requests"] == "4"  # input topics are kept
