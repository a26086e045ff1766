"""Two workers split the partitions; one dies by SIGKILL; nothing is lost or doubled."""

from __future__ import annotations

import signal
import time

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist

N_JOBS = 8


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def test_two_workers_route_and_take_over(worker_factory: WorkerFactory) -> None:
    # Slow bodies keep parses running long enough for the kill to land mid-parse.
    routes = {f"/l{i}.m3u": (200, synthetic_playlist(40000 + i), {}, 0.1)
              for i in range(N_JOBS)}
    env = {"PIPELINE_URL_ALLOWLIST": "127.0.0.1", "PIPELINE_PARSE_CONCURRENCY": "4"}
    with serve_routes(routes) as base:
        a = worker_factory(**env)
        b = worker_factory(**env)
        # Both are members once each owns some partitions; wait for a stable group.
        poll(lambda: a.request("GET", "/health")[0] == 200 and
             b.request("GET", "/health")[0] == 200, timeout=60, what="both healthy")
        jobs = {}
        for i, path in enumerate(routes):
            entry = (a, b)[i % 2]
            status, body = poll(lambda p=path, w=entry: (
                r := w.request("POST", "/api/playlist/parse", {"url": base + p}))[0] == 202
                and r, timeout=60, what="submit accepted")
            jobs[body["job_id"]] = path
        # Either worker answers for any job, with the owner's answer.
        for job_id in jobs:
            sa, ja = a.request("GET", f"/api/playlist/jobs/{job_id}")
            sb, jb = b.request("GET", f"/api/playlist/jobs/{job_id}")
            assert sa == sb == 200 and ja["job_id"] == jb["job_id"] == job_id
            assert ja["created_at"] == jb["created_at"]
        def running_on_b() -> set[str]:
            ended = {e["job_id"] for e in b.events("parse_end")}
            return {e["job_id"] for e in b.events("parse_start")} - ended

        owned_by_b = poll(running_on_b, timeout=30, what="b running a parse")
        killed_at = time.monotonic()
        b.kill(signal.SIGKILL)
        # Takeover: a resumes b's jobs under new runs.
        poll(lambda: {e["job_id"] for e in a.events("parse_start")} >= owned_by_b,
             timeout=90, what="a resumed b's jobs")
        takeover_s = time.monotonic() - killed_at
        print(f"takeover after SIGKILL: {takeover_s:.1f} s")
        finals = {j: poll(lambda j=j: _final(a, j), timeout=180, what=f"job {j}") for j in jobs}
        for job_id, body in finals.items():
            assert body["status"] == "done", body
            assert body["result"]["items"] == 40000 + int(jobs[job_id][2:-4])
        s3 = worker_factory.s3.client()
        for job_id in jobs:
            keys = s3.list_objects_v2(Bucket="pipeline-results",
                                      Prefix=f"results/{job_id}/").get("Contents", [])
            assert len(keys) == 1, keys  # one visible result per job
        # The killed worker comes back and the pair keeps serving.
        b.start()
        for job_id in jobs:
            status, body = b.request("GET", f"/api/playlist/jobs/{job_id}")
            assert status == 200 and body["status"] == "done"
