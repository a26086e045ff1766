"""Intake and cancel in-process: records with any key or none, on any partition, are
applied in place, re-keyed once or dead-lettered; cancel events stop jobs."""

from __future__ import annotations

import json
from typing import Any

from pipeline.partitioning import key_bytes, key_partition
from pipeline.records import EventKind, JobStatus, ParseEvent, PrewarmEvent
from pipeline.urls import job_id_for
from pipeline.worker import Worker
from tests.agents.conftest import Sent

URL = "http://example.com/any.m3u"
JOB = job_id_for(URL)
UPLOAD = {"media_id": "m9", "key": "a/b.mp4", "size": 10, "kind": "video"}


async def _put(worker: Worker, agent: str, *records: tuple[bytes | None, bytes | None, int]
               ) -> None:
    async with worker.app.agents[agent].test_context() as ctx:
        for key, value, partition in records:
            await ctx.put(key=key, value=value, partition=partition)


def _owner(key: str, worker: Worker) -> int:
    return key_partition(key, worker.settings.topic_partitions)


def _wrong(key: str, worker: Worker) -> int:
    return (_owner(key, worker) + 1) % worker.settings.topic_partitions


async def test_keyless_and_raw_keyed_requests_are_rekeyed_once_then_applied(
        worker: Worker, sent: Sent) -> None:
    body = json.dumps({"url": URL}).encode()
    await _put(worker, "agents.parse.handle_requests", (None, body, 0),
               (JOB.encode(), body, _owner(JOB, worker)),  # raw key: hashes elsewhere
               (key_bytes(JOB), body, _wrong(JOB, worker)))  # our key, default partitioner
    assert worker.playlist_jobs.get(JOB) is None  # never a row on the wrong partition
    keyed = sent.of(worker.topics.names.parse_keyed)
    assert [key for key, _ in keyed] == [key_bytes(JOB)] * 3
    await _put(worker, "agents.parse.handle_keyed",
               *[(key, value, _owner(JOB, worker)) for key, value in keyed])
    row = worker.playlist_jobs.get(JOB)
    assert row.status == JobStatus.QUEUED and row.url == URL
    assert len(sent.of(worker.topics.names.parse_keyed)) == 3  # applied, not re-sent
    assert row.request_id == "0:0"  # the first record's partition:offset, then deduplicated


async def test_poison_records_are_dead_lettered_and_the_agent_goes_on(
        worker: Worker, sent: Sent) -> None:
    good = json.dumps({"url": URL, "client": "cli"}).encode()
    await _put(worker, "agents.parse.handle_requests",
               (b"k", b"\xff\xfe", 1), (None, b"[1]", 2), (None, b'{"force": true}', 3),
               (None, json.dumps({"url": "ftp://x/y"}).encode(), 0), (None, None, 0),
               (key_bytes(JOB), good, _owner(JOB, worker)))
    letters = [value for _, value in sent.of(worker.topics.names.parse_dlq)]
    assert [doc["reason"] for doc in letters] == ["not_json", "not_object", "missing_field",
                                                  "refused", "empty"]
    assert letters[0]["value"] == {"base64": "//4="} and letters[0]["partition"] == 1
    assert worker.playlist_jobs.get(JOB).status == JobStatus.QUEUED
    samples = worker.metrics.registry.get_sample_value(
        "pipeline_intake_dead_letters_total",
        {"topic": worker.topics.names.parse_requests, "reason": "not_json"})
    assert samples == 1.0


async def test_an_upload_keyed_otherwise_is_rekeyed_by_its_media_id(
        worker: Worker, sent: Sent) -> None:
    body = json.dumps(UPLOAD).encode()
    await _put(worker, "agents.media.handle_uploads", (b"whatever", body, 0))
    assert worker.media_jobs.get("m9") is None
    [(key, value)] = sent.of(worker.topics.names.media_keyed)
    assert key == key_bytes("m9")
    await _put(worker, "agents.media.handle_keyed", (key, value, _owner("m9", worker)))
    assert worker.media_jobs.get("m9").status == JobStatus.QUEUED


async def _queued_job(worker: Worker) -> Any:
    body = json.dumps({"url": URL}).encode()
    await _put(worker, "agents.parse.handle_requests",
               (key_bytes(JOB), body, _owner(JOB, worker)))
    return worker.playlist_jobs.get(JOB)


async def _parse_events(worker: Worker, *events: ParseEvent) -> None:
    async with worker.app.agents["agents.parse.apply_events"].test_context() as ctx:
        for event in events:
            await ctx.put(key=event.job_id, value=event)


async def test_cancel_stops_a_queued_job_and_a_later_submit_starts_fresh(
        worker: Worker, sent: Sent) -> None:
    row = await _queued_job(worker)
    assert worker.parse.position(JOB) == 1
    worker.parse.cancel_job(JOB)
    await _parse_events(worker, ParseEvent(kind=EventKind.CANCELLED, job_id=JOB,
                                           run_id="not-the-current-run", at=5.0))
    row = worker.playlist_jobs.get(JOB)
    assert (row.status, row.error["code"]) == ("cancelled", "cancelled")
    assert worker.parse.position(JOB) is None
    [(_, result)] = sent.of(worker.topics.names.parse_results)
    assert result.status == "cancelled"
    # A started event of a run that began anyway is refused; a new submit requeues.
    await _parse_events(worker, ParseEvent(kind="started", job_id=JOB, run_id="r", at=6.0))
    assert worker.playlist_jobs.get(JOB).status == "cancelled"
    row = await _queued_job(worker)
    assert row.status == JobStatus.QUEUED and row.error is None


async def test_a_done_event_after_the_cancel_discards_its_result(
        worker: Worker, monkeypatch: Any) -> None:
    await _queued_job(worker)
    discarded: list[str] = []
    monkeypatch.setattr(worker.parse, "discard_result", discarded.append)
    await _parse_events(
        worker, ParseEvent(kind="started", job_id=JOB, run_id="r1", at=1.0),
        ParseEvent(kind="cancelled", job_id=JOB, run_id="r1", at=2.0),
        ParseEvent(kind="done", job_id=JOB, run_id="r1", at=3.0, result_uri="s3://r/x"))
    row = worker.playlist_jobs.get(JOB)
    assert row.status == "cancelled" and row.result_uri == ""
    assert discarded == ["s3://r/x"]


async def test_cancel_of_a_media_job_applies_whatever_its_run(worker: Worker) -> None:
    body = json.dumps(UPLOAD).encode()
    await _put(worker, "agents.media.handle_uploads",
               (key_bytes("m9"), body, _owner("m9", worker)))
    worker.prewarm.scheduler.cancel("m9")
    assert len(worker.prewarm.scheduler.queue) == 0
    async with worker.app.agents["agents.media.apply_events"].test_context() as ctx:
        await ctx.put(key="m9", value=PrewarmEvent(kind="cancelled", media_id="m9",
                                                   run_id="old", at=1.0))
    assert worker.media_jobs.get("m9").status == "cancelled"
