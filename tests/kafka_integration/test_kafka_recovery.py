"""SIGKILL of a worker mid-parse on Apache Kafka: the other worker takes the job over.

With Faust's production timeouts (no Tansu short session), the survivor gets
the dead worker's partitions once the group coordinator expires its session;
the job is then resumed there and ends done with every item, once.
"""

from __future__ import annotations

import time

from tests.conftest import Worker, poll
from tests.integration.http_server import full_speed, serve_routes, synthetic_playlist
from tests.kafka_integration.conftest import KafkaWorkerFactory

ITEMS = 30_000


def _running_on(workers: list[Worker], job_id: str) -> Worker | None:
    for worker in workers:
        if any(e["job_id"] == job_id for e in worker.events("parse_progress")):
            return worker
    return None


def test_sigkill_mid_parse_two_workers_takeover(kafka_workers: KafkaWorkerFactory) -> None:
    routes = {"/big.m3u": (200, synthetic_playlist(ITEMS), {}, 0.15),
              **{f"/s{i}.m3u": (200, synthetic_playlist(40 + i), {}, 0.0) for i in range(4)}}
    with serve_routes(routes) as base:
        first = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        second = kafka_workers(PIPELINE_URL_ALLOWLIST="127.0.0.1")
        status, body = first.request("POST", "/api/playlist/parse", {"url": base + "/big.m3u"})
        assert status == 202, body
        job_id = body["job_id"]
        small = [first.request("POST", "/api/playlist/parse", {"url": f"{base}/s{i}.m3u"})[1]
                 ["job_id"] for i in range(4)]
        victim = poll(lambda: _running_on([first, second], job_id), timeout=90,
                      what="big parse running")
        survivor = second if victim is first else first
        victim.kill()
        killed_at = time.monotonic()
        full_speed(routes)  # the resumed run downloads again

        def final(job: str) -> dict | None:
            status, row = survivor.request("GET", f"/api/playlist/jobs/{job}")
            return row if status == 200 and row["status"] in ("done", "failed") else None

        poll(lambda: any(e["job_id"] == job_id for e in survivor.events("parse_start")),
             timeout=150, what="survivor resumed the job")
        took = time.monotonic() - killed_at
        row = poll(lambda: final(job_id), timeout=150, what="job final on the survivor")
        assert row["status"] == "done" and row["result"]["items"] == ITEMS, row
        assert row["runs"] == 2, row  # the killed run, then the takeover
        for job in small:
            small_row = poll(lambda job=job: final(job), timeout=60, what=f"{job} final")
            assert small_row["status"] == "done", small_row
        print(f"takeover after SIGKILL: the survivor started the job {took:.1f} s later")
