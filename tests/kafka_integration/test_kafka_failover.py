"""Broker failover: 3 KRaft nodes, topics at RF 3 and min.insync.replicas 2.

SIGKILL the broker leading the request topic's partition 0 while parses and
prewarms run: /health turns `degraded` (still 200), every accepted job reaches
a final status exactly once, and a job submitted after the kill completes; the
pause is measured and printed. Then the broker is started again, rejoins, and
/health is `ok` again.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.embedded.kafka_cluster import KafkaCluster
from tests.conftest import S3Server, Worker, poll
from tests.integration.http_server import serve_routes, synthetic_playlist
from tests.integration.test_media_flow import put_object, upload
from tests.kafka_integration.conftest import (
    TEST_JVM,
    KafkaWorkerFactory,
    kafka_libs,
    make_factory,
)

N_PARSES, N_MEDIA = 8, 8


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster.create(tmp_path_factory.mktemp("kafka3"), 3, libs=kafka_libs(),
                                  jvm=TEST_JVM)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def workers3(cluster3: KafkaCluster, s3_server: S3Server,
             tmp_path: Path) -> Iterator[KafkaWorkerFactory]:
    factory = make_factory(cluster3, s3_server, tmp_path, replication=3)
    try:
        yield factory
    finally:
        for worker in factory.workers:
            worker.stop()


def _leader(cluster: KafkaCluster, topic: str) -> int:
    out = cluster.tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--describe",
                       "--topic", topic)
    assert out.returncode == 0, out.stderr
    match = re.search(r"Partition: 0\s+Leader: (\d+)", out.stdout)
    assert match, out.stdout
    return int(match.group(1))


def _final(worker: Worker, path: str) -> dict | None:
    status, body = worker.request("GET", path)
    return body if status == 200 and body.get("status") in ("done", "failed") else None


def _health(worker: Worker, status: str) -> dict | None:
    """/health's body when it answers 200 with `status` (a lost broker of a cluster
    degrades the worker without taking it out of service)."""
    code, body = worker.request("GET", "/health")
    return body if code == 200 and body.get("status") == status else None


def _submit(worker: Worker, url: str) -> str:
    def accepted() -> str | None:
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        return str(body["job_id"]) if status == 202 else None
    return str(poll(accepted, timeout=120, what=f"{url} accepted"))


def test_leader_broker_sigkill_loses_nothing(workers3: KafkaWorkerFactory) -> None:
    cluster = workers3.cluster
    assert cluster is not None
    routes = {f"/f{i}.m3u": (200, synthetic_playlist(3000 + i), {}, 0.05)
              for i in range(N_PARSES + 1)}
    with serve_routes(routes) as base:
        worker = workers3(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        jobs = [_submit(worker, f"{base}/f{i}.m3u") for i in range(N_PARSES // 2)]
        media = [f"fo-{uuid.uuid4().hex[:8]}" for _ in range(N_MEDIA)]
        for media_id in media:
            put_object(workers3.s3, f"failover/{media_id}.jpg", b"f" * 30_000)
        for media_id in media[: N_MEDIA // 2]:
            assert upload(worker, media_id, f"failover/{media_id}.jpg", 30_000,
                          destination="null://")[0] == 202
        poll(lambda: worker.events("parse_progress"), timeout=60, what="parses running")

        victim = cluster.nodes[_leader(cluster, workers3.topic("parse_requests")) - 1]
        cluster.kill_node(victim)
        killed_at = time.monotonic()
        degraded = poll(lambda: _health(worker, "degraded"), timeout=60,
                        what="/health degraded after the broker died")
        assert degraded["brokers"] == {"live": 2, "missing": 1}, degraded
        probe = _submit(worker, f"{base}/f{N_PARSES}.m3u")
        accepted_after = time.monotonic() - killed_at
        poll(lambda: _final(worker, f"/api/playlist/jobs/{probe}"), timeout=180,
             what="a job submitted after the kill final")
        pause = time.monotonic() - killed_at
        jobs += [_submit(worker, f"{base}/f{i}.m3u") for i in range(N_PARSES // 2, N_PARSES)]
        for media_id in media[N_MEDIA // 2:]:
            poll(lambda media_id=media_id: upload(
                worker, media_id, f"failover/{media_id}.jpg", 30_000,
                destination="null://")[0] == 202, timeout=60, what="upload accepted")
        for job_id in [*jobs, probe]:
            row = poll(lambda job_id=job_id: _final(worker, f"/api/playlist/jobs/{job_id}"),
                       timeout=180, what=f"{job_id} final")
            assert row["status"] == "done" and row["runs"] == 1, row
        for media_id in media:
            row = poll(lambda media_id=media_id: _final(worker, f"/api/media/{media_id}"),
                       timeout=180, what=f"{media_id} final")
            assert row["status"] == "done", row
        ends = [e["job_id"] for e in worker.events("parse_end")]
        assert sorted(ends) == sorted([*jobs, probe])  # each parse ran once
        print(f"leader broker {victim.node_id} SIGKILLed: submit accepted after "
              f"{accepted_after:.1f} s, a new job done after {pause:.1f} s")

        cluster.start_node(victim)  # rejoins; the worker keeps going
        healed = poll(lambda: _health(worker, "ok"), timeout=60, what="/health ok again")
        assert healed["brokers"] == {"live": 3, "missing": 0}, healed
