"""Parse failures, safety and durability against a real worker, broker and S3."""

from __future__ import annotations

import signal
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def _item_count(worker, job_id: str) -> int:  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(worker.base + f"/api/playlist/jobs/{job_id}/items") as resp:
        return sum(1 for _ in resp)


def test_error_codes_and_worker_keeps_serving(worker_factory: WorkerFactory) -> None:
    routes = {
        "/html": (200, b"<!DOCTYPE html><html><body>Account expired</body></html>", {}, 0.0),
        "/json": (200, b'{"user_info": {"auth": 0}}', {}, 0.0),
        "/missing": (404, b"not here", {}, 0.0),
        "/forbidden": (403, b"no", {}, 0.0),
        "/big": (200, synthetic_playlist(2000), {}, 0.0),
        "/ok": (200, synthetic_playlist(300), {}, 0.0),
    }
    with serve_routes(routes) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1",
                                PIPELINE_FETCH_MAX_BYTES="50000")
        expected = {"/html": "not_a_playlist", "/json": "not_a_playlist",
                    "/missing": "upstream_status", "/forbidden": "upstream_status",
                    "/big": "too_large"}
        jobs = {}
        for path in [*expected, "/ok"]:
            status, body = worker.request("POST", "/api/playlist/parse", {"url": base + path})
            assert status == 202, body
            jobs[path] = body["job_id"]
        for path, code in expected.items():
            body = poll(lambda p=path: _final(worker, jobs[p]), timeout=60, what=path)
            assert body["status"] == "failed" and body["error"]["code"] == code, body
            assert body["runs"] == 1  # permanent failures are not retried
        ok = poll(lambda: _final(worker, jobs["/ok"]), timeout=60, what="ok job")
        assert ok["status"] == "done" and ok["result"]["items"] == 300
        assert ok["result"]["counts"] == {"live": 100, "movie": 100, "series": 100}
        # Still serving (polled: a probe can time out for a moment on a loaded machine).
        poll(lambda: worker.request("GET", "/health")[0] == 200, timeout=30, what="healthy")


def test_bad_requests_get_json_errors(worker_factory: WorkerFactory) -> None:
    worker = worker_factory(PIPELINE_API_TOKEN="s3cret-token", PIPELINE_RATE_LIMIT="1/minute")
    auth = {"Authorization": "Bearer s3cret-token"}
    status, body = worker.request("POST", "/api/playlist/parse", {"url": "http://x.example/"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = worker.request("POST", "/api/playlist/parse", raw=b"{not json", headers=auth)
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = worker.request("POST", "/api/playlist/parse", {"url": "ftp://x.example/a"},
                                  headers=auth)
    assert status == 422 and body["error"]["code"] == "url_refused"
    status, body = worker.request("POST", "/api/playlist/parse",
                                  raw=b'{"url": "' + b"a" * 70000 + b'"}', headers=auth)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    # Refused submits start no work: none of them used the 1/minute allowance.
    status, body = worker.request("POST", "/api/playlist/parse",
                                  {"url": "http://169.254.169.254/latest/meta-data/"},
                                  headers=auth)
    assert status == 422 and body["error"]["code"] == "url_refused"
    status, body = worker.request("GET", "/api/playlist/jobs/0123456789abcdef", headers=auth)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert worker.request("GET", "/health")[0] == 200  # health needs no token


def test_rate_limit_counts_only_submits_that_start_work(worker_factory: WorkerFactory) -> None:
    worker = worker_factory(PIPELINE_RATE_LIMIT="3/minute", PIPELINE_URL_ALLOWLIST="127.0.0.1")
    # Slow bodies keep the jobs running while the duplicates arrive.
    with serve_routes({"/slow.m3u": (200, synthetic_playlist(20000), {}, 0.2)}) as base:
        first = []
        for i in range(3):
            status, body = worker.request("POST", "/api/playlist/parse",
                                          {"url": f"{base}/slow.m3u?i={i}"})
            assert status == 202 and body["deduplicated"] is False, body
            first.append(body["job_id"])
        # 200 concurrent duplicates of a running job: all answered with its id, none limited.
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda _: worker.request(
                "POST", "/api/playlist/parse", {"url": f"{base}/slow.m3u?i=0"}), range(200)))
        assert {(s, b["job_id"], b["deduplicated"]) for s, b in answers} == {
            (202, first[0], True)}
        # A fourth new job is over the limit.
        status, body = worker.request("POST", "/api/playlist/parse",
                                      {"url": f"{base}/slow.m3u?i=3"})
        assert status == 429 and body["error"]["code"] == "rate_limited", body
        assert len(worker.events("parse_start")) >= 1
        assert {e["job_id"] for e in worker.events("parse_queued")} == set(first)


def test_ssrf_targets_refused_with_422(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    for url in ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:22/",
                "http://localhost/list.m3u", "http://2130706433/", "http://0x7f.0.0.1/",
                "http://[::ffff:127.0.0.1]/", "http://10.0.0.5/get.php", "file:///etc/passwd",
                "http://localhost./list.m3u", "http://0251.0376.0251.0376/",
                "http://metadata.google.internal/computeMetadata/v1/"]:
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        assert status == 422, (url, body)
        assert body["error"]["code"] == "url_refused"


def test_secret_never_leaks(worker_factory: WorkerFactory) -> None:
    secret = "Pa55w0rdXYZ"
    routes = {"/get.php": (200, synthetic_playlist(50, secret=secret), {}, 0.0)}
    with serve_routes(routes) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        url = f"{base}/get.php?username=alice&password={secret}&type=m3u_plus"
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        assert status == 202 and secret not in str(body)
        job_id = body["job_id"]
        done = poll(lambda: _final(worker, job_id), timeout=60, what="job")
        assert done["status"] == "done"
        assert secret not in str(done) and "***" in done["url"]
        with urllib.request.urlopen(worker.base + "/metrics") as resp:
            assert secret not in resp.read().decode()
        # A failing URL with credentials: the error text is redacted too.
        bad = f"{base}/missing?username=alice&password={secret}"
        _, body = worker.request("POST", "/api/playlist/parse", {"url": bad})
        failed = poll(lambda: _final(worker, body["job_id"]), timeout=60, what="failed job")
        assert secret not in str(failed)
    assert secret not in worker.logs()
    assert worker.events("parse_start")


def test_sigkill_mid_parse_resumes_to_complete_result(worker_factory: WorkerFactory) -> None:
    items = 60000
    # ~6 MB dripped over several seconds, so the kill lands mid-parse.
    routes = {"/slow.m3u": (200, synthetic_playlist(items), {}, 0.05)}
    with serve_routes(routes) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        status, body = worker.request("POST", "/api/playlist/parse", {"url": base + "/slow.m3u"})
        assert status == 202
        job_id = body["job_id"]
        poll(lambda: worker.request("GET", f"/api/playlist/jobs/{job_id}")[1]
             .get("progress", {}).get("items", 0) > 0, timeout=30, what="parse progress")
        worker.kill(signal.SIGKILL)
        worker.start()
        done = poll(lambda: _final(worker, job_id), timeout=120, what="resumed job")
        assert done["status"] == "done", done
        assert done["runs"] == 2
        assert done["result"]["items"] == items
        assert _item_count(worker, job_id) == items
