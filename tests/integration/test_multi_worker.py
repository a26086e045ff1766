"""Two workers split the partitions; one dies by SIGKILL; nothing is lost or doubled.

Parses and media prewarms run on both workers; prewarms push to a slow HTTP
destination served here, so the killed worker still has prewarms running and
queued when it dies, and the survivor must finish them.
"""

from __future__ import annotations

import functools
import signal
import time
import uuid
from typing import Any

from tests.conftest import S3Server, Worker, WorkerFactory, poll
from tests.integration.http_server import full_speed, serve_routes, synthetic_playlist
from tests.integration.test_media_flow import (
    Destination,
    destination,
    final,
    put_object,
    read_topic,
    upload,
)

__all__ = ["destination"]  # the fixture, imported for pytest

N_JOBS = 8
N_MEDIA = 12
PUSH_DELAY_S = 3.0  # per PUT at the destination; 2 slots per worker
PHOTO = b"w" * 60_000


def _final(worker, job_id: str):  # type: ignore[no-untyped-def]
    status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
    return body if status == 200 and body["status"] in ("done", "failed") else None


def _media_ids(worker: Worker, event: str) -> set[str]:
    return {e["media_id"] for e in worker.events(event)}


def _submit_parse(worker: Worker, url: str) -> str:
    def accepted() -> dict | None:
        status, body = worker.request("POST", "/api/playlist/parse", {"url": url})
        return body if status == 202 else None
    return str(poll(accepted, timeout=60, what="submit accepted")["job_id"])


def _submit_media(worker: Worker, media_id: str, key: str) -> None:
    poll(lambda: upload(worker, media_id, key, len(PHOTO))[0] == 202, timeout=60,
         what="media upload accepted")


def _busy(a: Worker, b: Worker, media: list[str]) -> tuple[set[str], set[str]] | None:
    """b's running parses and prewarms, once both exist and every upload has its row."""
    if _media_ids(a, "prewarm_queued") | _media_ids(b, "prewarm_queued") != set(media):
        return None
    parses = ({e["job_id"] for e in b.events("parse_start")} -
              {e["job_id"] for e in b.events("parse_end")})
    prewarms = _media_ids(b, "prewarm_start") - _media_ids(b, "prewarm_done")
    return (parses, prewarms) if parses and prewarms else None


def _take_over(a: Worker, killed_at: float, resumed_before: int, parses: set[str],
               prewarms: set[str]) -> dict[str, float]:
    """Seconds after the kill until a started b's parses, queued b's prewarms again
    (its own unfinished ones too), started the first of them and all of them."""
    took: dict[str, float] = {}

    def check() -> bool:
        since = time.monotonic() - killed_at
        started = _media_ids(a, "prewarm_start")
        resumed = a.events("prewarm_resumed")[resumed_before:]
        marks = {"parse": {e["job_id"] for e in a.events("parse_start")} >= parses,
                 "media resumed": any(e["jobs"] >= len(prewarms) for e in resumed),
                 "media first": bool(started & prewarms), "media all": started >= prewarms}
        for name, reached in marks.items():
            if reached:
                took.setdefault(name, since)
        return len(took) == len(marks)

    poll(check, timeout=90, what="a resumed b's parses and prewarms")
    return took


def _check_prewarms(factory: WorkerFactory, destination: Destination, a: Worker, run: str,
                    media: list[str], media_of_b: set[str]) -> None:
    for media_id in media:
        done = final(a, media_id, timeout=120)
        assert done["status"] == "done", done
    # Every object reached the destination whole. A push interrupted by the kill may
    # have landed as well and is then repeated by a (pushes are at-least-once); the
    # survivor's own jobs are never pushed twice.
    with destination.lock:
        pushes = [r.path for r in destination.received if r.size == len(PHOTO)]
    counts = {m: pushes.count(f"/warm/{run}/{i}.jpg") for i, m in enumerate(media)}
    assert all(counts.values()), counts
    assert {m for m, n in counts.items() if n > 1} <= media_of_b, counts
    print(f"prewarm pushes repeated after the kill: {sum(counts.values()) - len(media)}")
    # One final outcome per job in the results topic: events of the killed run that
    # arrive late are stale (run id) and change nothing.
    results = read_topic(factory.broker, "media.prewarm.results", len(media) + 1, timeout=5)
    statuses: dict[str, list[str]] = {}
    for r in results:
        statuses.setdefault(r["media_id"], []).append(r["status"])
    assert statuses == {m: ["done"] for m in media}, statuses


