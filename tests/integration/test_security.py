"""Issue 16 against a live worker: each defect of the hostile review, reproduced."""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.conftest import S3Server, Worker, WorkerFactory, poll
from tests.integration.http_server import serve_aiohttp, synthetic_playlist
from tests.integration.tcp_proxy import TcpProxy
from tests.unit.traversal import traversal_matrix

PHOTO = b"p" * 1000


def raw(worker: Worker, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) without any default header."""
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def upload(worker: Worker, media_id: str, key: str, **extra: Any) -> tuple[int, dict]:
    body = {"media_id": media_id, "bucket": "media", "key": key, "size": len(PHOTO),
            "kind": "photo", "content_type": "image/jpeg", **extra}
    return worker.request("POST", "/api/media/uploads", body)


def final(worker: Worker, path: str, timeout: float = 60) -> dict:
    def check() -> dict | None:
        status, body = worker.request("GET", path)
        return body if status == 200 and body["status"] in ("done", "failed") else None
    return poll(check, timeout=timeout, what=path)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_file_destinations_cannot_escape(worker_factory: WorkerFactory, s3_server: S3Server,
                                        tmp_path: Path) -> None:
    """Defect 1: the traversal matrix is refused at submit, the writer re-checks."""
    # Deep enough that every relative escape of the matrix (up to four `..`) lands
    # inside `zone`, which the test lists; absolute targets are checked one by one.
    zone = tmp_path / "zone"
    warm, outside = zone / "d1" / "d2" / "d3" / "warm", zone / "tmp"
    warm.mkdir(parents=True)
    outside.mkdir()
    (zone / "outside").mkdir()
    (warm / "link-out").symlink_to(zone / "outside")
    worker = worker_factory(PIPELINE_PREWARM_DESTINATION=f"file://{warm}",
                            PIPELINE_PREWARM_RETRY_BASE_S="0.2")
    run = uuid.uuid4().hex[:8]
    s3_server.client().put_object(Bucket="media", Key=f"{run}/a.jpg", Body=PHOTO)

    before = tree(zone)
    absolute = [Path("/tmp/escaped"), Path("/etc/media"), Path(f"/media/{run}"),
                Path(f"/tmp/media/{run}")]
    absolute_before = {p for p in absolute if p.exists()}
    matrix = traversal_matrix(str(warm))
    assert len(matrix) >= 30
    refused = []
    for url in matrix:
        status, body = upload(worker, f"{run}-t", f"{run}/a.jpg", destination=url)
        if status != 422 or body["error"]["code"] != "url_refused":
            refused.append((url, status))
    assert refused == []
    status, body = upload(worker, f"{run}-t", f"{run}/a.jpg", size=10,
                          destination=f"file://{warm}/%2e%2e/%2e%2e/%2e%2e/tmp/x")
    assert status == 422, body
    # A path under the warm directory is fine.
    assert upload(worker, f"{run}-ok", f"{run}/a.jpg", destination=f"file://{warm}/sub")[0] == 202
    assert final(worker, f"/api/media/{run}-ok")["status"] == "done"
    assert (warm / "sub" / "media" / run / "a.jpg").read_bytes() == PHOTO
    # A symlink planted inside the warm directory: the writer re-checks and refuses.
    (warm / "media").symlink_to(zone / "outside")
    assert upload(worker, f"{run}-link", f"{run}/a.jpg")[0] == 202
    linked = final(worker, f"/api/media/{run}-link")
    assert linked["status"] == "failed" and linked["attempts"] == 1, linked
    assert linked["error"]["code"] == "destination_error"
    after = tree(zone)
    assert {p for p in after - before if not p.startswith("d1/d2/d3/warm/")} == set()
    assert {p for p in absolute if p.exists()} == absolute_before
    assert tree(zone / "outside") == set() and tree(outside) == set()


def test_s3_destinations_cannot_overwrite(worker_factory: WorkerFactory,
                                          s3_server: S3Server) -> None:
    """Defect 2: s3 only under an allowed prefix, never a pipeline bucket, a key per media id."""
    s3 = s3_server.client()
    s3.create_bucket(Bucket="prewarm-sec")
    worker = worker_factory(PIPELINE_PREWARM_ALLOWED_DESTINATIONS="s3://prewarm-sec/warm")
    run = uuid.uuid4().hex[:8]
    s3.put_object(Bucket="media", Key=f"{run}/a.jpg", Body=PHOTO)
    s3.put_object(Bucket="media", Key=f"{run}/victim/a.jpg", Body=b"victim")
    for dest in (f"s3://media/{run}/victim", "s3://pipeline-results/x", "s3://prewarm-sec",
                 "s3://prewarm-sec/other", "s3://prewarm-sec/warm/%2e%2e/other"):
        status, body = upload(worker, f"{run}-s", f"{run}/a.jpg", destination=dest)
        assert status == 422 and body["error"]["code"] == "url_refused", (dest, body)
    s3.put_object(Bucket="prewarm-sec", Key=f"warm/{run}/a.jpg", Body=b"not ours")
    upload(worker, f"{run}-c1", f"{run}/a.jpg", destination="s3://prewarm-sec/warm/")
    done = final(worker, f"/api/media/{run}-c1")
    assert done["destination_ref"] == f"s3://prewarm-sec/warm/{run}-c1/{run}/a.jpg", done
    got = s3.get_object(Bucket="prewarm-sec", Key=f"warm/{run}-c1/{run}/a.jpg")["Body"].read()
    assert got == PHOTO
    assert s3.get_object(Bucket="prewarm-sec", Key=f"warm/{run}/a.jpg")["Body"].read() \
        == b"not ours"
    assert s3.get_object(Bucket="media", Key=f"{run}/victim/a.jpg")["Body"].read() == b"victim"


def test_permanent_s3_errors_fail_at_once(worker_factory: WorkerFactory,
                                          s3_server: S3Server) -> None:
    """Defect 8: an S3 refusal (bad bucket name, bad key) is not retried."""
    worker = worker_factory(PIPELINE_PREWARM_ALLOWED_DESTINATIONS="s3://Bad_Bucket/warm",
                            PIPELINE_PREWARM_RETRY_BASE_S="0.1")
    run = uuid.uuid4().hex[:8]
    s3_server.client().put_object(Bucket="media", Key=f"{run}/a.jpg", Body=PHOTO)
    # InvalidBucketName on the write, InvalidRequest on the read of `..` and NUL keys.
    upload(worker, f"{run}-bucket", f"{run}/a.jpg", destination="s3://Bad_Bucket/warm")
    upload(worker, f"{run}-dots", f"{run}/../{run}/a.jpg")
    upload(worker, f"{run}-nul", f"{run}/a\u0000.jpg")
    for media_id in (f"{run}-bucket", f"{run}-dots", f"{run}-nul"):
        job = final(worker, f"/api/media/{media_id}")
        assert job["status"] == "failed" and job["attempts"] == 1, job
        assert job["error"]["code"] == "storage_refused", job


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


JSON_TYPE = {"Content-Type": "application/json"}


def test_cross_site_requests_refused(worker_factory: WorkerFactory) -> None:
    """Defect 3: JSON only as application/json; Origin checked; CORS only when allowed."""
    worker = worker_factory(PIPELINE_ALLOWED_ORIGINS="https://dash.example")
    upload_body = _json({"media_id": "x1", "bucket": "media", "key": "k", "size": 1,
                         "kind": "photo", "destination": "null://"})
    parse_body = _json({"url": "http://example.com/x.m3u"})
    json_type = JSON_TYPE

    # A "simple" cross-site request (text/plain, form) is refused: 415
    for path, body in (("/api/media/uploads", upload_body), ("/api/playlist/parse", parse_body)):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": ctype} if ctype else {}
            status, _, answer = raw(worker, "POST", path, body, headers)
            assert status == 415, (path, ctype, answer)
            assert json.loads(answer)["error"]["code"] == "unsupported_media_type"
    # An Origin not allowed: 403 and no CORS headers, for reads, writes and preflights.
    evil = {"Origin": "https://evil.example"}
    for method, path, body in (("POST", "/api/media/uploads", upload_body),
                               ("GET", "/api/media/x1", None),
                               ("OPTIONS", "/api/media/uploads", None)):
        status, headers, answer = raw(worker, method, path, body, {**json_type, **evil})
        assert status == 403, (method, path, answer)
        assert "access-control-allow-origin" not in headers
    # The allowed origin gets its CORS headers and a preflight answer.
    dash = {"Origin": "https://dash.example"}
    status, headers, _ = raw(worker, "OPTIONS", "/api/media/uploads", None,
                             {**dash, "Access-Control-Request-Method": "POST"})
    assert status == 204 and headers["access-control-allow-origin"] == "https://dash.example"
    status, headers, answer = raw(worker, "POST", "/api/media/uploads", upload_body,
                                  {**json_type, **dash})
    assert status == 202, answer
    assert headers["access-control-allow-origin"] == "https://dash.example"
    status, headers, _ = raw(worker, "POST", "/api/media/uploads", upload_body, json_type)
    assert status in (200, 202) and "access-control-allow-origin" not in headers



def test_unencodable_text_is_a_bad_request(worker_factory: WorkerFactory) -> None:
    """Defect 5: lone surrogates in any text field: 400, never 500."""
    worker = worker_factory()
    json_type = JSON_TYPE
    template = ('{"media_id": "s1", "bucket": "media", "key": "k", "size": 1, "kind": "photo",'
                ' "destination": "null://", %s}')
    for field in ('"key": "a\\ud800"', '"destination": "null://\\ud800"',
                  '"content_type": "image/\\udfff"', '"media_id": "\\ud800"'):
        body = (template % field).encode()
        status, _, answer = raw(worker, "POST", "/api/media/uploads", body, json_type)
        assert status == 400, (field, answer)
        assert json.loads(answer)["error"]["code"] == "bad_request"
    status, _, answer = raw(worker, "POST", "/api/playlist/parse",
                            b'{"url": "http://example.com/\\ud800"}', json_type)
    assert status == 400 and json.loads(answer)["error"]["code"] in ("bad_request",
                                                                     "invalid_url")


def _redaction_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=synthetic_playlist(30))

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def loop(request: web.Request) -> web.Response:
        secret = "to=http%3A%2F%2Fh%2Fget.php%3Fusername%3DLoopUser%26password%3DLoopPass"
        raise web.HTTPFound(f"/loop?{secret}")

    app = web.Application()
    app.router.add_get("/ok.m3u", ok)
    app.router.add_get("/loop", loop)
    app.router.add_route("GET", "/{tail:.*}", missing)
    return app


SECRETS = ("SecretUser", "SecretPass", "LoopUser", "LoopPass")


def _parse(worker: Worker, urls: dict[str, str]) -> tuple[dict[str, str], dict[str, dict]]:
    jobs = {}
    for name, url in urls.items():
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        assert status == 202, (name, body)
        jobs[name] = body["job_id"]
    answers = {name: final(worker, f"/api/playlist/jobs/{job}") for name, job in jobs.items()}
    return jobs, answers


def test_credentials_redacted_in_answers_and_logs(worker_factory: WorkerFactory) -> None:
    """Defect 4: array names, empty segments, nested URLs, redirect hops."""
    with serve_aiohttp(_redaction_app()) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        _, answers = _parse(worker, {
            "array": f"{base}/get.php?username[]=SecretUser&password[]=SecretPass",
            "empty_segment": f"{base}/live//SecretUser/SecretPass/1.ts",
            "nested": f"{base}/x?to=http://host/get.php%3Fusername%3DSecretUser"
                      f"%26password%3DSecretPass",
            "nested_userinfo": f"{base}/y?to=http://SecretUser:SecretPass@host/",
            "redirects": f"{base}/loop",
        })
        assert answers["redirects"]["error"]["code"] == "too_many_redirects"
        for name, answer in answers.items():
            assert not any(s in json.dumps(answer) for s in SECRETS), (name, answer)
        logs = worker.logs()
        assert not any(s in logs for s in SECRETS)


def test_items_of_a_failed_job_conflict(worker_factory: WorkerFactory) -> None:
    """Defect 6: 409 with the job's code, not 503 + Retry-After forever."""
    with serve_aiohttp(_redaction_app()) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        jobs, answers = _parse(worker, {"missing": f"{base}/missing.m3u"})
        assert answers["missing"]["status"] == "failed"
        status, headers, body = raw(worker, "GET", f"/api/playlist/jobs/{jobs['missing']}/items")
        assert status == 409 and "retry-after" not in headers, body
        assert json.loads(body)["error"]["code"] == answers["missing"]["error"]["code"]


