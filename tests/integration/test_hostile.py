"""Hostile playlists and URLs against a live worker: each gets its documented code."""

from __future__ import annotations

import asyncio
import gzip
import socket

from aiohttp import web

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_aiohttp, synthetic_playlist

MAX_BYTES = 20_000_000


def hostile_app() -> web.Application:
    bomb = gzip.compress(b"#EXTM3U\n" + b"#" * (200 * 1024 * 1024), 9)

    async def fixed(body: bytes, **headers: str) -> web.Response:
        return web.Response(body=body, headers=headers)

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        line = b'#EXTINF:-1 group-title="G",Chan\nhttp://e.example/1.ts\n' * 1000
        await resp.write(b"#EXTM3U\n")
        while True:  # 2 GB and beyond: the worker must cut it at max_bytes
            await resp.write(line)

    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"#EXTM3U\n")
        await asyncio.sleep(30)
        return resp

    async def loop_redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to_private(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.2:9/secret.m3u")

    routes = {
        "/html": lambda r: fixed(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"),
        "/json": lambda r: fixed(b'{"error": "invalid credentials"}'),
        "/binary": lambda r: fixed(bytes(range(256)) * 64),
        "/empty": lambda r: fixed(b""),
        "/oneline": lambda r: fixed(b"A" * (10 * 1024 * 1024)),
        "/bomb": lambda r: fixed(bomb, **{"Content-Encoding": "gzip"}),
        "/ok": lambda r: fixed(synthetic_playlist(120)),
    }
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    app.router.add_get("/endless", endless)
    app.router.add_get("/drip", drip)
    app.router.add_get("/loop", loop_redirect)
    app.router.add_get("/private", to_private)
    return app


EXPECTED = {
    "/html": "not_a_playlist", "/json": "not_a_playlist", "/binary": "not_a_playlist",
    "/empty": "not_a_playlist", "/oneline": "not_a_playlist", "/endless": "too_large",
    "/bomb": "too_large", "/drip": "fetch_timeout", "/loop": "too_many_redirects",
    "/private": "url_refused",
}


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def test_hostile_playlists_fail_cleanly(worker_factory: WorkerFactory) -> None:
    with serve_aiohttp(hostile_app()) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1",
                                PIPELINE_FETCH_MAX_BYTES=str(MAX_BYTES),
                                PIPELINE_FETCH_READ_TIMEOUT_S="1",
                                PIPELINE_PARSE_MAX_ATTEMPTS="2",
                                PIPELINE_PARSE_RETRY_BASE_S="0.2",
                                PIPELINE_PARSE_CONCURRENCY="3")
        jobs = {}
        for path in [*EXPECTED, "/ok"]:
            status, body = worker.request("POST", "/api/playlist/parse", {"url": base + path})
            assert status == 202, (path, body)
            jobs[path] = body["job_id"]
        secret_url = base.replace("http://", "http://bob:hunter2pass@") + "/ok?x=1"
        status, body = worker.request("POST", "/api/playlist/parse", {"url": secret_url})
        assert status == 202 and "hunter2pass" not in str(body)
        jobs["userinfo"] = body["job_id"]

        for path, code in EXPECTED.items():
            final = poll(lambda p=path: _final(worker, jobs[p]), timeout=120, what=path)
            assert final["status"] == "failed", (path, final)
            assert final["error"]["code"] == code, (path, final["error"])
        for key in ("/ok", "userinfo"):
            final = poll(lambda k=key: _final(worker, jobs[k]), timeout=60, what=key)
            assert final["status"] == "done" and final["result"]["items"] == 120
        assert "hunter2pass" not in str(_final(worker, jobs["userinfo"]))
        assert "hunter2pass" not in worker.logs()
        # Still serving (polled: a probe can time out for a moment on a loaded machine).
        code, health = poll(lambda: (r := worker.request("GET", "/health"))[0] == 200 and r,
                            timeout=30, what="healthy")
        assert health["memory"]["rss_mb"] < 300


def test_hostile_urls_refused_at_submit(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    hostname = socket.gethostname()  # resolves to a loopback address on this machine
    refused = ["http://localhost/x.m3u", "http://2130706433/x.m3u", "http://017700000001/",
               "http://0x7f000001/", "http://0177.0.0.1/", "http://[::ffff:127.0.0.1]/",
               "http://[::ffff:7f00:1]/", "file:///etc/passwd", "ftp://example.com/list.m3u",
               "http://169.254.169.254/latest/meta-data/", "http://192.168.1.1/get.php"]
    if socket.gethostbyname(hostname).startswith("127."):
        refused.append(f"http://{hostname}/list.m3u")
    for url in refused:
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        assert status == 422 and body["error"]["code"] == "url_refused", (url, body)
    for bad in ["", "not a url", "http://", "javascript:alert(1)", 42, None]:
        status, body = worker.request("POST", "/api/playlist/parse", {"url": bad})
        assert status in (400, 422) and "code" in body["error"], (bad, body)
    poll(lambda: worker.request("GET", "/health")[0] == 200, timeout=30, what="healthy")
