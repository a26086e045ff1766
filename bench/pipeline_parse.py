"""Bench: the 850k playlist over loopback HTTP -> submit -> done, against the bare parser.

Reports, in one run: time to done vs the bare `pipeline m3u --gzip` (-j 1: the
same work as the parse child; and the default -j) on the same file, worker and
parse-child peak RSS, /health latency while two 850k parses run, and how many
parses 1,000 concurrent identical submits start (and their submit latency).
`run_parse_bench` runs it on any stack (bench/engines.py).

    python bench/pipeline_parse.py [--items 850000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_playlist import generate
from bench.measure import RssSampler, pct, timed_post
from bench.stack import WORK, BenchStack, BenchWorker, bench_stack, http_json, write_results
from pipeline.client import Client
from tests.integration.http_server import serve_dir


def bare_parser_s(path: Path, jobs: str = "1") -> float:
    """Whole-process wall time of the user-facing `pipeline m3u FILE --gzip -j JOBS`
    (items to /dev/null). `-j 1` does the parse child's work (one process, gzip
    NDJSON); the default `-j auto` is what a user gets on a multi-core machine."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run([sys.executable, "-m", "pipeline.m3u", "--gzip", "-j", jobs, str(path)],
                       check=True, stdout=sink, stderr=subprocess.PIPE)
    return time.perf_counter() - start


# A job not done by then fails the bench; a busy machine can take minutes per 850k parse.
PARSE_TIMEOUT_S = 1800


def wait_done(base: str, job_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = http_json("GET", f"{base}/api/playlist/jobs/{job_id}")
        if status == 200 and body["status"] in ("done", "failed"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise TimeoutError(job_id)


def health_latencies(base: str, stop: threading.Event) -> tuple[list[float], int]:
    """/health latencies in ms, every 20 ms until `stop`, and how many answers were not
    200 (a 503 while S3 or the broker does not answer its probe in time)."""
    out, not_ok = [], 0
    while not stop.is_set():
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            exc.read()
            not_ok += 1
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    return out, not_ok


def follow_done(base: str, job_id: str, timeout: float = PARSE_TIMEOUT_S) -> dict:
    """The finished job, followed as `pipeline parse --wait` and `Client.wait` do:
    on the job's event stream. (Polling every 50 ms, as `wait_done` does, costs the
    worker and this process CPU that the parse needs on a 2-core machine.)"""
    with Client(base) as client:
        return client.wait(job_id, timeout=timeout)


def parse_and_time(worker: BenchWorker, url: str) -> tuple[float, dict]:
    """Submit `url`, follow it until it is done: (seconds from submit to done, final row)."""
    start = time.perf_counter()
    _, body = http_json("POST", worker.base + "/api/playlist/parse", {"url": url})
    done = follow_done(worker.base, body["job_id"])
    return time.perf_counter() - start, done


def parses_under_health(worker: BenchWorker,
                        urls: list[str]) -> tuple[tuple[list[float], int], list[dict]]:
    """Parse `urls` at once while /health is polled: ((latencies in ms, answers not 200),
    final rows)."""
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        lat_future = pool.submit(health_latencies, worker.base, stop)
        ids = [http_json("POST", worker.base + "/api/playlist/parse", {"url": url})[1]["job_id"]
               for url in urls]
        finals = [wait_done(worker.base, job_id, PARSE_TIMEOUT_S) for job_id in ids]
        stop.set()
        return lat_future.result(), finals


def identical_submits(worker: BenchWorker, url: str, n: int) -> dict:
    """`n` concurrent submits of one new URL from 50 clients: statuses, latencies, parses."""
    starts_before = worker.count_event("parse_start")
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: timed_post(  # one try: every status is shown
            worker.base + "/api/playlist/parse", {"url": url}, tries=1), range(n)))
    job_ids = {b["job_id"] for _, b, _ in answers if isinstance(b, dict) and "job_id" in b}
    final = wait_done(worker.base, job_ids.pop(), PARSE_TIMEOUT_S)
    latencies = [ms for _, _, ms in answers]
    return {"statuses": sorted({s for s, _, _ in answers}), "jobs": 1 + len(job_ids),
            "final": final, "parses": worker.count_event("parse_start") - starts_before,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}


