"""Dead letters as a tool: which topic, which letters, what is shown, what is redriven;
and what a cancel event does to a row."""

from __future__ import annotations

import json

import pytest

from pipeline import dlq
from pipeline.errors import BadRequest, NotFound
from pipeline.intake import RawRecord, Rejected
from pipeline.media import rules as media_jobs
from pipeline.partitioning import key_bytes
from pipeline.playlist.rules import apply_event, decide
from pipeline.records import JobStatus, MediaJob, ParseEvent, PlaylistJob, PrewarmEvent
from pipeline.settings import Settings
from pipeline.topic_names import topic_names

NAMES = topic_names(Settings())


def _intake_letter(value: bytes, key: bytes | None = b"k1", at: float = 10.0,
                   reason: str = "missing_field") -> dlq.Letter:
    record = RawRecord("playlist.parse.requests", 2, 7, key, value)
    return dlq.Letter(0, 3, Rejected(reason, "why", record).dead_letter(at))


def test_topics_resolve_by_alias_input_or_dlq_name() -> None:
    pair = (NAMES.parse_requests, NAMES.parse_dlq)
    assert dlq.resolve(NAMES, "playlist") == dlq.resolve(NAMES, NAMES.parse_dlq) == pair
    assert dlq.resolve(NAMES, "media")[1] == NAMES.media_dlq
    with pytest.raises(NotFound):
        dlq.resolve(NAMES, "playlist.parse.results")


def test_an_intake_letter_is_shown_redacted_and_redriven_as_it_came() -> None:
    value = json.dumps({"force": True, "note": "http://u:pw@h.example/x"}).encode()
    letter = _intake_letter(value)
    shown = letter.public()
    assert (shown["reason"], shown["key"], shown["kind"], shown["offset"]) == (
        "missing_field", "k1", "intake", 7)
    assert "pw" not in json.dumps(shown)
    assert letter.redrive_record() == (b"k1", value)
    binary = _intake_letter(b"\xff\x00", key=None).public()
    assert binary["payload"] == {"binary": True, "length": 2, "truncated": False}
    cut = dlq.Letter(0, 1, Rejected("too_large", "big", RawRecord("t", 0, 0, None, b"x" * 10))
                     .dead_letter(1.0, keep_bytes=4))
    assert cut.redrive_record() is None  # only part of the bytes was kept


def test_a_job_letter_redrives_its_request_keyed_by_the_job() -> None:
    doc = {"key": "j1", "reason": {"code": "fetch_timeout", "message": "slow"}, "attempts": 3,
           "payload": {"url": "http://h.example/x?token=***"}, "at": 5.0,
           "request": {"url": "http://h.example/x?token=real", "client": "redrive"}}
    letter = dlq.Letter(1, 0, doc)
    assert (letter.intake, letter.reason, letter.key) == (False, "fetch_timeout", "j1")
    assert "real" not in json.dumps(letter.public()) and letter.public()["redrivable"]
    key, value = letter.redrive_record() or (None, b"")
    assert key == key_bytes("j1") and json.loads(value)["url"].endswith("token=real")
    assert dlq.Letter(1, 1, {**doc, "request": None}).redrive_record() is None


def test_filters_and_pages() -> None:
    letters = [_intake_letter(b"{}", key=f"k{i}".encode(), at=float(i)) for i in range(5)]
    flt = dlq.Filter.from_query({"since": "1", "until": "4", "reason": "missing_field"})
    assert [lt.key for lt in letters if flt.matches(lt)] == ["k1", "k2", "k3"]
    assert [lt.key for lt in letters if dlq.Filter(key="k4").matches(lt)] == ["k4"]
    assert not dlq.Filter(reason="not_json").matches(letters[0])
    first = dlq.page(letters, 0, 2)
    assert (first["total"], first["next"], len(first["letters"])) == (5, 2, 2)
    assert dlq.page(letters, 4, 2)["next"] is None
    with pytest.raises(BadRequest):
        dlq.Filter.from_query({"since": "yesterday"})


def test_a_cancel_applies_to_a_queued_or_running_job_whatever_its_run() -> None:
    row = PlaylistJob(job_id="j", url="http://h/x", status=JobStatus.RUNNING, run_id="r2")
    ev = ParseEvent(kind="cancelled", job_id="j", run_id="r1", at=9.0)
    cancelled = apply_event(row, ev, retry_base_s=1, jitter=0)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.error == {"code": "cancelled", "message": "cancelled by request"}
    assert apply_event(cancelled, ev, retry_base_s=1, jitter=0) is None
    assert decide(cancelled, force=False, replay=False, now=10, ttl_s=60).value == "queue"


def test_a_media_cancel_event_ends_the_job_and_a_new_upload_restarts_it() -> None:
    row = MediaJob(media_id="m", bucket="b", key="k", status="queued", run_id="r1")
    ev = PrewarmEvent(kind="cancelled", media_id="m", run_id="old", at=3.0)
    kwargs = {"weights": Settings().score, "max_attempts": 3, "retry_base_s": 1.0, "jitter": 0.0,
              "next_run_id": "r2"}
    cancelled = media_jobs.apply_event(row, ev, **kwargs)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert media_jobs.apply_event(cancelled, ev, **kwargs) is None
    assert media_jobs.upload_starts_job(cancelled, force=False)
