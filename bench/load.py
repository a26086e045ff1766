"""Load bench: 10,000 submits over 500 URLs from 50 clients against two workers,
then 20,000 upload events; checks nothing is lost or done twice. `run_load` runs
it on any stack (bench/engines.py).

    python bench/load.py [--submits 10000 --urls 500 --clients 50 --uploads 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from argparse import Namespace
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import RssSampler, pct, timed_post, wait_all
from bench.stack import BenchStack, bench_stack, write_results
from pipeline.embedded import seaweed
from tests.integration.http_server import serve_routes, synthetic_playlist


def load_parses(stack, bases, workers, args) -> dict:  # type: ignore[no-untyped-def]
    body = synthetic_playlist(200)
    with serve_routes({"/p.m3u": (200, body, {}, 0.0)}) as http_base:
        urls = [f"{http_base}/p.m3u?u={i}" for i in range(args.urls)]
        plan = [urls[i % args.urls] for i in range(args.submits)]
        random.Random(7).shuffle(plan)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(lambda u: timed_post(
                random.choice(bases) + "/api/playlist/parse", {"url": u}), plan))
        submit_s = time.perf_counter() - started
        ok = [r for r in results if r[0] in (200, 202)]
        job_ids = {r[1]["job_id"] for r in ok}
        finals = wait_all(bases, "/api/playlist/jobs/{}", job_ids, timeout=args.wait_s)
        all_final_s = time.perf_counter() - started
    latencies = [r[2] for r in results]
    parses = sum(w.count_event("parse_start") for w in workers)
    doc = {
        "submits": args.submits, "distinct_urls": args.urls, "clients": args.clients,
        "accepted": len(ok), "rejected": len(results) - len(ok), "jobs": len(job_ids),
        "done": sum(1 for f in finals.values() if f["status"] == "done"),
        "lost": len(job_ids) - len(finals), "parses_started": parses,
        "submit_p50_ms": round(pct(latencies, 50), 1),
        "submit_p95_ms": round(pct(latencies, 95), 1),
        "submits_per_s": round(args.submits / submit_s, 1),
        "all_final_s": round(all_final_s, 1),
    }
    print(f"parse load: {doc}")
    return doc


def load_uploads(stack, bases, workers, args) -> dict:  # type: ignore[no-untyped-def]
    s3 = seaweed.s3_client(stack.s3_endpoint, *stack.keys)
    blob = b"x" * 2048
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="media", Key=f"load/{i}.jpg", Body=blob),
                      range(args.uploads)))
    now = time.time()
    events = [{"media_id": f"m{i}", "bucket": "media", "key": f"load/{i}.jpg", "size": 2048,
               "kind": "photo", "content_type": "image/jpeg", "uploaded_at": now,
               "destination": "null://"} for i in range(args.uploads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(lambda e: timed_post(
            random.choice(bases) + "/api/media/uploads", e), events))
    publish_s = time.perf_counter() - started
    accepted = {r[1]["media_id"] for r in results if r[0] in (200, 202)}
    finals = wait_all(bases, "/api/media/{}", accepted, timeout=args.wait_s + 300)
    all_final_s = time.perf_counter() - started
    done_events = sum(w.count_event("prewarm_done") for w in workers)
    doc = {"uploads": args.uploads, "accepted": len(accepted),
           "done": sum(1 for f in finals.values() if f["status"] == "done"),
           "lost": len(accepted) - len(finals), "prewarm_done_events": done_events,
           "publish_p50_ms": round(pct([r[2] for r in results], 50), 1),
           "publish_p95_ms": round(pct([r[2] for r in results], 95), 1),
           "publish_s": round(publish_s, 1), "all_final_s": round(all_final_s, 1),
           "media_per_min": round(len(finals) / all_final_s * 60)}
    print(f"upload load: {doc}")
    return doc


def run_load(stack: BenchStack, args: Namespace) -> dict:
    """Two workers on `stack`: the parse load, then the upload load; the results document."""
    workers = [stack.start_worker(), stack.start_worker()]
    bases = [w.base for w in workers]
    samplers = [RssSampler(w) for w in workers]
    for s in samplers:
        s.start()
    parse_doc = load_parses(stack, bases, workers, args)
    upload_doc = load_uploads(stack, bases, workers, args) if args.uploads else {}
    for s in samplers:
        s.stop_flag.set()
    doc = {"parse": parse_doc, "uploads": upload_doc,
           "worker_peak_rss_mb": [round(s.worker_peak, 1) for s in samplers],
           "parse_child_peak_rss_mb": [round(s.child_peak, 1) for s in samplers]}
    print(f"peak RSS per worker: {doc['worker_peak_rss_mb']} MB")
    return doc


def load_ok(doc: dict, args: Namespace) -> bool:
    """Nothing lost, each URL parsed once, each upload prewarmed once."""
    parse_doc, upload_doc = doc["parse"], doc["uploads"]
    parses_ok = parse_doc["lost"] == 0 and parse_doc["parses_started"] == args.urls
    return parses_ok and (not args.uploads or (
        upload_doc["done"] == args.uploads and upload_doc["prewarm_done_events"] == args.uploads))


def add_load_args(ap: argparse.ArgumentParser) -> None:
    """The load sizes (also bench/engines.py's flags)."""
    ap.add_argument("--submits", type=int, default=10_000)
    ap.add_argument("--urls", type=int, default=500)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--uploads", type=int, default=20_000)
    ap.add_argument("--wait-s", type=float, default=900,
                    help="how long parses may take to be final (uploads: 300 s more); "
                         "a job not final by then counts as lost")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    add_load_args(ap)
    args = ap.parse_args()
    with bench_stack("load") as stack:
        doc = run_load(stack, args)
    print(f"wrote {write_results('load', doc)}")
    return 0 if load_ok(doc, args) else 1


if __name__ == "__main__":
    sys.exit(main())
