"""The media agents in-process: upload decoding, dedupe, DLQ and run-event application."""

from __future__ import annotations

import json
from typing import Any

from pipeline.partitioning import key_partition
from pipeline.records import PrewarmEvent
from pipeline.worker import Worker
from tests.agents.conftest import Sent

UPLOAD = {"media_id": "m1", "bucket": "media", "key": "a/b.mp4", "size": 1000,
          "kind": "video", "uploaded_at": 1_700_000_000}


async def _uploads(worker: Worker, *records: tuple[bytes, bytes]) -> None:
    agent = worker.app.agents["agents.media.handle_uploads"]
    async with agent.test_context() as ctx:
        for key, value in records:  # on the partition of their JSON key, as Faust sends
            media_id = json.loads(key) if key.startswith(b'"') else ""
            await ctx.put(key=key, value=value,
                          partition=key_partition(media_id, worker.settings.topic_partitions))


async def _events(worker: Worker, *events: PrewarmEvent) -> None:
    agent = worker.app.agents["agents.media.apply_events"]
    async with agent.test_context() as ctx:
        for event in events:
            await ctx.put(key=event.media_id, value=event)


def _record(body: dict[str, Any], key: str = "m1") -> tuple[bytes, bytes]:
    return json.dumps(key).encode(), json.dumps(body).encode()


async def test_an_upload_makes_a_queued_row_and_a_repeat_is_deduplicated(
        worker: Worker) -> None:
    await _uploads(worker, _record(UPLOAD))
    row = worker.media_jobs.get("m1")
    assert row.status == "queued" and row.score > 0 and len(worker.prewarm.scheduler.queue) == 1
    await _uploads(worker, _record(UPLOAD))
    assert worker.media_jobs.get("m1").run_id == row.run_id  # deduplicated, not restarted


async def test_a_malformed_upload_goes_to_the_dead_letter_topic(worker: Worker,
                                                                sent: Sent) -> None:
    await _uploads(worker, (b'"m2"', b"not json"), _record({**UPLOAD, "size": -1}))
    letters = [value for _, value in sent.of(worker.topics.names.media_dlq)]
    assert [(doc["reason"], doc["value"]) for doc in letters] == [
        ("not_json", {"text": "not json"}),
        ("bad_field", {"text": json.dumps({**UPLOAD, "size": -1})})]
    assert letters[1]["error_code"] == "bad_request" and letters[0]["key"] == {"text": '"m2"'}
    assert worker.media_jobs.get("m1") is None


async def test_run_events_finish_the_job_and_publish_the_result(worker: Worker,
                                                                sent: Sent) -> None:
    await _uploads(worker, _record(UPLOAD))
    run_id = worker.media_jobs.get("m1").run_id
    await _events(
        worker,
        PrewarmEvent(kind="started", media_id="m1", run_id=run_id, at=10.0, attempts=1),
        PrewarmEvent(kind="done", media_id="m1", run_id=run_id, at=11.0, attempts=1,
                     duration_s=1.0, bytes=1000, destination_ref="null://m1"))
    row = worker.media_jobs.get("m1")
    assert (row.status, row.attempts, row.destination_ref) == ("done", 1, "null://m1")
    [(key, result)] = sent.of(worker.topics.names.prewarm_results)
    assert key == "m1" and result.status == "done"
