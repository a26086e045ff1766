"""Any producer, cancel and dead letters on a real broker, S3 and worker (one worker
shared by the module: each test uses its own URLs).

The third-party producer is confluent-kafka (librdkafka), the most used
non-Java client, with its own default partitioner unless a test says otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import psutil
import pytest
from aiohttp import web

from pipeline.embedded.harness import S3Server, running_broker
from pipeline.urls import job_id_for
from tests.conftest import Worker, WorkerFactory, poll
from tests.integration.http_server import serve_routes, synthetic_playlist
from tests.integration.test_media_flow import Destination, put_object

REQUESTS = "playlist.parse.requests"
SMALL = synthetic_playlist(60)
# ~2.6 MB dripped at 64 KiB every 0.25 s: a parse that is surely running for ~10 s.
SLOW = synthetic_playlist(20_000)
ROUTES: dict[str, tuple[int, bytes, dict[str, str], float]] = {
    **{f"/{name}.m3u": (200, SMALL, {}, 0.0) for name in ("a", "b", "c", "d", "e", "f")},
    "/slow.m3u": (200, SLOW, {}, 0.25),
    "/flaky.m3u": (503, b"down for now", {}, 0.0),
}


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    # /big.m3u: the 850k-item playlist of the cancel acceptance (~90 MB, built here
    # rather than at import): a parse child that is busy, not waiting on the network.
    # Tests change ROUTES while it is served (the upstream comes back): served as is.
    ROUTES["/big.m3u"] = (200, synthetic_playlist(850_000), {}, 0.0)
    try:
        with serve_routes(ROUTES) as base:
            yield base
    finally:
        del ROUTES["/big.m3u"]


@pytest.fixture(scope="module")
def slow_destination() -> Iterator[Destination]:
    """A prewarm destination that holds every push for 20 s (a prewarm surely running)."""
    dest = Destination(delay_s={"/warm/": 20.0})
    with serve_aiohttp_app(dest) as base:
        dest.base = base
        yield dest


def serve_aiohttp_app(dest: Destination) -> Any:
    from tests.integration.http_server import serve_aiohttp

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", dest.handle)
    return serve_aiohttp(app)


@pytest.fixture(scope="module")
def stack(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory,
          slow_destination: Destination) -> Iterator[tuple[WorkerFactory, Worker]]:
    root = tmp_path_factory.mktemp("intake")
    with running_broker(root / "tansu.log") as broker:
        factory = WorkerFactory(broker, s3_server, root)
        try:
            worker = factory(PIPELINE_URL_ALLOWLIST="127.0.0.1",
                             PIPELINE_PARSE_MAX_ATTEMPTS="1",
                             PIPELINE_PREWARM_DESTINATION=slow_destination.base + "/warm")
            yield factory, worker
        finally:
            for started in factory.workers:
                started.stop()


def produce(factory: WorkerFactory, records: list[tuple[bytes | None, bytes | None]],
            **conf: Any) -> None:
    """Produce as a confluent-kafka user would (one record a batch: the embedded broker)."""
    producer = confluent_kafka.Producer({
        "bootstrap.servers": factory.broker.bootstrap, "linger.ms": 0,
        "batch.num.messages": 1, **conf})
    for key, value in records:
        producer.produce(REQUESTS, value=value, key=key)
    assert producer.flush(20) == 0


def _final(worker: Worker, job_id: str) -> dict[str, Any] | None:
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed", "cancelled") else None


def _letters(worker: Worker, **query: str) -> dict[str, Any]:
    qs = "&".join(f"{k}={v}" for k, v in {"limit": "1000", **query}.items())
    status, body = worker.request("GET", f"/api/dlq/playlist?{qs}")
    assert status == 200, body
    return body


def test_any_key_or_none_on_any_partition_ends_done(
        stack: tuple[WorkerFactory, Worker], served: str) -> None:
    factory, worker = stack
    urls = {name: f"{served}/{name}.m3u" for name in "abcd"}
    ids = {name: job_id_for(url) for name, url in urls.items()}

    def body(name: str) -> bytes:
        return json.dumps({"url": urls[name], "client": "confluent"}).encode()

    produce(factory, [(None, body("a"))])  # no key: the default of most producers
    produce(factory, [(json.dumps(ids["b"]).encode(), body("b"))])  # librdkafka's partitioner
    produce(factory, [(json.dumps(ids["c"]).encode(), body("c"))],  # keyed as documented
            partitioner="murmur2_random")
    produce(factory, [(ids["d"].encode(), body("d"))])  # the id without JSON quotes
    for name, job_id in ids.items():
        job = poll(lambda j=job_id: _final(worker, j), timeout=60, what=f"job {name}")
        assert job["status"] == "done" and job["result"]["items"] == 60, job
    rekeyed = {event["key"] for event in worker.events("intake_rekeyed")}
    assert {ids["a"], ids["d"]} <= rekeyed and ids["c"] not in rekeyed  # no hop when in place


def test_poison_records_land_in_the_dlq_and_the_worker_goes_on(
        stack: tuple[WorkerFactory, Worker], served: str) -> None:
    factory, worker = stack
    pid = worker.child.proc.pid  # type: ignore[union-attr]
    produce(factory, [(b"poison-1", b"not json"), (b"poison-2", b"[1, 2]"),
                      (b"poison-3", b'{"force": true}'),
                      (b"poison-4", json.dumps({"url": "ftp://x.example/a.m3u"}).encode()),
                      (b"poison-5", b"\xff\xfe\x00"),
                      (b"poison-6", json.dumps({"url": 7}).encode())])

    def poisoned() -> dict[str, str] | None:
        letters = _letters(worker)["letters"]
        found = {lt["key"]: lt["reason"] for lt in letters if str(lt["key"]).startswith("poison")}
        return found if len(found) == 6 else None

    found = poll(poisoned, timeout=30, what="six dead letters")
    assert found == {"poison-1": "not_json", "poison-2": "not_object",
                     "poison-3": "missing_field", "poison-4": "refused",
                     "poison-5": "not_json", "poison-6": "bad_field"}
    page = _letters(worker, key="poison-1")
    [letter] = page["letters"]
    assert letter["topic"] == REQUESTS and letter["offset"] >= 0
    assert letter["payload"] == {"text": "not json"} and letter["at"] > 0
    assert _letters(worker, reason="not_json", limit="1")["next"] is not None  # paging
    # The worker never restarted, and the next good request is served.
    assert worker.child.proc.pid == pid and worker.child.proc.poll() is None  # type: ignore
    url = f"{served}/e.m3u"
    produce(factory, [(None, json.dumps({"url": url}).encode())])
    job = poll(lambda: _final(worker, job_id_for(url)), timeout=60, what="job after poison")
    assert job["status"] == "done"
    _, metrics = worker.request("GET", "/metrics")
    assert 'pipeline_intake_dead_letters_total{reason="not_json"' in metrics


def test_a_failed_job_is_redriven_and_a_second_redrive_deduplicates(
        stack: tuple[WorkerFactory, Worker], served: str) -> None:
    factory, worker = stack
    url = f"{served}/flaky.m3u?token=s3cret"
    status, answer = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 202, answer
    job_id = answer["job_id"]
    assert poll(lambda: _final(worker, job_id), timeout=60, what="failure")["status"] == "failed"
    page = poll(lambda: (p := _letters(worker, key=job_id)) and p["total"] and p, timeout=20,
                what="the job's dead letter")
    [letter] = page["letters"]
    assert letter["kind"] == "job" and letter["redrivable"] is True
    assert "s3cret" not in json.dumps(letter)  # payloads are redacted
    listed = json.loads(_cli(worker, "dlq", "list", "playlist", "--key", job_id))
    assert listed["total"] == 1 and listed["letters"][0]["reason"] == "upstream_status"
    dry = json.loads(_cli(worker, "dlq", "redrive", "playlist", "--key", job_id, "--dry-run"))
    assert (dry["matched"], dry["redriven"]) == (1, 0)
    ROUTES["/flaky.m3u"] = (200, SMALL, {}, 0.0)  # the upstream is back
    status, done = worker.request("POST", "/api/dlq/playlist/redrive", {"key": job_id})
    assert status == 200 and done["redriven"] == 1, done
    job = poll(lambda: (j := _final(worker, job_id)) and j["status"] == "done" and j,
               timeout=60, what="redriven job done")
    assert job["runs"] == 2
    status, again = worker.request("POST", "/api/dlq/playlist/redrive", {"key": job_id})
    assert status == 200 and again["redriven"] == 1
    poll(lambda: [e for e in worker.events("parse_deduplicated") if e["job_id"] == job_id],
         timeout=20, what="second redrive deduplicated")
    assert worker.request("GET", f"/api/playlist/jobs/{job_id}")[1]["runs"] == 2
    # An intake letter passes the intake again: still invalid, so dead-lettered again.
    produce(factory, [(b"poison-redrive", b'{"force": true}')])
    poll(lambda: _letters(worker, key="poison-redrive")["total"], timeout=30,
         what="the intake letter to redrive")
    before = _letters(worker, reason="missing_field")["total"]
    status, redrove = worker.request("POST", "/api/dlq/playlist/redrive",
                                     {"reason": "missing_field"})
    assert status == 200 and redrove["redriven"] == before >= 1
    poll(lambda: _letters(worker, reason="missing_field")["total"] == 2 * before,
         timeout=20, what="redriven letter dead-lettered again")


def _cli(worker: Worker, *args: str) -> str:
    """`pipeline --api <worker> ARGS...` in a subprocess; its stdout."""
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "--api", worker.base, *args],
                         capture_output=True, text=True, timeout=60, env=worker.env,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    return out.stdout


def _wait_running(worker: Worker, job_id: str) -> None:
    poll(lambda: (b := worker.request("GET", f"/api/playlist/jobs/{job_id}")[1])
         and b["status"] == "running" and b["progress"]["items"] > 0, timeout=30,
         what="parse running")


def _gone(pids: set[int]) -> bool:
    """True when one of `pids` has stopped (exited, or killed and not yet reaped)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
    return False


