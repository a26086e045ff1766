"""Pure job rules: upload validation, destination overrides, run events applied to rows."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.errors import BadRequest, URLRefused
from pipeline.media import rules
from pipeline.records import MediaJob, PrewarmEvent
from pipeline.settings import ScoreWeights

W = ScoreWeights()
NOW = 1_700_000_000.0


def Row(**fields: Any) -> MediaJob:  # reads like the record it builds
    """A media job row with test defaults (the real record, not a copy of its fields)."""
    base = {"media_id": "m1", "bucket": "media", "key": "a.jpg", "status": "queued",
            "size": 1000, "kind": "photo", "uploaded_at": NOW, "run_id": "r1",
            "created_at": NOW}
    return MediaJob(**{**base, **fields})


def Ev(kind: str, **fields: Any) -> PrewarmEvent:
    base = {"media_id": "m1", "run_id": "r1", "at": NOW + 5, "attempts": 1,
            "duration_s": 0.5, "bytes": 1000}
    return PrewarmEvent(kind=kind, **{**base, **fields})


def _valid(**body: Any) -> dict[str, Any]:
    base = {"media_id": "m1", "key": "u/1.jpg", "size": 10, "kind": "photo"}
    return rules.validate_upload({**base, **body}, default_bucket="media", now=NOW)


def test_validate_defaults_and_timestamps() -> None:
    fields = _valid()
    assert fields["bucket"] == "media" and fields["uploaded_at"] == NOW
    assert fields["force"] is False and fields["destination"] is None
    assert _valid(uploaded_at="2023-11-14T22:13:20Z")["uploaded_at"] == NOW
    assert _valid(uploaded_at=NOW - 5)["uploaded_at"] == NOW - 5


@pytest.mark.parametrize(
    "bad",
    [
        {"media_id": None},
        {"media_id": ""},
        {"media_id": "a/b"},
        {"media_id": "x" * 201},
        {"key": ""},
        {"key": 5},
        {"bucket": "bad bucket"},
        {"size": -1},
        {"size": True},
        {"size": "10"},
        {"kind": "gif"},
        {"kind": None},
        {"uploaded_at": "yesterday"},
        {"uploaded_at": -3},
        {"force": "yes"},
        {"destination": 7},
        {"content_type": 3},
    ],
)
def test_validate_refuses_bad_fields(bad: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        _valid(**bad)


def test_source_bucket_must_be_allowed() -> None:
    base = {"media_id": "m1", "key": "k", "size": 10, "kind": "photo"}
    allowed = {"media", "uploads-eu"}
    ok = rules.validate_upload({**base, "bucket": "uploads-eu"}, default_bucket="media", now=NOW,
                               allowed_buckets=allowed)
    assert ok["bucket"] == "uploads-eu"
    for bucket in ("pipeline-results", "pipeline-broker", "other"):
        with pytest.raises(URLRefused):
            rules.validate_upload({**base, "bucket": bucket}, default_bucket="media", now=NOW,
                                  allowed_buckets=allowed)


def test_allowed_source_buckets_setting() -> None:
    from pipeline.settings import Settings

    assert Settings().allowed_source_buckets == {"media"}
    assert Settings(media_source_buckets="a, b").allowed_source_buckets == {"media", "a", "b"}


DEFAULT = "http://cdn.internal:8080/warm"


def _check(url: str, default: str = DEFAULT, allowed: tuple[str, ...] = ()) -> str:
    return rules.check_destination(
        url, default=default, allowed=allowed, protected_buckets=("pipeline-results",)
    )


@pytest.mark.parametrize(
    "url",
    [
        "null://",
        "http://cdn.internal:8080/elsewhere",
        "file:///srv/warm/sub",
    ],
)
def test_destination_overrides_allowed(url: str) -> None:
    default = "file:///srv/warm" if url.startswith("file") else DEFAULT
    assert _check(url, default) == url


@pytest.mark.parametrize(
    "url",
    [
        "s3://pipeline-results/x",
        "s3://other-bucket/prefix",  # s3 only through PIPELINE_PREWARM_ALLOWED_DESTINATIONS
        "http://cdn.internal:8080.evil.example/x",
        "https://cdn.internal:8080/x",
        "http://169.254.169.254/latest",
        "file:///etc",
        "http://cdn.internal:8080/warm/../admin",
    ],
)
def test_destination_overrides_refused(url: str) -> None:
    with pytest.raises(URLRefused):
        _check(url)


def test_file_override_must_stay_under_default() -> None:
    with pytest.raises(URLRefused):
        _check("file:///srv/warmer", "file:///srv/warm")
    assert _check("file:///data/x", "file:///srv/warm", allowed=("file:///data",))
    assert _check("https://up.example/a", allowed=("https://up.example/",))
    assert _check("s3://copy/warm/x", allowed=("s3://copy/warm",))
    with pytest.raises(URLRefused):
        _check("s3://copy/warmer", allowed=("s3://copy/warm",))
    with pytest.raises(BadRequest):
        _check("ftp://x/y")


def test_dedupe_rules() -> None:
    assert rules.upload_starts_job(None, False)
    for status in ("queued", "running", "done"):
        assert not rules.upload_starts_job(Row(status=status), False)
        assert rules.upload_starts_job(Row(status=status), True)
    assert rules.upload_starts_job(Row(status="failed"), False)


def _apply(row: Row, ev: Ev, jitter: float = 0.5, max_attempts: int = 3) -> Row | None:
    return rules.apply_event(
        row,
        ev,
        weights=W,
        max_attempts=max_attempts,
        retry_base_s=2.0,
        jitter=jitter,
        next_run_id="r2",
    )


def test_run_events_move_the_row() -> None:
    running = _apply(Row(), Ev("started"))
    assert running is not None
    assert running.status == "running" and running.attempts == 1 and running.started_at == NOW + 5
    assert running.score == 185  # 1000 B photo, 5 s old
    done = _apply(running, Ev("done", destination_ref="201 x", at=NOW + 6))
    assert done is not None
    assert done.status == "done" and done.finished_at == NOW + 6 and done.destination_ref == "201 x"
    assert _apply(done, Ev("done")) is None  # a duplicate outcome changes nothing
    assert _apply(done, Ev("started")) is None


def test_stale_runs_are_ignored() -> None:
    assert _apply(Row(), Ev("started", run_id="old")) is None
    assert _apply(Row(status="queued"), Ev("done")) is None


def test_retry_backs_off_with_a_new_run_then_fails_when_exhausted() -> None:
    running = Row(status="running", attempts=1)
    retry = _apply(running, Ev("retry", error={"code": "storage_error", "message": "x"}))
    assert retry is not None
    assert retry.status == "queued" and retry.run_id == "r2" and retry.not_before == NOW + 5 + 2
    assert retry.error == {"code": "storage_error", "message": "x"}
    exhausted = _apply(Row(status="running", attempts=3), Ev("retry", attempts=3))
    assert exhausted is not None and exhausted.status == "failed"
    failed = _apply(running, Ev("failed", error={"code": "object_not_found", "message": "x"}))
    assert failed is not None and failed.status == "failed" and failed.finished_at == NOW + 5


def test_answer_shows_live_score_while_queued() -> None:
    answer = rules.job_answer(Row(score=185), NOW + 120, W)
    assert answer["score"] == 170 and answer["status"] == "queued"
    assert set(answer) >= {
        "media_id",
        "status",
        "score",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "destination_ref",
        "error",
    }
    assert rules.job_answer(Row(status="done", score=185), NOW + 999, W)["score"] == 185
