"""A frozen broker: health degrades, submits get 503 quickly, work resumes by itself."""

from __future__ import annotations

import signal
import time

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist

FREEZE_S = 30


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def test_broker_freeze_and_recovery(worker_factory: WorkerFactory) -> None:
    routes = {f"/o{i}.m3u": (200, synthetic_playlist(30000), {}, 0.1) for i in range(3)}
    routes["/late.m3u"] = (200, synthetic_playlist(500), {}, 0.0)
    with serve_routes(routes) as base:
        worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        accepted = []
        for i in range(3):
            status, body = worker.request("POST", "/api/playlist/parse",
                                          {"url": f"{base}/o{i}.m3u"})
            assert status == 202
            accepted.append(body["job_id"])
        poll(lambda: worker.events("parse_start"), timeout=30, what="a parse running")

        broker = worker_factory.broker.child.proc
        assert broker is not None
        broker.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            poll(lambda: worker.request("GET", "/health", timeout=3)[0] == 503, timeout=20,
                 what="degraded")
            started = time.monotonic()
            status, body = worker.request("POST", "/api/playlist/parse",
                                          {"url": f"{base}/late.m3u"}, timeout=15)
            assert status == 503 and body["error"]["code"] == "not_ready"
            assert time.monotonic() - started < 10  # an answer, not a hang
            time.sleep(max(0.0, FREEZE_S - (time.monotonic() - frozen_at)))  # the outage itself
        finally:
            broker.send_signal(signal.SIGCONT)

        poll(lambda: worker.request("GET", "/health")[0] == 200, timeout=60, what="ok again")
        status, body = poll(lambda: (r := worker.request(
            "POST", "/api/playlist/parse", {"url": f"{base}/late.m3u"}))[0] == 202 and r,
            timeout=60, what="submit accepted after the outage")
        accepted.append(body["job_id"])
        for job_id in accepted:
            final = poll(lambda j=job_id: _final(worker, j), timeout=180, what=job_id)
            assert final["status"] == "done", final
        assert worker.child is not None and worker.child.alive()  # no restart needed
