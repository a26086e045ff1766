"""The playlist agents in-process: request dedupe and run-event application."""

from __future__ import annotations

from typing import Any

from pipeline.partitioning import key_bytes, key_partition
from pipeline.records import JobStatus, ParseEvent, ParseRequest, PlaylistJob
from pipeline.urls import job_id_for
from pipeline.worker import Worker
from tests.agents.conftest import Sent

URL = "http://example.com/list.m3u"
J1 = job_id_for(URL)


async def _requests(worker: Worker, *requests: tuple[str, ParseRequest]) -> None:
    agent = worker.app.agents["agents.parse.handle_requests"]
    async with agent.test_context() as ctx:
        for key, req in requests:  # as Faust and pipeline.producer send them: in place
            await ctx.put(key=key_bytes(key), value=req.dumps(),
                          partition=key_partition(key, worker.settings.topic_partitions))


async def _events(worker: Worker, *events: ParseEvent) -> None:
    agent = worker.app.agents["agents.parse.apply_events"]
    async with agent.test_context() as ctx:
        for event in events:
            await ctx.put(key=event.job_id, value=event)


def _row(worker: Worker, job_id: str = J1) -> Any:
    return worker.playlist_jobs.get(job_id)


async def test_a_request_queues_the_job_and_a_repeat_while_queued_is_deduplicated(
        worker: Worker) -> None:
    await _requests(worker, (J1, ParseRequest(url=URL, request_id="r1")),
                    (J1, ParseRequest(url=URL, request_id="r2", force=True)))
    row = _row(worker)
    assert row.status == JobStatus.QUEUED and row.request_id == "r1"  # in flight: not twice
    assert worker.parse.position(J1) == 1


async def test_a_fresh_result_is_reused_unless_forced(worker: Worker) -> None:
    done = PlaylistJob(job_id=J1, url=URL, status="done", runs=1, created_at=1.0,
                       finished_at=9e9, result_uri="s3://r/j1")
    worker.playlist_jobs.data[J1] = done  # a row restored from the changelog
    await _requests(worker, (J1, ParseRequest(url=URL, request_id="again")))
    assert _row(worker).status == JobStatus.DONE
    await _requests(worker, (J1, ParseRequest(url=URL, request_id="forced", force=True)))
    row = _row(worker)
    assert (row.status, row.request_id, row.runs, row.created_at) == ("queued", "forced", 1, 1.0)


async def test_run_events_move_the_row_and_publish_the_result(worker: Worker,
                                                              sent: Sent) -> None:
    await _requests(worker, (J1, ParseRequest(url=URL, request_id="r1")))
    await _events(
        worker,
        ParseEvent(kind="started", job_id=J1, run_id="run1", at=10.0),
        ParseEvent(kind="started", job_id=J1, run_id="run1", at=10.0),  # redelivered
        ParseEvent(kind="progress", job_id=J1, run_id="run1", at=11.0, items=5, bytes=50),
        ParseEvent(kind="progress", job_id=J1, run_id="stale", at=11.5, items=99),
        ParseEvent(kind="done", job_id=J1, run_id="run1", at=12.0, items=7, bytes=70,
                   counts={"live": 7}, groups=2, result_uri="s3://r/j1", duration_s=2.0))
    row = _row(worker)
    assert (row.status, row.runs, row.attempt, row.result_items) == ("done", 1, 0, 7)
    assert row.result_uri == "s3://r/j1" and row.progress_items == 7
    [(key, result)] = sent.of(worker.topics.names.parse_results)
    assert key == J1 and result.status == "done" and result.items == 7
    assert sent.of(worker.topics.names.parse_dlq) == []


async def test_a_retry_requeues_with_backoff_and_a_transient_failure_is_dead_lettered(
        worker: Worker, sent: Sent) -> None:
    await _requests(worker, (J1, ParseRequest(url=URL, request_id="r1")))
    error = {"code": "fetch_failed", "message": "boom"}
    await _events(worker, ParseEvent(kind="started", job_id=J1, run_id="a", at=10.0),
                  ParseEvent(kind="retry", job_id=J1, run_id="a", at=11.0, error=error,
                             transient=True))
    row = _row(worker)
    assert row.status == "queued" and row.not_before > 11.0 and row.error == error
    await _events(worker, ParseEvent(kind="started", job_id=J1, run_id="b", at=20.0),
                  ParseEvent(kind="failed", job_id=J1, run_id="b", at=21.0, error=error,
                             transient=True))
    row = _row(worker)
    assert (row.status, row.runs, row.attempt) == ("failed", 2, 2)
    [(_, letter)] = sent.of(worker.topics.names.parse_dlq)
    assert letter.attempts == 2 and letter.payload["url"] == URL