def _parse_children(worker: Worker) -> set[int]:
    proc = psutil.Process(worker.child.proc.pid)  # type: ignore[union-attr]
    return {child.pid for child in proc.children(recursive=True)
            if "spawn_main" in " ".join(child.cmdline())}


# The bound, on the worker's own clock: from the DELETE reaching the job's
# owner to its parse child reaped (logged as `parse_child_stopped`).
STOP_S = 2.0
# The test's view (HTTP answer, then the process gone) also waits for its own turn
# on the CPU: the bound leaves room for `make test`'s parallel processes on 2 cores.
STOP_BOUND_S = 5.0


def _stop_s(worker: Worker, job_id: str, nth: int) -> float:
    """The worker's logged stop latency of the `nth` cancelled run of `job_id`."""
    stops = poll(lambda: [e for e in worker.events("parse_child_stopped")
                          if e["job_id"] == job_id][nth:] or None,
                 timeout=10, what="parse_child_stopped logged")
    return float(stops[0]["stop_s"])


def test_cancel_stops_a_running_parse_quickly_and_leaves_no_result(
        stack: tuple[WorkerFactory, Worker], served: str) -> None:
    factory, worker = stack
    url = f"{served}/big.m3u"  # 850,000 items
    status, answer = worker.request("POST", "/api/playlist/parse", {"url": url})
    job_id = answer["job_id"]
    _wait_running(worker, job_id)
    before = _parse_children(worker)
    started = time.monotonic()
    status, cancelled = worker.request("DELETE", f"/api/playlist/jobs/{job_id}")
    answered = time.monotonic() - started
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    poll(lambda: _gone(before), timeout=STOP_BOUND_S, interval=0.05,
         what="the parse child killed")
    stopped = time.monotonic() - started
    stop_s = _stop_s(worker, job_id, 0)
    print(f"cancel answered after {answered:.2f} s; child gone after {stopped:.2f} s "
          f"(worker: {stop_s:.2f} s)")
    assert stop_s < STOP_S
    time.sleep(1.0)  # a late discard would run by now
    s3 = factory.s3.client()
    keys = s3.list_objects_v2(Bucket="pipeline-results",
                              Prefix=f"results/{job_id}/").get("Contents", [])
    assert keys == []
    poll(lambda: [e for e in worker.events("parse_result_discarded")
                  if job_id in e["key"]], timeout=10, what="unfinished upload discarded")
    unfinished = s3.list_multipart_uploads(Bucket="pipeline-results",
                                           Prefix=f"results/{job_id}/").get("Uploads", [])
    assert unfinished == []
    status, items = worker.request("GET", f"/api/playlist/jobs/{job_id}/items")
    assert status == 409 and items["error"]["code"] == "cancelled"
    assert worker.request("DELETE", f"/api/playlist/jobs/{job_id}")[0] == 200  # idempotent
    # A later submit starts fresh (its old run may still be reaped); the CLI cancels it.
    status, again = worker.request("POST", "/api/playlist/parse", {"url": url})
    assert status == 202 and again["deduplicated"] is False
    _wait_running(worker, job_id)
    before = _parse_children(worker)
    assert json.loads(_cli(worker, "cancel", job_id))["status"] == "cancelled"
    poll(lambda: _gone(before), timeout=STOP_BOUND_S, interval=0.05,
         what="the fresh run's child killed")
    assert _stop_s(worker, job_id, 1) < STOP_S
    unknown = job_id_for("http://127.0.0.1:9/never-submitted.m3u")
    assert worker.request("DELETE", f"/api/playlist/jobs/{unknown}")[0] == 404
    status, quick = worker.request("POST", "/api/playlist/parse", {"url": f"{served}/f.m3u"})
    poll(lambda: _final(worker, quick["job_id"]), timeout=60, what="quick job done")
    status, refused = worker.request("DELETE", f"/api/playlist/jobs/{quick['job_id']}")
    assert status == 409 and refused["error"]["code"] == "job_finished"


