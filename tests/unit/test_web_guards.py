"""Pure request guards, S3 error classes, the S3 probe and the UTF-8 edge check."""

from __future__ import annotations

import asyncio

import pytest

from pipeline import storage
from pipeline.encoding import require_utf8
from pipeline.errors import BadRequest, Forbidden, JobFailed, UnsupportedMediaType
from pipeline.s3probe import S3Probe
from pipeline.web import guards
from pipeline.web.errors import error_answer


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("GZIP", True), ("deflate, Gzip;q=0.5", True), ("br, *", True),
    ("x-gzip", True), ("gzip;q=0", False), ("gzip; q=0.000", False), ("*;q=0", False),
    ("identity", False), ("", False), (None, False), ("gzipper", False),
    ("gzip;q=0, *", False), ("*, gzip;q=0", False), ("gzip;q=bogus", False),
])
def test_accept_encoding(header: str | None, gzip: bool) -> None:
    assert guards.accepts_gzip(header) is gzip


def test_origin_check() -> None:
    allowed = ["https://dash.example"]
    guards.check_origin({}, allowed)
    guards.check_origin({"Origin": "https://dash.example"}, allowed)
    guards.check_origin({"Origin": "https://dash.example"}, ["https://Dash.Example/"])
    for origin in ("https://evil.example", "null", "http://dash.example",
                   "https://dash.example.evil"):
        with pytest.raises(Forbidden):
            guards.check_origin({"Origin": origin}, allowed)
    with pytest.raises(Forbidden):
        guards.check_origin({"Origin": "http://127.0.0.1:6066"}, [])


def test_cors_headers_only_for_allowed_origins() -> None:
    allowed = ["https://dash.example"]
    assert guards.cors_headers({"Origin": "https://evil.example"}, allowed) == {}
    assert guards.cors_headers({}, allowed) == {}
    got = guards.cors_headers({"Origin": "https://dash.example"}, allowed)
    assert got["Access-Control-Allow-Origin"] == "https://dash.example"
    assert got["Vary"] == "Origin"


@pytest.mark.parametrize("ctype", [None, "", "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonp",
                                   "text/json"])
def test_json_content_type_required(ctype: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        guards.require_json(ctype)


def test_json_content_type_accepted() -> None:
    guards.require_json("application/json")
    guards.require_json("Application/JSON; charset=utf-8")


def test_failed_and_cancelled_jobs_have_no_items() -> None:
    guards.refuse_finished_without_result("done", None)
    guards.refuse_finished_without_result("running", None)
    with pytest.raises(JobFailed) as caught:
        guards.refuse_finished_without_result(
            "failed", {"code": "not_a_playlist", "message": "HTML"})
    status, body, headers = error_answer(caught.value)
    assert status == 409 and body["error"]["code"] == "not_a_playlist"
    assert "Retry-After" not in headers
    with pytest.raises(JobFailed) as caught:
        guards.refuse_finished_without_result("cancelled", None)
    assert caught.value.code == "cancelled"


@pytest.mark.parametrize("body", [
    {"url": "\ud800"}, {"key": "a\udfffb"}, {"\ud800": 1}, {"x": [{"y": "\udc00"}]},
])
def test_unencodable_text_is_a_bad_request(body: dict) -> None:
    with pytest.raises(BadRequest):
        require_utf8(body)


def test_encodable_text_passes() -> None:
    require_utf8({"url": "http://h/é😀", "n": 1, "l": [None, True, "ok"]})


@pytest.mark.parametrize(("code", "status", "kind"), [
    ("InvalidBucketName", 400, "permanent"), ("InvalidRequest", 400, "permanent"),
    ("AccessDenied", 403, "permanent"), ("InvalidArgument", 400, "permanent"),
    ("NoSuchKey", 404, "missing"), ("NoSuchBucket", 404, "missing"),
    ("SlowDown", 503, "transient"), ("InternalError", 500, "transient"),
    ("RequestTimeout", 400, "transient"), ("", 0, "transient"), ("Weird", 422, "permanent"),
    ("Weird", 502, "transient"),
])
def test_s3_error_classes(code: str, status: int, kind: str) -> None:
    assert storage.classify(code, status) == kind


def test_s3_errors_translate_permanent_ones() -> None:
    from botocore.exceptions import ClientError

    from pipeline.errors import StorageError, StorageRefused

    def fail(code: str, status: int) -> None:
        with storage.s3_errors("b", "k"):
            raise ClientError({"Error": {"Code": code},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")

    with pytest.raises(StorageRefused) as caught:
        fail("InvalidBucketName", 400)
    assert not caught.value.transient and caught.value.code == "storage_refused"
    with pytest.raises(StorageError) as caught2:
        fail("SlowDown", 503)
    assert caught2.value.transient


def test_s3_probe_is_cached_and_bounded() -> None:
    calls: list[int] = []
    state = {"mode": "ok"}

    async def check() -> None:
        calls.append(1)
        if state["mode"] == "hang":
            await asyncio.sleep(30)
        if state["mode"] == "fail":
            raise OSError("refused")

    async def settled(probe: S3Probe, expected: bool) -> float:
        """Seconds until a check answers `expected`; each check must answer at once."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while True:
            asked = loop.time()
            answer = await probe.check()
            assert loop.time() - asked < 0.05  # never waits for a probe after the first
            if answer is expected:
                return loop.time() - t0
            assert loop.time() - t0 < 2, "the probe's answer never arrived"
            await asyncio.sleep(0.01)

    async def run() -> None:
        probe = S3Probe(check, ttl_s=60, timeout_s=0.2)
        assert all(await asyncio.gather(*(probe.check() for _ in range(20))))
        assert len(calls) == 1  # concurrent callers share one probe, then the cache
        probe.ttl_s = 0.05
        state["mode"] = "hang"
        # A hanging S3: checks keep answering from the cache; the timeout marks it down.
        assert await settled(probe, False) >= 0.2
        state["mode"] = "ok"
        await settled(probe, True)
        state["mode"] = "fail"
        await settled(probe, False)
        made = len(calls)
        probe.ttl_s = 60
        await asyncio.gather(*(probe.check() for _ in range(20)))
        assert len(calls) == made  # fresh answer: no new probe

    asyncio.run(run())


def test_s3_probe_close_cancels_a_background_probe() -> None:
    ended: list[str] = []

    async def check() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            ended.append("probe")

    async def run() -> None:
        probe = S3Probe(check, ttl_s=0, timeout_s=60)
        probe._checked_at = 0.0  # answered before: the next check probes in the background
        assert await probe.check() is True
        await asyncio.sleep(0.01)
        assert ended == []  # still running in the background
        await probe.close()  # the worker stops: the probe ends before the client closes
        assert ended == ["probe"]
        await probe.close()  # nothing left to cancel

    asyncio.run(run())
