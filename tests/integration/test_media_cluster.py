"""Two workers: submits and status reads reach the worker owning the media_id."""

from __future__ import annotations

import uuid

from tests.conftest import S3Server, WorkerFactory, poll
from tests.integration.test_media_flow import final, put_object, upload

N_JOBS = 12


def test_two_workers_route_by_owner(worker_factory: WorkerFactory, s3_server: S3Server) -> None:
    run = uuid.uuid4().hex[:8]
    a = worker_factory(PIPELINE_PREWARM_DESTINATION="null://")
    b = worker_factory(PIPELINE_PREWARM_DESTINATION="null://")
    poll(lambda: a.request("GET", "/health")[0] == 200 and
         b.request("GET", "/health")[0] == 200, timeout=60, what="both healthy")
    photo = b"p" * 20_000
    for i in range(N_JOBS):
        put_object(s3_server, f"{run}/{i}.jpg", photo)
    for i in range(N_JOBS):
        entry = (a, b)[i % 2]
        poll(lambda w=entry, n=i: upload(w, f"{run}-{n}", f"{run}/{n}.jpg", len(photo))[0] == 202,
             timeout=60, what="submit accepted")
    for i in range(N_JOBS):
        ja, jb = final(a, f"{run}-{i}"), final(b, f"{run}-{i}")
        assert ja == jb and ja["status"] == "done", (ja, jb)
    # A duplicate sent to the non-owner is deduplicated by the owner.
    for i in range(N_JOBS):
        status, body = upload((b, a)[i % 2], f"{run}-{i}", f"{run}/{i}.jpg", len(photo))
        assert status == 200 and body["deduplicated"] is True, body
    ran_a = {e["media_id"] for e in a.events("prewarm_done")}
    ran_b = {e["media_id"] for e in b.events("prewarm_done")}
    assert ran_a and ran_b  # both own partitions and did work
    assert len(ran_a | ran_b) == N_JOBS
