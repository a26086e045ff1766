"""Replay with offsets_for_times, reset-state, Kafka's own CLI tools and a librdkafka producer.

Each test drives the system from outside only: the HTTP API, `pipeline` CLI
subprocesses, Kafka's CLI tools run from the harness jars, and Kafka clients.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.embedded.ports import free_port
from pipeline.partitioning import key_bytes, key_partition
from pipeline.urls import job_id_for
from tests.conftest import Worker, poll
from tests.integration.http_server import serve_routes, synthetic_playlist
from tests.integration.test_cli import cli
from tests.kafka_integration.conftest import KafkaWorkerFactory

PARTITIONS = 4


@pytest.fixture
def served() -> Iterator[str]:
    routes = {f"/p{i}.m3u": (200, synthetic_playlist(50 + i), {}, 0.0) for i in range(12)}
    with serve_routes(routes) as base:
        yield base


def job(worker: Worker, job_id: str) -> dict[str, Any]:
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return dict(body) if status == 200 else {}


def run_to_done(worker: Worker, url: str) -> str:
    status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 202, body
    job_id = str(body["job_id"])
    poll(lambda: job(worker, job_id).get("status") == "done", timeout=60, what=f"{url} done")
    return job_id


def runs(worker: Worker, jobs: dict[str, str]) -> dict[str, int]:
    return {name: job(worker, job_id).get("runs", 0) for name, job_id in jobs.items()}


def test_replay_seeks_with_offsets_for_times(kafka_workers: KafkaWorkerFactory,
                                             served: str) -> None:
    worker = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    topic = kafka_workers.topic("parse_requests")
    jobs = {"before": run_to_done(worker, f"{served}/p0.m3u"),
            "before2": run_to_done(worker, f"{served}/p1.m3u")}
    time.sleep(0.05)  # record timestamps are milliseconds
    since = time.time()
    jobs["inside1"] = run_to_done(worker, f"{served}/p2.m3u")
    jobs["inside2"] = run_to_done(worker, f"{served}/p3.m3u")
    until = time.time()
    time.sleep(0.05)
    jobs["after"] = run_to_done(worker, f"{served}/p4.m3u")

    dry = cli(worker.env, "replay", topic, "--since", f"{since:.3f}", "--until",
              f"{until:.3f}", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "seek: offsets_for_times;" in dry.stdout, dry.stdout
    # The seek skips the two records before the window: 3 read, not 5.
    assert f"read 3 records from {PARTITIONS} partitions; 2 in the window" in dry.stdout
    sent = cli(worker.env, "replay", topic, "--since",
               datetime.fromtimestamp(since, UTC).isoformat(), "--until",
               datetime.fromtimestamp(until, UTC).isoformat())
    assert sent.returncode == 0 and "sent 2 replays" in sent.stdout, sent.stdout + sent.stderr
    expected = {"before": 1, "before2": 1, "inside1": 2, "inside2": 2, "after": 1}
    poll(lambda: runs(worker, jobs) == expected, timeout=60, what="the window ran again")
    poll(lambda: all(job(worker, j)["status"] == "done" for j in jobs.values()), timeout=60,
         what="replays done")


def test_kafka_cli_tools_and_group_reset_to_datetime(kafka_workers: KafkaWorkerFactory,
                                                      served: str) -> None:
    """kafka-topics --describe, kafka-console-producer, kafka-consumer-groups --describe
    and --reset-offsets --to-datetime (workers stopped), as the README table says."""
    cluster = kafka_workers.cluster
    assert cluster is not None
    worker = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    topic, group = kafka_workers.topic("parse_requests"), kafka_workers.prefix
    bootstrap = ["--bootstrap-server", cluster.nodes[0].bootstrap]

    described = cluster.tool("kafka-topics", *bootstrap, "--describe", "--topic", topic)
    assert described.returncode == 0, described.stderr
    assert f"PartitionCount: {PARTITIONS}" in described.stdout

    url = f"{served}/p5.m3u"
    job_id = job_id_for(url)
    line = f"{json.dumps(job_id)}\t{json.dumps({'url': url})}\n"
    produced = cluster.tool("kafka-console-producer", *bootstrap, "--topic", topic,
                            "--property", "parse.key=true", "--property", "key.separator=\t",
                            input=line)
    assert produced.returncode == 0, produced.stderr
    poll(lambda: job(worker, job_id).get("status") == "done", timeout=60,
         what="job from kafka-console-producer done")
    first = run_to_done(worker, f"{served}/p6.m3u")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    later = run_to_done(worker, f"{served}/p7.m3u")

    groups = cluster.tool("kafka-consumer-groups", *bootstrap, "--describe", "--group", group)
    assert groups.returncode == 0 and topic in groups.stdout, groups.stdout + groups.stderr
    worker.stop()  # the group must be empty to move its offsets
    reset = cluster.tool("kafka-consumer-groups", *bootstrap, "--group", group,
                         "--reset-offsets", "--topic", topic, "--to-datetime",
                         cut.strftime("%Y-%m-%dT%H:%M:%S.") + f"{cut.microsecond // 1000:03d}",
                         "--execute")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    deduped_before = len(worker.events("parse_deduplicated"))
    worker.start()
    # The record after the cut comes back without "replay": a fresh result is kept.
    poll(lambda: len(worker.events("parse_deduplicated")) > deduped_before, timeout=60,
         what="re-read request deduplicated")
    assert {e["job_id"] for e in worker.events("parse_deduplicated")[deduped_before:]} == {later}
    assert job(worker, later)["runs"] == 1 and job(worker, first)["runs"] == 1


def test_reset_state_refuses_while_a_member_then_starts_over(
        kafka_workers: KafkaWorkerFactory, served: str, tmp_path: Path) -> None:
    worker = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    job_id = run_to_done(worker, f"{served}/p8.m3u")
    first_uri = job(worker, job_id)["result_uri"]
    # From another machine's view (other web port and data dir) only the group tells.
    elsewhere = {**worker.env, "PIPELINE_WEB_PORT": str(free_port()),
                 "PIPELINE_DATA_DIR": str(tmp_path / "elsewhere")}
    refused = cli(elsewhere, "reset-state", "--yes")
    assert refused.returncode != 0, refused.stdout
    assert f"consumer group {kafka_workers.prefix} has 1 members" in refused.stderr
    worker.stop()
    done = cli(worker.env, "reset-state", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"consumer group {kafka_workers.prefix}: deleted" in done.stdout, done.stdout
    assert f"topic {kafka_workers.prefix}-playlist_jobs-changelog: deleted" in done.stdout
    worker.start()  # empty tables, group gone: the request topic is read from the start
    poll(lambda: job(worker, job_id).get("status") == "done", timeout=90,
         what="request reprocessed after reset")
    again = job(worker, job_id)
    assert again["runs"] == 1 and again["result_uri"] != first_uri


def crc32_partition(key: bytes, partitions: int) -> int:
    """librdkafka's default (`consistent_random`) partition of a keyed record."""
    return (zlib.crc32(key) & 0xFFFFFFFF) % partitions


