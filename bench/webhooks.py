"""Webhook bench: every completion delivered, none lost, no undetected duplicate.

`--jobs` media prewarm jobs (upload events with distinct media ids over one small
S3 object, destination `null://`, each with a `callback_url`) are produced
straight to `media.uploads`. Their webhooks go to a real aiohttp receiver in
this process that verifies every call with `pipeline.webhooks.verify`, answers
500 to a seeded random `--fail-ratio` of the calls and 204 to the others, and
records (webhook-id, media id, type, answer). When `--kill-at` of the jobs have
a delivered webhook, the worker's process group is SIGKILLed and the worker is
started again on the same data dir; the bench then waits until every job has a
2xx-answered delivery, and `--settle` seconds more for late redeliveries.

- lost: jobs without a 2xx-answered delivery (must be 0);
- undetected duplicates: jobs whose 2xx-answered deliveries of one outcome type
  carry more than one webhook-id, so a receiver deduping on it would act twice
  (must be 0);
- detected duplicates: one webhook-id answered 2xx more than once (allowed:
  delivery is at-least-once and the receiver dedupes on the id).

Retries are shortened (PIPELINE_WEBHOOK_RETRY_BASE_S / _CAP_S) so the bench ends
in minutes; the schedule's 1 s floor still applies. See docs/events.md.

    python bench/webhooks.py [--jobs 10000 --fail-ratio 0.3 --kill-at 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_parse import pct
from bench.stack import ROOT, BenchStack, BenchWorker, bench_stack, healthy, write_results
from pipeline.embedded import seaweed
from pipeline.embedded.ports import free_port
from pipeline.embedded.process import wait_until
from pipeline.webhooks import WebhookSignatureError, verify

# The example secret of docs/events.md.
SECRET = "whsec_c2VjcmV0LWZvci10aGUtcGlwZWxpbmUtZG9jcw=="
BUCKET, OBJECT = "media", "webhooks/one.jpg"
RETRY_ENV = {"PIPELINE_WEBHOOK_RETRY_BASE_S": "0.2", "PIPELINE_WEBHOOK_RETRY_CAP_S": "2"}


@dataclass(frozen=True)
class Call:
    """One verified call to the receiver and how it was answered."""

    webhook_id: str
    media_id: str
    type: str
    status: int
    at: float
    finished_at: float


@dataclass
class Receiver:
    """Verifies each call, fails a seeded random share with 500, records the rest."""

    fail_ratio: float
    seed: int
    calls: list[Call] = field(default_factory=list)
    bad_signatures: int = 0
    first_ok: dict[str, float] = field(default_factory=dict)  # media id -> first 2xx

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        try:
            msg_id = verify(SECRET, dict(request.headers), body, now=now)
        except WebhookSignatureError:
            self.bad_signatures += 1
            return web.Response(status=401)
        doc = json.loads(body)
        status = 500 if self.rng.random() < self.fail_ratio else 204
        data = doc["data"]
        self.calls.append(Call(msg_id, data["media_id"], doc["type"], status, now,
                               data.get("finished_at") or now))
        if status < 300:
            self.first_ok.setdefault(data["media_id"], now)
        return web.Response(status=status)


def tally(calls: list[Call], media_ids: set[str], bad_signatures: int) -> dict[str, Any]:
    """The bench's verdict from the receiver's record (pure)."""
    ok = [c for c in calls if c.status < 300]
    ids_per_outcome: dict[tuple[str, str], set[str]] = defaultdict(set)
    first: dict[str, Call] = {}
    for call in ok:
        ids_per_outcome[(call.media_id, call.type)].add(call.webhook_id)
        first.setdefault(call.media_id, call)
    per_id = Counter(c.webhook_id for c in ok)
    latency = [c.at - c.finished_at for c in first.values()]
    return {
        "jobs": len(media_ids), "deliveries_attempted": len(calls) + bad_signatures,
        "failures_injected": sum(1 for c in calls if c.status >= 500),
        "delivered_jobs": len(media_ids & first.keys()),
        "lost": len(media_ids - first.keys()),
        "unexpected_jobs": len(first.keys() - media_ids),
        "undetected_duplicates": sum(1 for ids in ids_per_outcome.values() if len(ids) > 1),
        "detected_duplicate_ids": sum(1 for n in per_id.values() if n > 1),
        "detected_duplicate_deliveries": sum(n - 1 for n in per_id.values()),
        "bad_signatures": bad_signatures,
        "types": dict(Counter(c.type for c in first.values())),
        "latency_s": {"p50": round(pct(latency, 50), 3), "p95": round(pct(latency, 95), 3),
                      "max": round(max(latency), 3)} if latency else None,
    }


def start_worker(stack: BenchStack) -> BenchWorker:
    """Topics created first (as an operator would), then one worker with webhooks on."""
    env = {"PIPELINE_PREWARM_DESTINATION": "null://", "PIPELINE_WEBHOOK_SECRET": SECRET,
           **RETRY_ENV}
    with open(stack.root / "topics.log", "w") as log:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "topics", "--create"],
                       env=stack.env(**env), cwd=str(ROOT), check=True, stdout=log,
                       stderr=subprocess.STDOUT)
    return stack.start_worker(**env)


def kill_and_restart(worker: BenchWorker) -> float:
    """SIGKILL the worker's process group, start it on the same data dir; seconds to healthy."""
    proc = worker.child.proc
    assert proc is not None
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)  # its children go with it, as in tests/conftest.py
    proc.wait(timeout=30)
    worker.child.start()
    wait_until(lambda: healthy(worker.base, worker.port), 120, "restarted worker", worker.child)
    return time.monotonic() - started


