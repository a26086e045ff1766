"""The API models: validation keeps the old codes and messages, answers match their
models, and the generated schemas are OpenAPI 3.0 with every reference resolved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import api_models as api
from pipeline.api_models.base import ApiModel
from pipeline.errors import BadRequest, InvalidURL, PipelineError, URLRefused
from pipeline.media import rules as media_rules
from pipeline.playlist import rules as playlist_rules
from pipeline.records import MediaJob, PlaylistJob
from pipeline.settings import ScoreWeights, Settings

NOW = 1_700_000_000.0
UPLOAD = {"media_id": "m1", "key": "u/1.jpg", "size": 10, "kind": "photo"}


def parse(body: dict[str, Any], max_url_length: int = 100) -> api.ParseRequest:
    return api.validate(api.ParseRequest, body, max_url_length=max_url_length)


def upload(**fields: Any) -> dict[str, Any]:
    return media_rules.validate_upload({**UPLOAD, **fields}, default_bucket="media", now=NOW)


def refused(call: Any, *args: Any, **kwargs: Any) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        call(*args, **kwargs)
    return info.value


# --- requests


def test_parse_request_keeps_the_url_codes() -> None:
    assert parse({"url": "  http://feed.example/a.m3u "}).url == "http://feed.example/a.m3u"
    assert parse({"url": "http://feed.example/", "force": True}).force is True
    for body in ({}, {"url": None}, {"url": 5}, {"url": ""}, {"url": "http://x/" + "a" * 100}):
        assert type(refused(parse, body)) is InvalidURL, body
    assert type(refused(parse, {"url": "ftp://feed.example/"})) is URLRefused


def test_parse_request_force_and_surrogates_are_bad_requests() -> None:
    err = refused(parse, {"url": "http://feed.example/", "force": "yes"})
    assert type(err) is BadRequest and err.message == "`force` must be true or false"
    err = refused(parse, {"url": "http://feed.example/\ud800"})
    assert type(err) is BadRequest and "UTF-8" in err.message
    err = refused(parse, {"url": "http://feed.example/", "note": ["\udfff"]})
    assert type(err) is BadRequest  # anywhere in the body, known field or not


def test_upload_defaults_and_what_counts_as_absent() -> None:
    fields = upload()
    assert fields == {"media_id": "m1", "bucket": "media", "key": "u/1.jpg", "size": 10,
                      "kind": "photo", "content_type": "", "uploaded_at": NOW,
                      "destination": None, "force": False}
    assert upload(content_type=None)["content_type"] == ""
    assert upload(destination="")["destination"] is None
    assert upload(uploaded_at=0)["uploaded_at"] == NOW
    assert upload(uploaded_at=False)["uploaded_at"] == NOW  # `== 0`, as it always was
    assert upload(unknown_field=[1, 2])["media_id"] == "m1"  # unknown fields ignored


@pytest.mark.parametrize(("fields", "message"), [
    ({"bucket": None}, "`bucket` must be a non-empty string of at most 255 bytes"),
    ({"bucket": ""}, "`bucket` has characters that are not allowed"),
    ({"media_id": "a/b"}, "`media_id` has characters that are not allowed"),
    ({"media_id": 7}, "`media_id` must be a non-empty string of at most 200 bytes"),
    ({"key": "é" * 600}, "`key` must be a non-empty string of at most 1024 bytes"),
    ({"size": api.MAX_OBJECT_BYTES + 1}, "`size` must be a whole number of bytes, 0 to 5 TiB"),
    ({"size": 10.0}, "`size` must be a whole number of bytes, 0 to 5 TiB"),
    ({"kind": "gif"}, "`kind` must be one of photo, video, audio, document, other"),
    ({"content_type": "x" * 256}, "`content_type` must be a string of at most 255 characters"),
    ({"destination": 7}, "`destination` must be a URL string of at most 2048 characters"),
    ({"uploaded_at": True}, "`uploaded_at` must be epoch seconds or ISO-8601"),
    ({"uploaded_at": 1e300}, "`uploaded_at` must be epoch seconds or ISO-8601"),
    ({"uploaded_at": 10**400}, "`uploaded_at` must be epoch seconds or ISO-8601"),
    ({"uploaded_at": "soon"}, "`uploaded_at` must be epoch seconds or ISO-8601"),
    ({"force": None}, "`force` must be true or false"),
])
def test_upload_errors_are_readable_bad_requests(fields: dict[str, Any], message: str) -> None:
    err = refused(upload, **fields)
    assert type(err) is BadRequest and err.message == message


def test_upload_limits_are_inclusive_and_counted_as_documented() -> None:
    assert upload(size=api.MAX_OBJECT_BYTES)["size"] == api.MAX_OBJECT_BYTES
    assert upload(key="é" * 512)["key"] == "é" * 512  # 1024 UTF-8 bytes
    assert upload(media_id="m" * 200)["media_id"] == "m" * 200
    assert type(refused(upload, media_id="m" * 201)) is BadRequest
    assert type(refused(upload, media_id="m1\n")) is BadRequest  # `$` is the very end
    with pytest.raises(BadRequest, match="`media_id` is required"):
        media_rules.validate_upload({"key": "k", "size": 1, "kind": "photo"},
                                    default_bucket="media", now=NOW)


def test_upload_json_round_trip_is_the_kafka_record() -> None:
    fields = upload(uploaded_at="2023-11-14T22:13:20Z", destination="null://")
    assert json.loads(json.dumps(fields)) == fields
    assert fields["uploaded_at"] == NOW


# --- answers


def _documented(model: type[ApiModel], answer: dict[str, Any]) -> None:
    names = {field.alias or name for name, field in model.model_fields.items()}
    assert set(answer) <= names, set(answer) - names  # nothing undocumented
    model.model_validate(answer)


def test_playlist_answers_match_their_models() -> None:
    base = {"job_id": "j1", "url": "http://u:p@feed.example/a.m3u", "created_at": NOW}
    done = PlaylistJob(**base, status="done", counts={"live": 2}, result_items=2,
                       result_uri="s3://results/j1.ndjson.gz", finished_at=NOW + 1)
    failed = PlaylistJob(**base, status="failed",
                         error={"code": "fetch_timeout", "message": "slow"})
    for row, position in ((done, None), (failed, None),
                          (PlaylistJob(**base, status="queued"), 3)):
        _documented(api.PlaylistJob, playlist_rules.job_answer(row, position))


def test_media_answers_match_their_models() -> None:
    row = MediaJob(media_id="m1", bucket="media", key="k", status="queued", size=10,
                   kind="photo", uploaded_at=NOW, created_at=NOW, not_before=NOW + 60)
    for r in (row, row.derive(status="failed", error={"code": "storage_error",
                                                      "message": "x"})):
        answer = media_rules.job_answer(r, NOW, ScoreWeights(), position=1)
        _documented(api.MediaJob, answer)


# --- schemas


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_schemas_are_openapi_30_and_self_contained() -> None:
    schemas = api.openapi_schemas(Settings())
    for node in _walk(schemas):
        if not isinstance(node, dict):
            continue
        assert not {"$defs", "const", "examples", "prefixItems"} & set(node), node
        assert {"type": "null"} not in node.get("anyOf", []), node
        if "$ref" in node:
            assert set(node) == {"$ref"}, node  # 3.0 ignores keys beside a $ref
            name = node["$ref"].removeprefix("#/components/schemas/")
            assert name in schemas, node["$ref"]
        if node.get("default", 0) is None:
            assert node.get("nullable") is True, node


def test_schemas_take_limits_and_defaults_from_settings() -> None:
    schemas = api.openapi_schemas(Settings(max_url_length=321, media_bucket="uploads"))
    assert schemas["ParseRequest"]["properties"]["url"]["maxLength"] == 321
    upload_schema = schemas["MediaUpload"]
    assert upload_schema["properties"]["bucket"]["default"] == "uploads"
    assert upload_schema["properties"]["bucket"]["pattern"] == api.BUCKET_PATTERN
    assert upload_schema["properties"]["size"]["maximum"] == api.MAX_OBJECT_BYTES
    assert set(upload_schema["required"]) == {"media_id", "key", "size", "kind"}