def test_two_workers_route_and_take_over(worker_factory: WorkerFactory, s3_server: S3Server,
                                         destination: Destination) -> None:
    # Slow bodies keep parses running long enough for the kill to land mid-parse.
    routes: dict[str, tuple[int, bytes, dict[str, str], float]] = {
        f"/l{i}.m3u": (200, synthetic_playlist(40000 + i), {}, 0.1) for i in range(N_JOBS)}
    # Slow pushes keep prewarms running and queued when the kill lands.
    run = uuid.uuid4().hex[:8]
    media = [f"{run}-{i}" for i in range(N_MEDIA)]
    for i in range(N_MEDIA):
        put_object(s3_server, f"{run}/{i}.jpg", PHOTO)
    destination.delay_s["/warm/"] = PUSH_DELAY_S
    env: dict[str, Any] = {
        "PIPELINE_URL_ALLOWLIST": "127.0.0.1", "PIPELINE_PARSE_CONCURRENCY": "4",
        "PIPELINE_PREWARM_DESTINATION": destination.base + "/warm",
        "PIPELINE_PREWARM_CONCURRENCY": "2"}
    with serve_routes(routes) as base:
        a = worker_factory(**env)
        b = worker_factory(**env)
        # Both are members once each owns some partitions; wait for a stable group.
        poll(lambda: a.request("GET", "/health")[0] == 200 and
             b.request("GET", "/health")[0] == 200, timeout=60, what="both healthy")
        jobs = {_submit_parse((a, b)[i % 2], base + path): path for i, path in enumerate(routes)}
        # Either worker answers for any job, with the owner's answer.
        for job_id in jobs:
            sa, ja = a.request("GET", f"/api/playlist/jobs/{job_id}")
            sb, jb = b.request("GET", f"/api/playlist/jobs/{job_id}")
            assert sa == sb == 200 and ja["job_id"] == jb["job_id"] == job_id
            assert ja["created_at"] == jb["created_at"]
        # Media uploads enter through both workers; each runs on the owner of its id.
        for i, media_id in enumerate(media):
            _submit_media((a, b)[i % 2], media_id, f"{run}/{i}.jpg")

        owned_by_b, prewarming_on_b = poll(functools.partial(_busy, a, b, media), timeout=30,
                                           what="b running a parse and a prewarm")
        resumed_before = len(a.events("prewarm_resumed"))
        killed_at = time.monotonic()
        b.kill(signal.SIGKILL)
        full_speed(routes)  # resumed runs download again
        # b's log is final now: the prewarms it owned and did not finish.
        media_of_a, media_of_b = _media_ids(a, "prewarm_queued"), _media_ids(b, "prewarm_queued")
        assert media_of_a and media_of_b and not media_of_a & media_of_b, (media_of_a,
                                                                           media_of_b)
        unfinished_b = media_of_b - _media_ids(b, "prewarm_done")
        assert prewarming_on_b <= unfinished_b
        # Takeover: a resumes b's parses under new runs, and b's prewarms.
        took = _take_over(a, killed_at, resumed_before, owned_by_b, unfinished_b)
        print(f"takeover after SIGKILL: {took['parse']:.1f} s")
        print(f"media takeover after SIGKILL: b's {len(unfinished_b)} unfinished prewarms "
              f"({len(prewarming_on_b)} running at the kill) queued on a after "
              f"{took['media resumed']:.1f} s; first started after {took['media first']:.1f} s, "
              f"all after {took['media all']:.1f} s (a's own jobs hold its 2 slots meanwhile)")
        finals = {j: poll(functools.partial(_final, a, j), timeout=180, what=f"job {j}")
                  for j in jobs}
        for job_id, body in finals.items():
            assert body["status"] == "done", body
            assert body["result"]["items"] == 40000 + int(jobs[job_id][2:-4])
        s3 = worker_factory.s3.client()
        for job_id in jobs:
            keys = [o["Key"] for o in s3.list_objects_v2(
                Bucket="pipeline-results", Prefix=f"results/{job_id}/").get("Contents", [])]
            # One visible run per job: its NDJSON result and its catalogue objects only.
            results = [k for k in keys if k.endswith(".ndjson.gz") and ".diff." not in k]
            assert len(results) == 1, keys
            kept = results[0].rsplit("/", 1)[1].split(".")[0]
            assert all(k.rsplit("/", 1)[1].startswith(kept + ".") for k in keys), keys
        _check_prewarms(worker_factory, destination, a, run, media, media_of_b)
        # The killed worker comes back and the pair keeps serving.
        b.start()
        for job_id in jobs:
            status, body = b.request("GET", f"/api/playlist/jobs/{job_id}")
            assert status == 200 and body["status"] == "done"
        for media_id in media:
            status, body = b.request("GET", f"/api/media/{media_id}")
            assert status == 200 and body["status"] == "done", body