async def publish(stack: BenchStack, media_ids: list[str], callback: str) -> float:
    """Produce one upload event per media id (keyed as the pipeline keys them); seconds."""
    from aiokafka import AIOKafkaProducer

    # Single-record batches: Tansu misreports log ends for larger ones (EMBEDDED.md).
    producer = AIOKafkaProducer(
        bootstrap_servers=f"127.0.0.1:{stack.broker_port}", max_batch_size=1, linger_ms=0,
        acks=1, key_serializer=lambda k: json.dumps(k).encode(),
        value_serializer=lambda v: json.dumps(v).encode())
    await producer.start()
    started = time.perf_counter()
    try:
        for media_id in media_ids:
            await producer.send("media.uploads", key=media_id, value={
                "media_id": media_id, "bucket": BUCKET, "key": OBJECT, "size": 2048,
                "kind": "photo", "content_type": "image/jpeg", "uploaded_at": time.time(),
                "callback_url": callback})
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def resumed_pending(worker: BenchWorker) -> list[int]:
    """`pending` of each `webhooks_resumed` line: delivery rows the worker found to (re)send."""
    out = []
    for line in worker.log.read_text(errors="replace").splitlines():
        _, _, text = line.partition("| ")
        if '"webhooks_resumed"' in text:
            out.append(int(json.loads(text).get("pending", 0)))
    return out


def rss_mb(worker: BenchWorker) -> float:
    try:
        return worker.rss_mb()[0]
    except (psutil.Error, AssertionError):
        return 0.0  # between the kill and the restart


async def watch(worker: BenchWorker, rec: Receiver, args: argparse.Namespace) -> dict[str, Any]:
    """Wait for every job's delivery, killing the worker once `--kill-at` are delivered."""
    out: dict[str, Any] = {"rss_peak_mb": 0.0, "killed": None}
    deadline, last_print = time.monotonic() + args.timeout, 0.0
    while len(rec.first_ok) < args.jobs and time.monotonic() < deadline:
        out["rss_peak_mb"] = max(out["rss_peak_mb"], rss_mb(worker))
        if out["killed"] is None and len(rec.first_ok) >= args.kill_at * args.jobs:
            at: dict[str, Any] = {"delivered_jobs": len(rec.first_ok), "calls": len(rec.calls)}
            at["restart_s"] = round(await asyncio.to_thread(kill_and_restart, worker), 1)
            out["killed"] = at
            print(f"SIGKILLed the worker and restarted it: {at}", flush=True)
        if time.monotonic() - last_print > 10:
            last_print = time.monotonic()
            print(f"  {len(rec.first_ok)}/{args.jobs} jobs delivered, {len(rec.calls)} calls",
                  flush=True)
        await asyncio.sleep(0.5)
    await asyncio.sleep(args.settle)  # late redeliveries count too
    out["rss_end_mb"] = round(rss_mb(worker), 1)
    out["resumed_pending"] = resumed_pending(worker)
    out["rss_peak_mb"] = round(out["rss_peak_mb"], 1)
    return out


