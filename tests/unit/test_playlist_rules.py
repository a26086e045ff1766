"""Pure playlist rules: request decisions and run events applied to a row."""

from __future__ import annotations

import pytest

from pipeline.playlist.rules import (
    Decision,
    apply_event,
    decide,
    dropped_runs,
    job_answer,
    queued_row,
)
from pipeline.records import ParseEvent, ParseRequest, PlaylistJob
from pipeline.retry import backoff_s

URL = "http://example.com/a.m3u"


def _row(**fields: object) -> PlaylistJob:
    return PlaylistJob(**{"job_id": "j", "url": URL, "status": "queued", **fields})


def _ev(kind: str, run_id: str = "r1", **fields: object) -> ParseEvent:
    return ParseEvent(kind=kind, job_id="j", run_id=run_id, at=100.0, **fields)


def _apply(row: PlaylistJob, ev: ParseEvent, jitter: float = 0.5) -> PlaylistJob | None:
    return apply_event(row, ev, retry_base_s=2.0, jitter=jitter)


@pytest.mark.parametrize(("row", "force", "expected"), [
    (None, False, Decision.QUEUE),
    (_row(), True, Decision.IN_FLIGHT),
    (_row(status="running"), True, Decision.IN_FLIGHT),
    (_row(status="done", finished_at=90.0), False, Decision.FRESH),
    (_row(status="done", finished_at=90.0), True, Decision.QUEUE),
    (_row(status="done", finished_at=10.0), False, Decision.QUEUE),  # older than the TTL
    (_row(status="failed", finished_at=90.0), False, Decision.QUEUE),
])
def test_decide(row: PlaylistJob | None, force: bool, expected: Decision) -> None:
    assert decide(row, force=force, replay=False, now=100.0, ttl_s=50.0) is expected


def test_a_requeued_row_keeps_runs_and_creation_time() -> None:
    old = _row(status="failed", runs=3, created_at=5.0)
    row = queued_row("j", ParseRequest(url=URL, request_id="q"), old, 100.0)
    assert (row.status, row.runs, row.created_at, row.queued_at, row.request_id) == \
        ("queued", 3, 5.0, 100.0, "q")


def test_started_counts_a_run_once_even_when_redelivered() -> None:
    row = _apply(_row(runs=1, attempt=0), _ev("started"))
    assert row is not None and (row.status, row.runs, row.attempt, row.run_id) == \
        ("running", 2, 1, "r1")
    assert _apply(row, _ev("started")) is None
    assert _apply(_row(status="done"), _ev("started")) is None


def test_progress_and_done_apply_only_to_a_running_row() -> None:
    running = _row(status="running", run_id="r1", attempt=1)
    assert _apply(_row(), _ev("progress", items=3)) is None
    progressed = _apply(running, _ev("progress", items=3, bytes=30))
    assert progressed is not None and progressed.progress_items == 3
    done = _apply(running, _ev("done", items=4, result_uri="s3://b/k", duration_s=1.5))
    assert done is not None and (done.status, done.attempt, done.result_items) == ("done", 0, 4)
    assert done.finished_at == 100.0 and done.result_uri == "s3://b/k"


def test_retry_waits_the_shared_backoff_and_failed_is_final() -> None:
    running = _row(status="running", run_id="r1", attempt=2)
    retry = _apply(running, _ev("retry", error={"code": "x"}), jitter=0.25)
    assert retry is not None and retry.status == "queued"
    assert retry.not_before == 100.0 + backoff_s(2, 2.0, 0.25) == 100.0 + 3.0
    failed = _apply(running, _ev("failed", error={"code": "x"}, duration_s=2.0))
    assert failed is not None and (failed.status, failed.duration_s) == ("failed", 2.0)
    assert _apply(running, _ev("unknown")) is None


def test_backoff_is_capped() -> None:
    assert backoff_s(30, 2.0, 0.0, cap_s=300.0) == 150.0


def _done(row: PlaylistJob, run: str, changes: dict | None = None,
          keep: int = 2) -> PlaylistJob:
    ev = _ev("done", run, catalogue={"run_id": run, "changes": changes})
    out = apply_event(row.derive(status="running", run_id=run), ev, retry_base_s=2.0,
                      jitter=0.5, keep_runs=keep)
    assert out is not None
    return out


def test_done_serves_the_new_catalogue_and_keeps_the_configured_runs() -> None:
    row = _done(_row(status="running"), "r1")
    assert row.catalogue_run == "r1" and row.catalogue_runs == ["r1"] and row.changes is None
    changes = {"since_run": "r1", "added": 1, "removed": 2, "changed": 3}
    second = _done(row, "r2", changes)
    assert second.catalogue_runs == ["r1", "r2"] and second.changes == changes
    third = _done(second, "r3")
    assert third.catalogue_runs == ["r2", "r3"]
    assert dropped_runs(second, third) == ["r1"] and dropped_runs(row, second) == []
    assert _done(second, "r3", keep=1).catalogue_runs == ["r3"]
    answer = job_answer(second, None)
    assert answer["catalogue"] == {"run_id": "r2", "runs": ["r1", "r2"]}
    assert answer["changes"] == changes


def test_a_refresh_keeps_serving_the_last_catalogue() -> None:
    row = _done(_row(status="running"), "r1")
    requeued = queued_row(row.job_id, ParseRequest(url=row.url, force=True), row, 5.0)
    assert requeued.catalogue_run == "r1" and requeued.catalogue_runs == ["r1"]
    # A done event without a catalogue serves none rather than a stale one.
    ev = _ev("done", "r2")
    out = apply_event(requeued.derive(status="running", run_id="r2"), ev, retry_base_s=2.0,
                      jitter=0.5)
    assert out is not None and out.catalogue_run == "" and out.catalogue_runs == ["r1"]
