"""A frozen broker: health degrades, submits get 503 quickly, work resumes by itself.

Parses and media prewarms run together: the prewarms push to a slow HTTP
destination served here, so some are running and the rest queued when the
broker is frozen (SIGSTOP) for 30 s.
"""

from __future__ import annotations

import functools
import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.conftest import S3Server, Worker, WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist
from tests.integration.test_media_flow import (
    Destination,
    destination,
    final,
    job,
    put_object,
    read_topic,
    upload,
)

__all__ = ["destination"]  # the fixture, imported for pytest

FREEZE_S = 30
N_MEDIA = 8
PUSH_DELAY_S = 4.0  # per PUT at the destination; 2 slots -> ~16 s of prewarm work
PHOTO = b"m" * 50_000


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def _post(worker: Worker, path: str, body: dict[str, Any],
          timeout: float = 15) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of one POST; `Worker.request` drops the headers."""
    req = urllib.request.Request(worker.base + path, data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, headers, payload = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, payload = exc.code, dict(exc.headers), exc.read()
    return status, headers, json.loads(payload)


def _media_body(media_id: str, key: str) -> dict[str, Any]:
    return {"media_id": media_id, "bucket": "media", "key": key, "size": len(PHOTO),
            "kind": "photo", "content_type": "image/jpeg", "uploaded_at": time.time()}


def _refused_quickly(worker: Worker, path: str, body: dict[str, Any]) -> None:
    """A submit while the broker is frozen: 503 not_ready with Retry-After, in < 10 s."""
    started = time.monotonic()
    try:
        status, headers, answer = _post(worker, path, body, timeout=15)
    except (TimeoutError, urllib.error.URLError) as exc:
        raise AssertionError(f"{path}: no answer within 15 s while the broker is frozen "
                             f"({exc!r})") from None
    elapsed = time.monotonic() - started
    assert status == 503 and answer["error"]["code"] == "not_ready", (path, status, answer)
    assert int(headers["Retry-After"]) > 0, headers
    assert elapsed < 10, f"{path} answered after {elapsed:.1f} s"  # an answer, not a hang


def test_broker_freeze_and_recovery(worker_factory: WorkerFactory, s3_server: S3Server,
                                    destination: Destination) -> None:
    run = uuid.uuid4().hex[:8]
    for name in [*map(str, range(N_MEDIA)), "late"]:
        put_object(s3_server, f"{run}/{name}.jpg", PHOTO)
    destination.delay_s["/warm/"] = PUSH_DELAY_S
    routes: dict[str, tuple[int, bytes, dict[str, str], float]] = {
        f"/o{i}.m3u": (200, synthetic_playlist(30000), {}, 0.1) for i in range(3)}
    routes["/late.m3u"] = (200, synthetic_playlist(500), {}, 0.0)
    with serve_routes(routes) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1",
                                PIPELINE_PREWARM_DESTINATION=destination.base + "/warm",
                                PIPELINE_PREWARM_CONCURRENCY="2")
        accepted = []
        for i in range(3):
            status, body = worker.request("POST", "/api/playlist/parse",
                                          {"url": f"{base}/o{i}.m3u"})
            assert status == 202
            accepted.append(body["job_id"])
        objects = {f"{run}-{i}": f"{run}/{i}.jpg" for i in range(N_MEDIA)}
        media = list(objects)
        for media_id, key in objects.items():
            status, body = upload(worker, media_id, key, len(PHOTO))
            assert status == 202, body
        poll(lambda: worker.events("parse_start"), timeout=30, what="a parse running")
        states = poll(lambda: (s := [job(worker, m).get("status") for m in media])
                      and "running" in s and None not in s and s,
                      timeout=30, what="every media row made, a prewarm running")
        # Prewarms still to do when the broker stops: both slots busy, the rest queued.
        assert sum(s in ("queued", "running") for s in states) >= N_MEDIA - 2, states

        broker = worker_factory.broker.child.proc
        assert broker is not None
        broker.send_signal(signal.SIGSTOP)
        frozen_at, frozen_wall = time.monotonic(), time.time()
        try:
            poll(lambda: worker.request("GET", "/health", timeout=3)[0] == 503, timeout=20,
                 what="degraded")
            _refused_quickly(worker, "/api/playlist/parse", {"url": f"{base}/late.m3u"})
            _refused_quickly(worker, "/api/media/uploads",
                             _media_body(f"{run}-late", f"{run}/late.jpg"))
            time.sleep(max(0.0, FREEZE_S - (time.monotonic() - frozen_at)))  # the outage itself
        finally:
            broker.send_signal(signal.SIGCONT)
            thawed_wall = time.time()

        poll(lambda: worker.request("GET", "/health")[0] == 200, timeout=60, what="ok again")
        status, body = poll(lambda: (r := worker.request(
            "POST", "/api/playlist/parse", {"url": f"{base}/late.m3u"}))[0] == 202 and r,
            timeout=60, what="submit accepted after the outage")
        accepted.append(body["job_id"])
        # 200/202: accepted now, or deduplicated if the refused attempt still reached the log.
        poll(lambda: upload(worker, f"{run}-late", f"{run}/late.jpg", len(PHOTO))[0] in (200, 202),
             timeout=60, what="media upload accepted after the outage")
        objects[f"{run}-late"] = f"{run}/late.jpg"
        media.append(f"{run}-late")
        for job_id in accepted:
            done = poll(functools.partial(_final, worker, job_id), timeout=180, what=job_id)
            assert done["status"] == "done", done
        for media_id in media:
            done = final(worker, media_id, timeout=120)
            assert done["status"] == "done", done
        # Every object reached the destination whole; one completion result per job.
        with destination.lock:
            received = list(destination.received)
        for media_id, key in objects.items():
            pushes = [r for r in received if r.path == f"/warm/{key}"]
            assert pushes and all(r.size == len(PHOTO) for r in pushes), (media_id, pushes)
        during = sum(frozen_wall <= r.at <= thawed_wall for r in received)
        print(f"prewarm pushes finished during the {FREEZE_S} s outage: {during} of "
              f"{len(received)}")
        results = read_topic(worker_factory.broker, "media.prewarm.results", len(media) + 1,
                             timeout=5)
        statuses: dict[str, list[str]] = {}
        for r in results:
            statuses.setdefault(r["media_id"], []).append(r["status"])
        assert statuses == {m: ["done"] for m in media}, statuses
        assert worker.child is not None and worker.child.alive()  # no restart needed