@pytest.mark.parametrize("partitioner", [
    "murmur2_random",
    None,  # librdkafka's default (CRC32): the intake re-keys onto the owning partition
], ids=["murmur2_random", "librdkafka-default"])
def test_confluent_kafka_producer(kafka_workers: KafkaWorkerFactory, served: str,
                                  partitioner: str | None) -> None:
    """librdkafka (confluent-kafka) as a third-party producer of parse requests."""
    confluent_kafka = pytest.importorskip("confluent_kafka")
    cluster = kafka_workers.cluster
    assert cluster is not None
    worker = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    urls = [f"{served}/p{i}.m3u" for i in range(9, 12)]
    moved = [u for u in urls if crc32_partition(key_bytes(job_id_for(u)), PARTITIONS)
             != key_partition(job_id_for(u), PARTITIONS)]
    assert moved, "pick URLs whose CRC32 and murmur2 partitions differ"
    conf = {"bootstrap.servers": cluster.bootstrap}
    if partitioner:
        conf["partitioner"] = partitioner
    producer = confluent_kafka.Producer(conf)
    for url in urls:
        producer.produce(kafka_workers.topic("parse_requests"), key=key_bytes(job_id_for(url)),
                         value=json.dumps({"url": url}).encode())
    assert producer.flush(30) == 0
    del producer  # librdkafka would keep reconnecting after the cluster stops
    for url in urls:
        body = poll(lambda url=url: job(worker, job_id_for(url)).get("status") in
                    ("done", "failed") and job(worker, job_id_for(url)), timeout=60,
                    what=f"{url} final")
        assert body["status"] == "done" and body["runs"] == 1, body
