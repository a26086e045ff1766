"""pipeline.intake: records from any producer become keyed requests or dead letters."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.intake import (
    MEDIA_FIELDS,
    PARSE_FIELDS,
    REASONS,
    Accepted,
    IntakeRules,
    RawRecord,
    Rejected,
    decode_bytes,
    decode_media_upload,
    decode_parse_request,
    encode_bytes,
    in_place,
)
from pipeline.partitioning import key_bytes, key_partition
from pipeline.urls import job_id_for

NOW = 1_700_000_000.0
RULES = IntakeRules(partitions=8, max_bytes=4096, unknown_tolerance=2,
                    allowed_buckets=frozenset({"media", "uploads"}),
                    default_destination="file:///srv/warm", protected_buckets=("results",),
                    allowed_destinations=("s3://warm-bucket/warm",))
URL = "HTTP://Example.COM:80/list.m3u?username=u&password=p"
JOB = job_id_for(URL)


def rec(value: Any, key: bytes | None = None, partition: int = 3, offset: int = 42,
        topic: str = "playlist.parse.requests") -> RawRecord:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return RawRecord(topic, partition, offset, key, raw)


def parse(value: Any, **kw: Any) -> Accepted | Rejected:
    return decode_parse_request(rec(value, **kw), RULES, NOW)


def accepted(outcome: Accepted | Rejected) -> Accepted:
    assert isinstance(outcome, Accepted), outcome
    return outcome


def rejected(outcome: Accepted | Rejected, reason: str) -> Rejected:
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason == reason, outcome
    return outcome


# --- parse requests


def test_minimal_request_gets_defaults_and_the_derived_job_id() -> None:
    got = accepted(parse({"url": URL}))
    assert got.key == JOB
    assert got.value == {"url": URL, "force": False, "replay": False, "requested_at": NOW,
                         "client": "kafka", "request_id": "3:42", "callback_url": None}
    assert got.key_state == "absent" and got.ignored == ()


def test_faust_serialised_request_is_accepted_as_is() -> None:
    body = {"url": URL, "force": True, "requested_at": 5.0, "client": "api",
            "request_id": "abc", "replay": False,
            "__faust": {"ns": "pipeline.records.ParseRequest"}}
    got = accepted(parse(body, key=key_bytes(JOB)))
    assert got.value["force"] is True and got.value["request_id"] == "abc"
    assert got.value["requested_at"] == 5.0 and "__faust" not in got.value
    assert got.key_state == "ours" and got.ignored == ()


@pytest.mark.parametrize(("key", "state"), [
    (None, "absent"), (b"", "absent"), (key_bytes(JOB), "ours"), (JOB.encode(), "raw"),
    (b'"someone-else"', "other"), (b"\xff\x00", "other")])
def test_any_key_is_fine_and_classified(key: bytes | None, state: str) -> None:
    got = accepted(parse({"url": URL}, key=key))
    assert got.key == JOB and got.key_state == state


def test_in_place_only_with_our_key_on_the_owning_partition() -> None:
    home = key_partition(JOB, 8)
    assert in_place(rec({"url": URL}, key_bytes(JOB), partition=home), JOB, 8)
    assert not in_place(rec({"url": URL}, key_bytes(JOB), partition=(home + 1) % 8), JOB, 8)
    assert not in_place(rec({"url": URL}, JOB.encode(), partition=home), JOB, 8)
    assert not in_place(rec({"url": URL}, None, partition=home), JOB, 8)


def test_unknown_fields_within_tolerance_are_dropped() -> None:
    got = accepted(parse({"url": URL, "b_extra": 1, "a_extra": 2}))
    assert got.ignored == ("a_extra", "b_extra") and "a_extra" not in got.value
    bad = rejected(parse({"url": URL, "x": 1, "y": 2, "z": 3}), "unknown_field")
    assert bad.extra == {"fields": ["x", "y", "z"]}


def test_callback_url_is_validated_like_a_playlist_url() -> None:
    assert accepted(parse({"url": URL, "callback_url": "https://hooks.example/x"})
                    ).value["callback_url"] == "https://hooks.example/x"
    assert rejected(parse({"url": URL, "callback_url": "ftp://x/y"}), "refused"
                    ).error_code == "url_refused"
    rejected(parse({"url": URL, "callback_url": 5}), "bad_field")


@pytest.mark.parametrize(("value", "reason", "code"), [
    (None, "empty", ""),
    (b"", "empty", ""),
    (b"not json", "not_json", ""),
    (b"\xff\xfe{}", "not_json", ""),
    (b"[" * 100_000, "too_large", ""),
    (b"[" * 4000, "not_json", ""),  # nesting deeper than the JSON parser allows
    ([1, 2], "not_object", ""),
    ("a string", "not_object", ""),
    ({}, "missing_field", ""),
    ({"url": None}, "missing_field", ""),
    ({"url": 12}, "bad_field", "invalid_url"),
    ({"url": "example.com/x.m3u"}, "bad_field", "invalid_url"),
    ({"url": "file:///etc/passwd"}, "refused", "url_refused"),
    ({"url": URL, "force": "yes"}, "bad_field", "bad_request"),
    ({"url": URL, "requested_at": "now"}, "bad_field", "bad_request"),
    ({"url": URL, "requested_at": True}, "bad_field", "bad_request"),
    ({"url": URL, "client": "c" * 201}, "bad_field", "bad_request"),
    ({"url": URL, "request_id": ["x"]}, "bad_field", "bad_request"),
])
def test_poison_records_are_rejected_with_a_reason(value: Any, reason: str, code: str) -> None:
    got = rejected(parse(value), reason)
    assert got.error_code == code and got.message


def test_dead_letter_keeps_where_the_record_was_and_its_bytes() -> None:
    bad = rejected(parse(b"\xff not json", key=b"k1", partition=5, offset=9), "not_json")
    doc = bad.dead_letter(at=NOW)
    assert doc["topic"] == "playlist.parse.requests"
    assert (doc["partition"], doc["offset"], doc["at"]) == (5, 9, NOW)
    assert doc["key"] == {"text": "k1"}
    assert decode_bytes(doc["value"]) == b"\xff not json"
    assert json.loads(json.dumps(doc)) == doc  # it is JSON as it stands


def test_encode_bytes_text_base64_and_truncation() -> None:
    assert encode_bytes(None) is None and decode_bytes(None) is None
    assert encode_bytes("é".encode()) == {"text": "é"}
    assert encode_bytes(b"\x00\xff") == {"base64": base64.b64encode(b"\x00\xff").decode()}
    cut = encode_bytes(b"abcdef", keep_bytes=4)
    assert cut is not None and cut["text"] == "abcd" and cut["truncated"] is True
    assert cut["length"] == 6 and len(cut["sha256"]) == 64


# --- media uploads

UPLOAD = {"media_id": "m-1", "bucket": "media", "key": "a/b.mp4", "size": 10, "kind": "video"}


def media(value: Any, **kw: Any) -> Accepted | Rejected:
    return decode_media_upload(rec(value, topic="media.uploads", **kw), RULES, NOW)


def test_upload_with_any_key_is_keyed_by_its_media_id() -> None:
    for key in (None, b"whatever", key_bytes("m-1")):
        got = accepted(media(UPLOAD, key=key))
        assert got.key == "m-1"
    assert got.key_state == "ours"
    assert got.value["uploaded_at"] == NOW and got.value["replay"] is False
    assert got.value["callback_url"] is None and got.value["bucket"] == "media"


@pytest.mark.parametrize(("change", "reason"), [
    ({"media_id": None}, "missing_field"),
    ({"size": None}, "missing_field"),
    ({"size": -1}, "bad_field"),
    ({"kind": "hologram"}, "bad_field"),
    ({"media_id": "bad id with spaces"}, "bad_field"),
    ({"bucket": "results"}, "refused"),
    ({"destination": "gopher://x"}, "bad_field"),
    ({"destination": "s3://results/x"}, "refused"),
    ({"destination": "https://elsewhere.example/x"}, "refused"),
    ({"replay": 1}, "bad_field"),
    ({"callback_url": "javascript:alert(1)"}, "refused"),
])
def test_bad_uploads(change: dict[str, Any], reason: str) -> None:
    rejected(media({**UPLOAD, **change}), reason)


def test_allowed_destination_passes() -> None:
    got = accepted(media({**UPLOAD, "destination": "s3://warm-bucket/warm/x"}))
    assert got.value["destination"] == "s3://warm-bucket/warm/x"


def test_rules_from_settings() -> None:
    from pipeline.settings import Settings

    conf = Settings(topic_partitions=4, media_bucket="m", media_source_buckets=["x"])
    rules = IntakeRules.from_settings(conf)
    assert rules.partitions == 4 and rules.allowed_buckets == frozenset({"m", "x"})
    assert rules.max_bytes == conf.max_body_bytes
    assert conf.results_bucket in rules.protected_buckets


def test_unparseable_destination_is_a_bad_field_not_a_crash() -> None:
    got = rejected(media({**UPLOAD, "destination": "http://[::1"}), "bad_field")
    assert got.error_code == "bad_request"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
_field_names = st.sampled_from([*sorted(PARSE_FIELDS | MEDIA_FIELDS), "zz", "url "])


@settings(max_examples=120, deadline=None)
@given(value=st.binary(max_size=300) | st.none(), key=st.binary(max_size=40) | st.none())
def test_any_bytes_are_accepted_or_rejected_never_raised(value: bytes | None,
                                                         key: bytes | None) -> None:
    for decode in (decode_parse_request, decode_media_upload):
        got = decode(RawRecord("t", 0, 0, key, value), RULES, NOW)
        assert isinstance(got, Accepted | Rejected)
        if isinstance(got, Rejected):
            assert got.reason in REASONS
            json.dumps(got.dead_letter(at=NOW))


@settings(max_examples=120, deadline=None)
@given(body=st.dictionaries(_field_names, _json | st.text(max_size=60), max_size=8))
def test_any_object_is_accepted_or_rejected_never_raised(body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    for decode in (decode_parse_request, decode_media_upload):
        got = decode(RawRecord("t", 0, 0, None, raw), RULES, NOW)
        assert isinstance(got, Accepted | Rejected)
        if isinstance(got, Rejected):
            assert got.reason in REASONS
