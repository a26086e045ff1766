"""What an applied run event publishes (pure builders of result, dead letter, changes),
and the media intake's admit rule."""

from __future__ import annotations

from pipeline.media import outcomes as media_outcomes
from pipeline.media.rules import admit
from pipeline.playlist.outcomes import published
from pipeline.playlist.rules import applies_to
from pipeline.records import MediaJob, ParseEvent, PlaylistJob
from pipeline.settings import ScoreWeights

URL = "http://u:secret@example.com/get.php?username=U&password=P"


def _row(**fields: object) -> PlaylistJob:
    return PlaylistJob(**{"job_id": "j", "url": URL, "status": "done", "run_id": "r1",
                          "result_items": 3, **fields})


def _ev(kind: str, run_id: str = "r1", **fields: object) -> ParseEvent:
    return ParseEvent(kind=kind, job_id="j", run_id=run_id, at=100.0, **fields)


def test_progress_and_retry_publish_nothing() -> None:
    for kind in ("started", "progress", "retry"):
        out = published(_row(status="running"), _ev(kind))
        assert (out.result, out.dead_letter, out.changes) == (None, None, None)


def test_done_publishes_result_and_changes() -> None:
    row = _row(catalogue_run="r1", changes={"since_run": "r0", "added": 2, "removed": 1})
    out = published(row, _ev("done"))
    assert out.result is not None and out.result.status == "done" and out.result.items == 3
    assert out.dead_letter is None
    assert out.changes is not None
    assert (out.changes.since_run, out.changes.added, out.changes.removed,
            out.changes.changed) == ("r0", 2, 1, 0)


def test_done_without_catalogue_publishes_no_changes() -> None:
    assert published(_row(), _ev("done")).changes is None


def test_transient_failure_dead_letters_with_redacted_payload() -> None:
    row = _row(status="failed", error={"code": "fetch_failed"}, attempt=3)
    out = published(row, _ev("failed", transient=True))
    assert out.result is not None and out.result.status == "failed"
    assert out.dead_letter is not None and out.dead_letter.attempts == 3
    assert "secret" not in str(out.dead_letter.payload)
    assert "P" not in out.dead_letter.payload["url"].split("password=")[1]
    assert out.dead_letter.request == {"url": URL, "client": "redrive"}  # redrive needs it
    assert published(row, _ev("failed", transient=False)).dead_letter is None


def test_events_of_superseded_runs_do_not_apply() -> None:
    row = _row(status="running", run_id="r2")
    assert not applies_to(None, _ev("done"))
    assert not applies_to(row, _ev("done", run_id="r1"))
    assert applies_to(row, _ev("done", run_id="r2"))
    assert applies_to(row, _ev("cancelled", run_id=""))  # whichever run is current
    assert applies_to(row, _ev("started", run_id="r9"))


def _upload(**fields: object) -> dict[str, object]:
    return {"media_id": "m", "bucket": "media", "key": "a.jpg", "size": 10, "kind": "photo",
            "content_type": "image/jpeg", "uploaded_at": 90.0, "destination": "",
            "replay": False, "force": False, **fields}


def _admit(row: MediaJob | None, **fields: object) -> MediaJob | None:
    return admit(row, _upload(**fields), now=100.0, weights=ScoreWeights(), run_id="new")


def test_admit_creates_a_scored_queued_row() -> None:
    row = _admit(None)
    assert row is not None and row.status == "queued" and row.run_id == "new"
    assert row.created_at == 100.0 and row.score > 0


def test_admit_dedupes_unless_forced_or_replayed_after_done() -> None:
    done = _admit(None)
    assert done is not None
    done = done.derive(status="done")
    assert _admit(done) is None
    assert _admit(done.derive(status="running")) is None
    assert _admit(done.derive(status="running"), replay=True) is None  # in flight
    assert _admit(done, replay=True) is not None
    assert _admit(done, force=True) is not None
    assert _admit(done.derive(status="failed")) is not None


def test_failed_media_job_dead_letters_with_a_redrive_request() -> None:
    row = _admit(None, destination="s3://warm/x?X-Amz-Signature=abc")
    assert row is not None
    failed = row.derive(status="failed", attempts=3, error={"code": "s3_error"},
                        finished_at=120.0)
    out = media_outcomes.published(failed, now=999.0)
    assert out.result is not None and out.result.status == "failed"
    assert out.dead_letter is not None and out.dead_letter.at == 120.0
    assert out.dead_letter.reason == {"code": "s3_error", "attempts": 3}
    assert out.dead_letter.request is not None
    assert out.dead_letter.request["destination"] == "s3://warm/x?X-Amz-Signature=abc"
    assert media_outcomes.published(row, now=1.0).result is None  # queued: nothing
