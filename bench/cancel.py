"""Cancel bench: stop running 850k parses at several points and time the stop.

For each point (items parsed before the DELETE, `--at`), on one worker: submit
the 850k playlist, wait until its progress passes the point, `DELETE` the job
and measure how long the answer took, when the parse child (and its catalogue
builder) were gone, and the worker's own `stop_s` (`parse_child_stopped`: the
DELETE reaching the owner to the child reaped). Then check nothing of the run
is left visible in the results bucket (no object, no unfinished upload).
Target (the events issue): stopped in under 2 s, no result object left.

    python bench/cancel.py [--items 850000 --at 100000 400000 800000]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_parse import playlist_of
from bench.stack import BenchStack, BenchWorker, bench_stack, http_json, write_results
from pipeline.embedded import seaweed
from tests.conftest import poll
from tests.integration.http_server import serve_dir

BUCKET = "pipeline-results"
STOP_TARGET_S = 2.0
# Command lines of a pooled parse process and of its catalogue builder.
PARSE_MARKS = ("spawn_main", "pipeline.catalogue_builder")


def _parse_processes(worker: BenchWorker) -> list[psutil.Process]:
    """The worker's parse child and its catalogue builder (not its other helpers)."""
    assert worker.child.proc
    out = []
    for proc in psutil.Process(worker.child.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(mark in " ".join(proc.cmdline()) for mark in PARSE_MARKS):
                out.append(proc)
    return out


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _gone(procs: list[psutil.Process]) -> bool:
    return not any(map(_alive, procs))


def _left_in_bucket(stack: BenchStack, job_id: str) -> dict[str, int]:
    s3 = seaweed.s3_client(stack.s3_endpoint, *stack.keys)
    prefix = f"results/{job_id}/"
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    return {"objects": len(objects), "unfinished_uploads": len(uploads)}


def cancel_at(stack: BenchStack, worker: BenchWorker, url: str, at: int) -> dict[str, Any]:
    """One parse of `url` cancelled once its progress passes `at` items."""
    _, body = http_json("POST", worker.base + "/api/playlist/parse", {"url": url})
    job_id, job_url = body["job_id"], f"{worker.base}/api/playlist/jobs/{body['job_id']}"

    def past_point() -> dict | None:
        row = http_json("GET", job_url)[1]
        return row if row.get("status") == "running" and \
            (row.get("progress") or {}).get("items", 0) >= at else None

    row = poll(past_point, 600, what=f"{at} items parsed", interval=0.05)
    procs = _parse_processes(worker)
    started = time.perf_counter()
    status, answer = http_json("DELETE", job_url)
    answered = time.perf_counter() - started
    poll(lambda: _gone(procs), 30, what="parse processes gone", interval=0.01)
    gone = time.perf_counter() - started
    stops = poll(lambda: [e for e in worker.events("parse_child_stopped")
                          if e.get("job_id") == job_id], 30, what="parse_child_stopped logged")
    poll(lambda: [e for e in worker.events("parse_result_discarded")
                  if job_id in e.get("key", "")], 30, what="the discard of the run's result")
    out = {"at_items": at, "items_when_cancelled": row["progress"]["items"],
           "status": status, "job_status": answer.get("status"),
           "answer_s": round(answered, 3), "processes_gone_s": round(gone, 3),
           "worker_stop_s": stops[0]["stop_s"], "processes": len(procs),
           **_left_in_bucket(stack, job_id)}
    print(f"cancel at {at:,} items: {out}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=850_000)
    ap.add_argument("--at", type=int, nargs="+", default=[100_000, 400_000, 800_000])
    args = ap.parse_args()
    playlist = playlist_of(args.items)
    with serve_dir(playlist.parent) as http_base, bench_stack("cancel") as stack:
        worker = stack.start_worker()
        runs = [cancel_at(stack, worker, f"{http_base}/{playlist.name}?cancel={n}", at)
                for n, at in enumerate(args.at)]
    worst = max(max(r["processes_gone_s"], r["worker_stop_s"]) for r in runs)
    ok = all(r["job_status"] == "cancelled" and r["objects"] == 0
             and r["unfinished_uploads"] == 0 for r in runs) and worst < STOP_TARGET_S
    doc = {"items": args.items, "runs": runs, "worst_stop_s": worst,
           "target_s": STOP_TARGET_S, "ok": ok}
    print(f"worst stop {worst:.3f} s (target < {STOP_TARGET_S} s); "
          f"wrote {write_results('cancel', doc)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
