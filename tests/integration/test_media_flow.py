"""Prewarm end to end: real worker, broker and S3, and a real HTTP destination.

One worker serves most checks (a worker start costs seconds): validation,
HTTP/S3/null destinations, dedupe, cache hits, one download for concurrent
jobs, retry then success, 404 failure, exhausted retries to the DLQ, a result
event for every final outcome, /health and /metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Broker, S3Server, Worker, WorkerFactory, poll


@dataclass
class Received:
    method: str
    path: str
    size: int
    sha256: str
    headers: dict[str, str]
    at: float


@dataclass
class Destination:
    """An HTTP destination on 127.0.0.1 (own thread and loop); bodies are hashed, not kept."""

    received: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # path -> 503 answers left (-1: always)
    refuse: set[str] = field(default_factory=set)  # paths answered 403
    delay_s: dict[str, float] = field(default_factory=dict)  # path prefix -> seconds
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        for prefix, seconds in self.delay_s.items():
            if path.startswith(prefix):
                await asyncio.sleep(seconds)
        if path in self.refuse:
            return web.json_response({"error": "no"}, status=403)
        with self.lock:
            left = self.fail.get(path, 0)
            if left:
                self.fail[path] = left - 1 if left > 0 else -1
                return web.json_response({"error": "busy"}, status=503)
            self.received.append(Received(request.method, path, size, digest.hexdigest(),
                                          dict(request.headers), time.time()))
        return web.json_response({"id": f"obj-{size}"}, status=201)

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.received]


@pytest.fixture
def destination() -> Iterator[Destination]:
    dest = Destination()
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=1 << 40)
    app.router.add_route("*", "/{tail:.*}", dest.handle)
    # Short shutdown: a worker still pushing when the test ends must not hold teardown.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    dest.base = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield dest
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def put_object(s3: S3Server, key: str, data: bytes, bucket: str = "media") -> None:
    s3.client().put_object(Bucket=bucket, Key=key, Body=data)


def upload(worker: Worker, media_id: str, key: str, size: int, kind: str = "photo",
           **extra: Any) -> tuple[int, dict]:
    body = {"media_id": media_id, "bucket": "media", "key": key, "size": size, "kind": kind,
            "content_type": "image/jpeg", "uploaded_at": time.time(), **extra}
    return worker.request("POST", "/api/media/uploads", body)


def job(worker: Worker, media_id: str) -> dict:
    return worker.request("GET", f"/api/media/{media_id}")[1]


def final(worker: Worker, media_id: str, timeout: float = 60) -> dict:
    def check() -> dict | None:
        status, body = worker.request("GET", f"/api/media/{media_id}")
        return body if status == 200 and body["status"] in ("done", "failed") else None
    return poll(check, timeout=timeout, what=f"{media_id} final")


def metric(worker: Worker, name: str, **labels: str) -> float:
    with urllib.request.urlopen(worker.base + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def produce(broker: Broker, topic: str, key: str, value: bytes) -> None:
    """Publish one record as any Kafka producer would (JSON key, single-record batch)."""
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_batch_size=1)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=json.dumps(key).encode())
        finally:
            await producer.stop()

    asyncio.run(run())


def read_topic(broker: Broker, topic: str, expect: int, timeout: float = 30) -> list[dict]:
    """Every record of `topic` (JSON values), waiting until at least `expect` are there."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[dict]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        out: list[dict] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < expect and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                out += [json.loads(r.value) for rs in batch.values() for r in rs]
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def test_prewarm_flow(worker_factory: WorkerFactory, s3_server: S3Server,
                      destination: Destination) -> None:
    worker = worker_factory(PIPELINE_PREWARM_DESTINATION=destination.base + "/warm",
                            PIPELINE_PREWARM_ALLOWED_DESTINATIONS="s3://prewarm-copy/warm",
                            PIPELINE_PREWARM_RETRY_BASE_S="0.2",
                            PIPELINE_PREWARM_MAX_ATTEMPTS="3")
    run = uuid.uuid4().hex[:8]
    photo = b"p" * 40_000
    put_object(s3_server, f"{run}/a.jpg", photo)

    # -- validation: 400 for bad fields, 422 for a destination the operator did not allow
    status, body = worker.request("POST", "/api/media/uploads", {"media_id": "x"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert upload(worker, "x", "k", 10, kind="gif")[0] == 400
    assert upload(worker, "x", "k", -1)[0] == 400
    status, body = upload(worker, "x", "k", 10, destination="file:///etc")
    assert status == 422 and body["error"]["code"] == "url_refused"
    # Parse results hold playlist credentials: not a prewarm source.
    status, body = upload(worker, "x", "results/j/r.ndjson.gz", 10, bucket="pipeline-results")
    assert status == 422 and body["error"]["code"] == "url_refused"
    status, body = worker.request("GET", "/api/media/nope-" + run)
    assert status == 404 and body["error"]["code"] == "not_found"

    # -- any Kafka producer may publish; malformed records do not stop the agent
    broker = worker_factory.broker
    put_object(s3_server, f"{run}/k.jpg", photo)
    produce(broker, "media.uploads", f"{run}-bad1", b"{not json")
    produce(broker, "media.uploads", f"{run}-bad2", json.dumps({"media_id": 5}).encode())
    produce(broker, "media.uploads", f"{run}-k", json.dumps({
        "media_id": f"{run}-k", "bucket": "media", "key": f"{run}/k.jpg", "size": len(photo),
        "kind": "photo", "content_type": "image/jpeg", "uploaded_at": time.time()}).encode())
    assert final(worker, f"{run}-k")["status"] == "done"

    # -- a photo reaches the HTTP destination, streamed, with status and id as its ref
    status, body = upload(worker, f"{run}-a", f"{run}/a.jpg", len(photo))
    assert status == 202 and body["status"] == "queued" and body["score"] == 185
    # The job is readable as soon as the submit is answered (no 404 window).
    assert worker.request("GET", f"/api/media/{run}-a")[0] == 200
    done = final(worker, f"{run}-a")
    assert done["status"] == "done" and done["attempts"] == 1, done
    assert done["destination_ref"] == f"201 obj-{len(photo)}"
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    got = destination.received[-1]
    assert got.method == "PUT" and got.path == f"/warm/{run}/a.jpg"
    assert got.sha256 == hashlib.sha256(photo).hexdigest()
    assert got.headers["Content-Length"] == str(len(photo))
    assert "chunked" not in got.headers.get("Transfer-Encoding", "")

    # -- duplicates do nothing; force runs again (and hits the cache)
    status, body = upload(worker, f"{run}-a", f"{run}/a.jpg", len(photo))
    assert status == 200 and body["deduplicated"] is True and body["status"] == "done"
    status, body = upload(worker, f"{run}-a", f"{run}/a.jpg", len(photo), force=True)
    assert status == 202 and body["deduplicated"] is False
    poll(lambda: destination.paths().count(f"/warm/{run}/a.jpg") == 2, what="forced run")
    assert poll(lambda: worker.events("cache_hit"), what="cache_hit log")

    # -- ten jobs for one object at once: one download
    big = b"v" * (6 * 1024 * 1024)
    put_object(s3_server, f"{run}/shared.mp4", big)
    misses = metric(worker, "pipeline_prewarm_cache_total", result="miss")
    bytes_in = metric(worker, "pipeline_prewarm_bytes_total", direction="in")
    for i in range(10):
        assert upload(worker, f"{run}-s{i}", f"{run}/shared.mp4", len(big), kind="video")[0] == 202
    for i in range(10):
        assert final(worker, f"{run}-s{i}")["status"] == "done"
    assert metric(worker, "pipeline_prewarm_cache_total", result="miss") == misses + 1
    assert metric(worker, "pipeline_prewarm_bytes_total", direction="in") == bytes_in + len(big)

    # -- per-event destinations: s3:// copy and null://; not into the pipeline's own buckets
    status, body = upload(worker, f"{run}-copy", f"{run}/a.jpg", len(photo),
                          destination=f"s3://pipeline-results/{run}")
    assert status == 422, body
    s3_server.client().create_bucket(Bucket="prewarm-copy")
    # s3 only under an allowed prefix, each media id in its own key space
    status, body = upload(worker, f"{run}-copy", f"{run}/a.jpg", len(photo),
                          destination=f"s3://prewarm-copy/{run}/")
    assert status == 422, body
    upload(worker, f"{run}-copy2", f"{run}/shared.mp4", len(big),
           destination="s3://prewarm-copy/warm/")
    upload(worker, f"{run}-null", f"{run}/a.jpg", len(photo), destination="null://")
    copied = final(worker, f"{run}-copy2")
    assert copied["status"] == "done", copied
    key = f"warm/{run}-copy2/{run}/shared.mp4"
    assert copied["destination_ref"] == f"s3://prewarm-copy/{key}"
    head = s3_server.client().head_object(Bucket="prewarm-copy", Key=key)
    assert head["ContentLength"] == len(big)
    assert final(worker, f"{run}-null")["destination_ref"] == "null://"

    # -- retry then success; 404 and 403 fail at once; exhausted retries go to the DLQ
    destination.refuse.add(f"/warm/{run}/a.jpg")
    upload(worker, f"{run}-refused", f"{run}/a.jpg", len(photo))
    refused = final(worker, f"{run}-refused")
    assert refused["status"] == "failed" and refused["attempts"] == 1, refused
    assert refused["error"]["code"] == "destination_error"
    destination.fail[f"/warm/{run}/flaky.jpg"] = 2
    destination.fail[f"/warm/{run}/down.jpg"] = -1
    put_object(s3_server, f"{run}/flaky.jpg", photo)
    put_object(s3_server, f"{run}/down.jpg", photo)
    upload(worker, f"{run}-flaky", f"{run}/flaky.jpg", len(photo))
    upload(worker, f"{run}-missing", f"{run}/missing.jpg", 1234)
    upload(worker, f"{run}-down", f"{run}/down.jpg", len(photo))
    flaky = final(worker, f"{run}-flaky")
    assert flaky["status"] == "done" and flaky["attempts"] == 3, flaky
    missing = final(worker, f"{run}-missing")
    assert missing["status"] == "failed" and missing["attempts"] == 1
    assert missing["error"]["code"] == "object_not_found"
    down = final(worker, f"{run}-down")
    assert down["status"] == "failed" and down["attempts"] == 3
    assert down["error"]["code"] == "destination_error"

    letters = read_topic(broker, "media.uploads.dlq", 5)
    # Intake rejections keep the original key and bytes; failed jobs are keyed by media id.
    dlq = {d["key"]["text"] if isinstance(d["key"], dict) else d["key"]: d for d in letters}
    assert set(dlq) == {f"{run}-missing", f"{run}-down", f"{run}-refused",
                        json.dumps(f"{run}-bad1"), json.dumps(f"{run}-bad2")}
    assert dlq[json.dumps(f"{run}-bad1")]["reason"] == "not_json"
    assert dlq[json.dumps(f"{run}-bad2")]["reason"] == "missing_field"
    assert "Crashed" not in worker.logs()
    assert dlq[f"{run}-down"]["attempts"] == 3
    assert dlq[f"{run}-missing"]["payload"]["key"] == f"{run}/missing.jpg"
    results = read_topic(broker, "media.prewarm.results", 19)
    by_id: dict[str, list[str]] = {}
    for r in results:
        by_id.setdefault(r["media_id"], []).append(r["status"])
    assert by_id[f"{run}-a"] == ["done", "done"]
    assert by_id[f"{run}-missing"] == ["failed"] and by_id[f"{run}-flaky"] == ["done"]
    assert len(by_id) == 18

    # -- figures are real
    status, health = worker.request("GET", "/health")
    assert health["queues"]["prewarm"] == {"waiting": 0, "active": 0}
    assert metric(worker, "pipeline_prewarm_jobs_total", status="done") == 16
    assert metric(worker, "pipeline_prewarm_jobs_total", status="failed") == 3
    assert metric(worker, "pipeline_prewarm_jobs_total", status="retry") == 4
    assert metric(worker, "pipeline_prewarm_duration_seconds_count") == 16
    assert len(worker.events("prewarm_done")) == 16
    assert {e["code"] for e in worker.events("prewarm_failed")} == {
        "destination_error", "object_not_found"}