def test_cancel_of_a_running_prewarm_and_a_fresh_upload_after_it(
        stack: tuple[WorkerFactory, Worker]) -> None:
    factory, worker = stack
    put_object(factory.s3, "cancel/a.jpg", b"p" * 5000)
    body = {"media_id": "cancel-a", "bucket": "media", "key": "cancel/a.jpg", "size": 5000,
            "kind": "photo"}
    assert worker.request("POST", "/api/media/uploads", body)[0] == 202
    poll(lambda: worker.request("GET", "/api/media/cancel-a")[1].get("status") == "running",
         timeout=30, what="prewarm running")
    started = time.monotonic()
    status, cancelled = worker.request("DELETE", "/api/media/cancel-a")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert time.monotonic() - started < 2.0
    assert json.loads(_cli(worker, "cancel", "--media", "cancel-a"))["status"] == "cancelled"
    status, again = worker.request("POST", "/api/media/uploads", body)
    assert status == 202 and again["deduplicated"] is False
    poll(lambda: worker.request("GET", "/api/media/cancel-a")[1].get("status") == "running",
         timeout=30, what="fresh prewarm running")
    assert worker.request("DELETE", "/api/media/cancel-a")[0] == 200


def _queued_on(workers: tuple[Worker, ...], job_id: str) -> Worker | None:
    for candidate in workers:
        if any(e.get("job_id") == job_id for e in candidate.events("parse_queued")):
            return candidate
    return None


