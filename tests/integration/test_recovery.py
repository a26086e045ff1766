"""A worker with an empty data dir rebuilds its tables exactly from the changelog.

This is the check behind single-record batches on the embedded broker: with
multi-record batches Tansu mis-reports the log end and recovery stops early.
"""

from __future__ import annotations

from tests.conftest import WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist

STABLE = ("job_id", "url", "status", "runs", "created_at", "started_at", "finished_at",
          "error", "result", "result_uri", "progress")


def test_empty_datadir_recovers_table_exactly(worker_factory: WorkerFactory) -> None:
    routes = {f"/p{i}.m3u": (200, synthetic_playlist(100 + i), {}, 0.0) for i in range(6)}
    routes["/gone.m3u"] = (404, b"", {}, 0.0)
    with serve_routes(routes) as base:
        first = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        job_ids = []
        for path in routes:
            status, body = first.request("POST", "/api/playlist/parse", {"url": base + path})
            assert status == 202
            job_ids.append(body["job_id"])

        def all_final() -> dict[str, dict] | None:
            answers = {j: first.request("GET", f"/api/playlist/jobs/{j}")[1] for j in job_ids}
            if all(a.get("status") in ("done", "failed") for a in answers.values()):
                return answers
            return None

        before = poll(all_final, timeout=90, what="all jobs final")
        first.stop()

        second = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")  # fresh, empty data dir
        for job_id, old in before.items():
            status, new = second.request("GET", f"/api/playlist/jobs/{job_id}")
            assert status == 200
            assert {k: new[k] for k in STABLE} == {k: old[k] for k in STABLE}