def test_items_content_negotiation(worker_factory: WorkerFactory) -> None:
    """Defect 7: Accept-Encoding with q-values, case-insensitive."""
    with serve_aiohttp(_redaction_app()) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        jobs, answers = _parse(worker, {"ok": f"{base}/ok.m3u"})
        assert answers["ok"]["status"] == "done"
        items = f"/api/playlist/jobs/{jobs['ok']}/items"
        for header, gzipped in (("gzip;q=0", False), ("GZIP", True), ("br;q=1, gzip;q=0.5", True),
                                ("identity", False), ("*;q=0", False), ("gzip", True)):
            status, headers, body = raw(worker, "GET", items, None, {"Accept-Encoding": header})
            assert status == 200
            assert (headers.get("content-encoding") == "gzip") is gzipped, header
            assert body.startswith(b"\x1f\x8b") is gzipped, header


def test_health_degrades_when_s3_is_unreachable(worker_factory: WorkerFactory,
                                                s3_server: S3Server) -> None:
    with TcpProxy(s3_server.endpoint) as proxy:
        worker = worker_factory(PIPELINE_S3_ENDPOINT=proxy.endpoint,
                                PIPELINE_S3_PROBE_TTL_S="0.5", PIPELINE_S3_PROBE_TIMEOUT_S="1")
        status, body = worker.request("GET", "/health")
        assert status == 200 and body["status"] == "ok" and body["s3"] is True
        proxy.pause()
        body = poll(lambda: (lambda r: r[1] if r[1].get("status") == "degraded" else None)(
            worker.request("GET", "/health")), timeout=15, what="degraded health")
        assert body["s3"] is False and body["broker"] is True
        proxy.resume()
        poll(lambda: worker.request("GET", "/health")[1].get("status") == "ok", timeout=15,
             what="health back to ok")


def test_idle_connections_are_closed(worker_factory: WorkerFactory) -> None:
    """Defect 9: idle connections and unfinished headers are closed by the server."""
    worker = worker_factory(PIPELINE_WEB_KEEPALIVE_TIMEOUT_S="1")
    for payload in (b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"):
        with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as sock:
            sock.sendall(payload)
            t0 = time.monotonic()
            try:
                data = sock.recv(1024)
            except TimeoutError:
                data = b"still open"
            assert data == b"", payload  # closed by the server, not by our timeout
            assert time.monotonic() - t0 < 8