def test_cancel_from_a_worker_that_does_not_own_the_job(
        stack: tuple[WorkerFactory, Worker], served: str) -> None:
    """Last in the module: a second worker joins, so partitions move."""
    factory, first = stack
    second = factory(**{k: v for k, v in first.env.items()
                        if k in ("PIPELINE_URL_ALLOWLIST", "PIPELINE_PARSE_MAX_ATTEMPTS",
                                 "PIPELINE_PREWARM_DESTINATION")})
    unknown = job_id_for("http://127.0.0.1:9/nothing.m3u")
    for worker in (first, second):  # both answer for every partition: rebalance over
        poll(lambda w=worker: w.request("GET", f"/api/playlist/jobs/{unknown}")[0] == 404,
             timeout=60, what=f"{worker.name} assigned")
    for i in range(12):  # a job the first worker owns, submitted and cancelled via the second
        url = f"{served}/slow.m3u?owner={i}"
        job_id = job_id_for(url)
        assert second.request("POST", "/api/playlist/parse", {"url": url})[0] == 202
        owner = poll(lambda j=job_id: _queued_on((first, second), j), timeout=20,
                     what="the job queued")
        if owner is first:
            break
        assert second.request("DELETE", f"/api/playlist/jobs/{job_id}")[0] == 200
    else:
        pytest.fail("no job landed on the first worker")
    _wait_running(second, job_id)  # answered by the owner through the second worker
    status, cancelled = second.request("DELETE", f"/api/playlist/jobs/{job_id}")
    assert status == 200 and cancelled["status"] == "cancelled", cancelled
    assert [e for e in first.events("parse_cancelled") if e["job_id"] == job_id]
    assert not [e for e in second.events("parse_cancelled") if e["job_id"] == job_id]