async def run(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    rec = Receiver(args.fail_ratio, args.seed)
    app = web.Application()
    app.router.add_post("/hook", rec.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    callback = f"http://127.0.0.1:{port}/hook"
    try:
        s3 = seaweed.s3_client(stack.s3_endpoint, *stack.keys)
        await asyncio.to_thread(s3.put_object, Bucket=BUCKET, Key=OBJECT, Body=b"x" * 2048)
        worker = await asyncio.to_thread(start_worker, stack)
        media_ids = [f"wh{i}" for i in range(args.jobs)]
        started = time.time()
        publish_s = await publish(stack, media_ids, callback)
        watched = await watch(worker, rec, args)
        wall_s = max(rec.first_ok.values(), default=time.time()) - started
    finally:
        await runner.cleanup()
    return {**tally(rec.calls, set(media_ids), rec.bad_signatures),
            "publish_s": round(publish_s, 1), "wall_s": round(wall_s, 1), **watched}


def print_table(doc: dict[str, Any]) -> None:
    lat = doc["latency_s"] or {}
    rows = [
        ("jobs (media prewarm completions)", doc["jobs"], ""),
        ("deliveries attempted", doc["deliveries_attempted"], ""),
        ("failures injected (500)", doc["failures_injected"], f"~{doc['fail_ratio']:.0%}"),
        ("delivered jobs", doc["delivered_jobs"], doc["jobs"]),
        ("lost", doc["lost"], 0),
        ("undetected duplicates", doc["undetected_duplicates"], 0),
        ("detected duplicates (ids / extra 2xx)",
         f"{doc['detected_duplicate_ids']} / {doc['detected_duplicate_deliveries']}", "allowed"),
        ("bad signatures", doc["bad_signatures"], 0),
        ("worker SIGKILLed after delivered jobs",
         (doc["killed"] or {}).get("delivered_jobs", "-"), ""),
        ("delivery rows pending at each (re)start", doc["resumed_pending"], ""),
        ("finish -> first 2xx p50 / p95 / max s",
         f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('max')}", ""),
        ("wall time s (publish to last delivery)", doc["wall_s"], ""),
        ("worker RSS peak / end MB", f"{doc['rss_peak_mb']} / {doc['rss_end_mb']}", ""),
    ]
    print(f"\n{'':<42} {'measured':>22} {'target':>8}")
    for name, value, target in rows:
        print(f"{name:<42} {value!s:>22} {target!s:>8}")
    print(f"retries shortened for the bench: {doc['retry_env']} (1 s floor)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--fail-ratio", type=float, default=0.3)
    ap.add_argument("--kill-at", type=float, default=0.5,
                    help="share of jobs delivered when the worker is SIGKILLed (above 1: never)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds to keep listening after the last job's delivery")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    # A TERM ends the run like Ctrl-C: the stack's exit stops the worker, broker and S3.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with bench_stack("webhooks") as stack:
        doc = asyncio.run(run(stack, args))
    doc.update(fail_ratio=args.fail_ratio, seed=args.seed, retry_env=RETRY_ENV,
               machine={"cpus": os.cpu_count(),
                        "load_avg_1m_5m": [round(x, 2) for x in os.getloadavg()[:2]]})
    print_table(doc)
    print(f"wrote {write_results('webhooks', doc).relative_to(ROOT)}")
    ok = doc["lost"] == doc["undetected_duplicates"] == doc["bad_signatures"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
