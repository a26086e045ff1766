"""Bench: the 850k playlist over loopback HTTP -> submit -> done, against the bare parser.

Reports, in one run: time to done vs the bare parser (gzip NDJSON) on the same
file, worker and parse-child peak RSS, /health latency while two 850k parses
run, and how many parses 1,000 concurrent identical submits start.

    python bench/pipeline_parse.py [--items 850000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_playlist import generate
from bench.stack import WORK, bench_stack, http_json, write_results
from tests.integration.http_server import serve_dir

BARE = """
import sys, time
from pipeline.m3u import parse_file, write_ndjson_gz
t = time.perf_counter()
with open('/dev/null', 'wb') as out:
    write_ndjson_gz(parse_file(sys.argv[1]), out)
print(time.perf_counter() - t)
"""


def bare_parser_s(path: Path) -> float:
    """Whole-process wall time of the parser writing gzip NDJSON."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BARE, str(path)], check=True, capture_output=True)
    return time.perf_counter() - start


def wait_done(base: str, job_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = http_json("GET", f"{base}/api/playlist/jobs/{job_id}")
        if status == 200 and body["status"] in ("done", "failed"):
            return body  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise TimeoutError(job_id)


class RssSampler(threading.Thread):
    def __init__(self, worker) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.worker, self.stop_flag = worker, threading.Event()
        self.worker_peak = self.child_peak = 0.0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                w, c = self.worker.rss_mb()
            except Exception:
                continue
            self.worker_peak, self.child_peak = max(self.worker_peak, w), max(self.child_peak, c)
            time.sleep(0.1)


def health_latencies(base: str, stop: threading.Event) -> list[float]:
    out = []
    while not stop.is_set():
        start = time.perf_counter()
        with urllib.request.urlopen(base + "/health", timeout=5) as resp:
            resp.read()
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(0.02)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=850_000)
    args = ap.parse_args()
    www = WORK / "www"
    www.mkdir(parents=True, exist_ok=True)
    playlist = www / f"list-{args.items}.m3u"
    if not playlist.exists():
        generate(args.items, playlist)
    size_mb = playlist.stat().st_size / 2**20
    bare = bare_parser_s(playlist)
    print(f"playlist: {args.items} items, {size_mb:.0f} MB; bare parser: {bare:.2f} s")

    with serve_dir(www) as http_base, bench_stack("pipeline_parse") as stack:
        worker = stack.start_worker(PIPELINE_PARSE_CONCURRENCY="2")
        sampler = RssSampler(worker)
        sampler.start()
        url = f"{http_base}/{playlist.name}"
        start = time.perf_counter()
        _, body = http_json("POST", worker.base + "/api/playlist/parse", {"url": url})
        done = wait_done(worker.base, body["job_id"])
        to_done = time.perf_counter() - start
        assert done["status"] == "done", done
        print(f"submit -> done: {to_done:.2f} s ({to_done / bare:.2f}x bare), "
              f"items {done['result']['items']}")

        # Two concurrent 850k parses while /health is polled.
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            lat_future = pool.submit(health_latencies, worker.base, stop)
            ids = [http_json("POST", worker.base + "/api/playlist/parse",
                             {"url": f"{url}?copy={i}"})[1]["job_id"] for i in range(2)]
            for job_id in ids:
                wait_done(worker.base, job_id)
            stop.set()
            latencies = lat_future.result()
        sampler.stop_flag.set()
        print(f"/health during 2 parses: p50 {pct(latencies, 50):.1f} ms, "
              f"p99 {pct(latencies, 99):.1f} ms, max {max(latencies):.1f} ms "
              f"({len(latencies)} requests)")
        print(f"peak RSS: worker {sampler.worker_peak:.0f} MB, "
              f"largest parse child {sampler.child_peak:.0f} MB")

        # 1,000 concurrent submits of one new URL.
        starts_before = worker.count_event("parse_start")
        dedupe_url = f"{url}?dedupe=1"
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(lambda _: http_json(
                "POST", worker.base + "/api/playlist/parse", {"url": dedupe_url}), range(1000)))
        job_ids = {b["job_id"] for _, b in answers if isinstance(b, dict) and "job_id" in b}
        wait_done(worker.base, job_ids.pop())
        parses = worker.count_event("parse_start") - starts_before
        statuses = sorted({s for s, _ in answers})
        print(f"1000 identical submits: statuses {statuses}, parses started: {parses}")

    doc = {
        "items": args.items, "playlist_mb": round(size_mb, 1), "bare_parser_s": round(bare, 2),
        "submit_to_done_s": round(to_done, 2), "ratio_to_bare": round(to_done / bare, 2),
        "worker_peak_rss_mb": round(sampler.worker_peak, 1),
        "parse_child_peak_rss_mb": round(sampler.child_peak, 1),
        "health_p50_ms": round(pct(latencies, 50), 1),
        "health_p99_ms": round(pct(latencies, 99), 1),
        "identical_submits": 1000, "parses_started": parses,
    }
    print(f"wrote {write_results('pipeline_parse', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