def run_parse_bench(stack: BenchStack, url: str, bare: float) -> dict:
    """One worker on `stack`: `url` parsed alone, twice at once under /health polling,
    then 1,000 identical submits of a new URL; the results document."""
    worker = stack.start_worker(PIPELINE_PARSE_CONCURRENCY="2")
    sampler = RssSampler(worker)
    sampler.start()
    to_done, done = parse_and_time(worker, url)
    assert done["status"] == "done", done
    print(f"submit -> done: {to_done:.2f} s ({to_done / bare:.2f}x bare), "
          f"items {done['result']['items']}")
    (latencies, not_ok), pair = parses_under_health(
        worker, [f"{url}?copy={i}" for i in range(2)])
    sampler.stop_flag.set()
    print(f"/health during 2 parses: p50 {pct(latencies, 50):.1f} ms, "
          f"p99 {pct(latencies, 99):.1f} ms, max {max(latencies):.1f} ms "
          f"({len(latencies)} requests, {not_ok} not 200)")
    print(f"peak RSS: worker {sampler.worker_peak:.0f} MB, "
          f"largest parse child {sampler.child_peak:.0f} MB")
    same = identical_submits(worker, f"{url}?dedupe=1", 1000)
    print(f"1000 identical submits: statuses {same['statuses']}, parses started: "
          f"{same['parses']}, submit p50 {same['p50_ms']:.1f} ms, p95 {same['p95_ms']:.1f} ms")
    finals = [done, *pair, same["final"]]
    return {
        "submit_to_done_s": round(to_done, 2), "ratio_to_bare": round(to_done / bare, 2),
        "worker_peak_rss_mb": round(sampler.worker_peak, 1),
        "parse_child_peak_rss_mb": round(sampler.child_peak, 1),
        "health_p50_ms": round(pct(latencies, 50), 1),
        "health_p99_ms": round(pct(latencies, 99), 1), "health_not_200": not_ok,
        "identical_submits": 1000, "parses_started": same["parses"],
        "identical_submit_p50_ms": round(same["p50_ms"], 1),
        "identical_submit_p95_ms": round(same["p95_ms"], 1),
        # wait_done raises rather than return a job that is not final
        "jobs": 3 + same["jobs"], "jobs_final": len(finals),
        "jobs_done": sum(f["status"] == "done" for f in finals),
        "all_parses_started": worker.count_event("parse_start"),
    }


def playlist_of(items: int) -> Path:
    """The generated playlist of `items` entries under bench/.work/www (made once)."""
    www = WORK / "www"
    www.mkdir(parents=True, exist_ok=True)
    playlist = www / f"list-{items}.m3u"
    if not playlist.exists():
        generate(items, playlist)
    return playlist


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=850_000)
    args = ap.parse_args()
    playlist = playlist_of(args.items)
    size_mb = playlist.stat().st_size / 2**20
    bare, bare_default = bare_parser_s(playlist), bare_parser_s(playlist, "auto")
    print(f"playlist: {args.items} items, {size_mb:.0f} MB; bare parser: {bare:.2f} s "
          f"(-j 1), {bare_default:.2f} s (default -j)")
    with serve_dir(playlist.parent) as http_base, bench_stack("pipeline_parse") as stack:
        run = run_parse_bench(stack, f"{http_base}/{playlist.name}", bare)
    doc = {"items": args.items, "playlist_mb": round(size_mb, 1),
           "bare_parser_s": round(bare, 2), "bare_default_j_s": round(bare_default, 2),
           "ratio_to_default_j": round(run["submit_to_done_s"] / bare_default, 2), **run}
    print(f"wrote {write_results('pipeline_parse', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
