"""Durability and memory: SIGKILL mid-run resumes every job; a large object streams flat.

Files land in a `file://` destination; two slow jobs go to an HTTP destination
allowed by `PIPELINE_PREWARM_ALLOWED_DESTINATIONS` so that they are running
when the worker is killed.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from pathlib import Path

import psutil

from tests.conftest import S3Server, Worker, WorkerFactory, poll
from tests.integration.test_media_flow import (
    Destination,
    destination,
    final,
    job,
    put_object,
    upload,
)

__all__ = ["destination"]  # the fixture, imported for pytest

MIB = 1024 * 1024
LARGE = 200 * MIB  # the 1 GiB case is in bench/prewarm.py


def _peak_rss(worker: Worker, stop: threading.Event, out: list[int]) -> None:
    assert worker.child and worker.child.proc
    proc = psutil.Process(worker.child.proc.pid)
    while not stop.is_set():
        out.append(proc.memory_info().rss)
        time.sleep(0.02)


def _large_object(s3: S3Server, key: str, tmp: Path) -> str:
    path = tmp / "large.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        block = bytes(range(256)) * 4096  # 1 MiB, not all zeros
        for i in range(LARGE // MIB):
            chunk = block[i % 256:] + block[:i % 256]
            out.write(chunk)
            digest.update(chunk)
    with open(path, "rb") as body:
        s3.client().put_object(Bucket="media", Key=key, Body=body)
    path.unlink()
    return digest.hexdigest()


def test_sigkill_resumes_and_large_object_streams(worker_factory: WorkerFactory,
                                                  s3_server: S3Server, tmp_path: Path,
                                                  destination: Destination) -> None:
    run = uuid.uuid4().hex[:8]
    warm = tmp_path / "warm"
    worker = worker_factory(PIPELINE_PREWARM_DESTINATION=f"file://{warm}",
                            PIPELINE_PREWARM_ALLOWED_DESTINATIONS=destination.base + "/slow",
                            PIPELINE_PREWARM_CONCURRENCY="2")
    destination.delay_s["/slow/"] = 4.0
    photo = b"p" * 30_000
    for i in range(6):
        put_object(s3_server, f"{run}/p{i}.jpg", photo)

    # Two slow jobs hold both slots; four more wait behind them.
    for i in range(2):
        upload(worker, f"{run}-slow{i}", f"{run}/p{i}.jpg", len(photo),
               destination=destination.base + "/slow", uploaded_at=time.time() - 30)
    poll(lambda: all(job(worker, f"{run}-slow{i}").get("status") == "running"
                     for i in range(2)), timeout=30, what="slow jobs running")
    for i in range(2, 6):
        upload(worker, f"{run}-p{i}", f"{run}/p{i}.jpg", len(photo))
    # In the worker's table and scheduler (not only accepted into the log) when it dies.
    poll(lambda: worker.request("GET", "/api/media/queue")[1]["waiting"] == 4,
         timeout=30, what="jobs queued")

    worker.kill()
    worker.start()
    for i in range(2):
        slow = final(worker, f"{run}-slow{i}", timeout=60)
        assert slow["status"] == "done" and slow["attempts"] == 2, slow  # interrupted once
    for i in range(2, 6):
        done = final(worker, f"{run}-p{i}", timeout=60)
        assert done["status"] == "done" and done["attempts"] == 1, done
        target = warm / "media" / run / f"p{i}.jpg"
        assert done["destination_ref"] == f"file://{target}"
        assert target.read_bytes() == photo
    assert [e["jobs"] for e in worker.events("prewarm_resumed")][-1] == 6
    assert not list(Path(worker.env["PIPELINE_DATA_DIR"], "cache", "prewarm").glob("*.part"))

    # A 200 MiB object streams through the cache to a file with flat memory.
    digest = _large_object(s3_server, f"{run}/large.mp4", tmp_path)
    assert worker.child and worker.child.proc
    base = psutil.Process(worker.child.proc.pid).memory_info().rss
    stop, samples = threading.Event(), []  # type: ignore[var-annotated]
    sampler = threading.Thread(target=_peak_rss, args=(worker, stop, samples))
    sampler.start()
    try:
        upload(worker, f"{run}-large", f"{run}/large.mp4", LARGE, kind="video")
        done = final(worker, f"{run}-large", timeout=120)
    finally:
        stop.set()
        sampler.join()
    assert done["status"] == "done", done
    growth_mb = (max(samples) - base) / MIB
    assert growth_mb < 50, f"RSS grew {growth_mb:.1f} MiB for a {LARGE // MIB} MiB object"
    target = warm / "media" / run / "large.mp4"
    hasher = hashlib.sha256()
    with open(target, "rb") as fh:
        while chunk := fh.read(MIB):
            hasher.update(chunk)
    assert hasher.hexdigest() == digest
