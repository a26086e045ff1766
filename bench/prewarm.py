"""Benchmark: media prewarm throughput, latency and memory on the embedded stack.

Puts 5,000 photos (50-500 KB) and 50 videos (20-200 MB) into S3 once (kept in
`bench/.work/prewarm/s3` between runs), then for each concurrency a fresh
`bench_stack` (bench/stack.py: S3, a broker with an empty log and a worker with
fresh tables, destination `null://`) runs:

1. large:   one 1 GiB object through an idle worker; RSS growth (peak - before).
2. backlog: every photo and video event published at once (Kafka producer);
            media/min, photos/min, upload->done p50/p95, peak worker RSS.
3. steady:  photos published at a fixed rate (not backlogged); upload->done p50/p95.

"done" is when the bench consumer sees the job's result on media.prewarm.results;
the steady phase also reports latency to the job row's `finished_at`.

    python bench/prewarm.py [--concurrency 5,20] [--photos 5000] [--videos 50]
                            [--large-mib 1024] [--steady 300 --rate 20] [--quick]

Prints figures and writes bench/results/prewarm.json. The replaced worker did
~150 media/min with concurrency 5 and p95 ~500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, BenchStack, BenchWorker, bench_stack, http_json, write_results

KB, MIB = 1000, 1024 * 1024
REPLACED_PER_MIN = 150
BUCKET = "media"
TOPIC_UPLOADS, TOPIC_RESULTS = "media.uploads", "media.prewarm.results"


def s3_client(stack: BenchStack) -> Any:
    """A synchronous client with timeouts for 200 MB puts on a busy machine."""
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=stack.keys[0],
        aws_secret_access_key=stack.keys[1], region_name="us-east-1",
        config=Config(connect_timeout=10, read_timeout=600, retries={"max_attempts": 3},
                      s3={"addressing_style": "path"}))


def start_worker(stack: BenchStack, concurrency: int) -> BenchWorker:
    env = {"PIPELINE_PREWARM_DESTINATION": "null://",
           "PIPELINE_PREWARM_CONCURRENCY": str(concurrency)}
    # As an operator would: topics with PIPELINE_TOPIC_PARTITIONS partitions before the
    # worker subscribes (Tansu auto-creates unknown topics with its own default count).
    with open(stack.root / "topics.log", "w") as log:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "topics", "--create"],
                       env=stack.env(**env), cwd=str(ROOT), check=True, stdout=log,
                       stderr=subprocess.STDOUT)
    return stack.start_worker(**env)


# --- objects


def _body(size: int, seed: int) -> bytes:
    block = random.Random(seed).randbytes(MIB)
    return (block * (size // MIB + 1))[:size]


def put_objects(stack: BenchStack, objects: dict[str, int]) -> None:
    """Put the objects that S3 does not have yet (they survive between runs)."""
    client = s3_client(stack)
    have = {o["Key"]: o["Size"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="bench/") for o in page.get("Contents", [])}
    todo = [(k, s) for k, s in objects.items() if have.get(k) != s]
    if not todo:
        return
    print(f"putting {len(todo)} objects ({sum(s for _, s in todo) / 2**30:.1f} GiB) into S3 ...",
          flush=True)

    local = threading.local()  # one client per thread: making a client costs ~0.1 s of CPU

    def put(item: tuple[str, int]) -> None:
        key, size = item
        if not hasattr(local, "client"):
            local.client = s3_client(stack)
        local.client.put_object(Bucket=BUCKET, Key=key, Body=_body(size, zlib.crc32(key.encode())))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, todo))


# --- events and results


class Probe:
    """Publishes upload events and timestamps every result as it arrives."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.sent: dict[str, float] = {}
        self.done: dict[str, tuple[float, str]] = {}

    async def __aenter__(self) -> Probe:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        # Single-record batches: Tansu misreports log ends for larger ones (EMBEDDED.md).
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, max_batch_size=1, linger_ms=0, acks=1,
            key_serializer=lambda k: json.dumps(k).encode(),
            value_serializer=lambda v: json.dumps(v).encode())
        self.consumer = AIOKafkaConsumer(
            TOPIC_RESULTS, bootstrap_servers=self.bootstrap, group_id=None,
            auto_offset_reset="latest", fetch_max_wait_ms=50)
        await self.producer.start()
        await self.consumer.start()
        self._task = asyncio.ensure_future(self._consume())
        await asyncio.sleep(1.0)  # consumer positioned before anything is sent
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._task.cancel()
        await self.producer.stop()
        await self.consumer.stop()

    async def _consume(self) -> None:
        async for record in self.consumer:
            doc = json.loads(record.value)
            self.done.setdefault(doc["media_id"], (time.time(), doc["status"]))

    async def publish(self, media_id: str, key: str, size: int, kind: str) -> None:
        now = time.time()
        self.sent[media_id] = now
        await self.producer.send(TOPIC_UPLOADS, key=media_id, value={
            "media_id": media_id, "bucket": BUCKET, "key": key, "size": size, "kind": kind,
            "content_type": "video/mp4" if kind == "video" else "image/jpeg",
            "uploaded_at": now})

    async def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(i not in self.done for i in ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def latencies(self, ids: list[str]) -> list[float]:
        return sorted(self.done[i][0] - self.sent[i] for i in ids if i in self.done)


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


# --- phases


async def phase_large(stack: BenchStack, pid: int, size: int) -> dict[str, Any]:
    before = psutil.Process(pid).memory_info().rss
    async with Probe(f"127.0.0.1:{stack.broker_port}") as probe:
        with RssSampler(pid) as rss:
            t0 = time.time()
            await probe.publish("large-1", "bench/large.bin", size, "video")
            await probe.wait(["large-1"], 600)
    status = probe.done.get("large-1", (0, "missing"))[1]
    return {"size_mib": size // MIB, "status": status, "seconds": round(time.time() - t0, 2),
            "rss_before_mb": round(before / MIB, 1),
            "rss_growth_mb": round((max(rss.samples) - before) / MIB, 1)}


async def phase_backlog(stack: BenchStack, pid: int, photos: dict[str, int],
                        videos: dict[str, int]) -> dict[str, Any]:
    async with Probe(f"127.0.0.1:{stack.broker_port}") as probe:
        with RssSampler(pid) as rss:
            t0 = time.time()
            jobs = [(f"p{i}", k, s, "photo") for i, (k, s) in enumerate(photos.items())]
            jobs += [(f"v{i}", k, s, "video") for i, (k, s) in enumerate(videos.items())]
            random.Random(7).shuffle(jobs)
            for media_id, key, size, kind in jobs:
                await probe.publish(media_id, key, size, kind)
            published_s = time.time() - t0
            await probe.wait([j[0] for j in jobs], 1800)
    photo_ids = [j[0] for j in jobs if j[3] == "photo"]
    video_ids = [j[0] for j in jobs if j[3] == "video"]
    last = max(t for t, _ in probe.done.values())
    last_photo = max(probe.done[i][0] for i in photo_ids if i in probe.done)
    failed = sum(1 for _, s in probe.done.values() if s != "done")
    return {
        "jobs": len(jobs), "done": len(probe.done) - failed, "failed": failed,
        "missing": len(jobs) - len(probe.done), "publish_s": round(published_s, 2),
        "media_per_min": round(len(probe.done) / (last - t0) * 60),
        "photos_per_min": round(len(photo_ids) / (last_photo - t0) * 60),
        "photo_latency_s": {"p50": _pct(probe.latencies(photo_ids), 0.5),
                            "p95": _pct(probe.latencies(photo_ids), 0.95)},
        "video_latency_s": {"p50": _pct(probe.latencies(video_ids), 0.5),
                            "p95": _pct(probe.latencies(video_ids), 0.95)},
        "peak_rss_mb": round(max(rss.samples) / MIB, 1),
    }


async def phase_steady(stack: BenchStack, worker: BenchWorker, photos: dict[str, int],
                       rate: float) -> dict[str, Any]:
    async with Probe(f"127.0.0.1:{stack.broker_port}") as probe:
        t0 = time.monotonic()
        ids = []
        for i, (key, size) in enumerate(photos.items()):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            ids.append(f"s{i}")
            await probe.publish(ids[-1], key, size, "photo")
        await probe.wait(ids, 120)
    lat = probe.latencies(ids)
    # The job's own finish time (row `finished_at`), before the outcome event travels back
    # through the broker and the events agent publishes the result.
    rows = {i: http_json("GET", f"{worker.base}/api/media/{i}", timeout=10)[1] for i in ids}
    fin = sorted(rows[i]["finished_at"] - probe.sent[i] for i in ids)
    return {"photos": len(ids), "rate_per_s": rate, "done": len(lat),
            "latency_s": {"p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95), "max": _pct(lat, 1.0)},
            "to_finished_at_s": {"p50": _pct(fin, 0.5), "p95": _pct(fin, 0.95),
                                 "max": _pct(fin, 1.0)}}


def run_config(stack: BenchStack, concurrency: int, args: argparse.Namespace,
               objects: dict) -> dict:
    print(f"\n== concurrency {concurrency}", flush=True)
    out: dict[str, Any] = {"concurrency": concurrency}
    worker = start_worker(stack, concurrency)
    pid = worker.child.pid
    assert pid is not None
    if args.large_mib and concurrency == args.concurrency[0]:
        out["large"] = asyncio.run(phase_large(stack, pid, args.large_mib * MIB))
        print("large  ", out["large"], flush=True)
    out["backlog"] = asyncio.run(phase_backlog(stack, pid, objects["photos"], objects["videos"]))
    print("backlog", out["backlog"], flush=True)
    out["steady"] = asyncio.run(phase_steady(stack, worker, objects["steady"], args.rate))
    print("steady ", out["steady"], flush=True)
    return out


def plan(args: argparse.Namespace) -> dict[str, dict[str, int]]:
    rng = random.Random(42)
    photos = {f"bench/photos/{i:05d}.jpg": rng.randint(50 * KB, 500 * KB)
              for i in range(args.photos)}
    videos = {f"bench/videos/{i:03d}.mp4": rng.randint(20 * 10**6, 200 * 10**6)
              for i in range(args.videos)}
    steady = {f"bench/steady/{i:04d}.jpg": rng.randint(50 * KB, 500 * KB)
              for i in range(args.steady)}
    large = {"bench/large.bin": args.large_mib * MIB} if args.large_mib else {}
    return {"photos": photos, "videos": videos, "steady": steady, "large": large}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="5,20",
                    type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--photos", type=int, default=5000)
    ap.add_argument("--videos", type=int, default=50)
    ap.add_argument("--steady", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0, help="steady photos per second")
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.photos, args.videos, args.steady, args.large_mib = 300, 3, 60, 64
    objects = plan(args)
    runs: list[dict[str, Any]] = []
    for concurrency in args.concurrency:
        # A fresh broker (empty in-memory log) and worker tables for each configuration.
        with bench_stack("prewarm", keep_s3=True) as stack:
            if not runs:
                put_objects(stack, {k: s for group in objects.values() for k, s in group.items()})
            runs.append(run_config(stack, concurrency, args, objects))
    doc = {"bench": "prewarm", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "photos": args.photos, "videos": args.videos, "destination": "null://",
           "replaced_system": {"media_per_min": REPLACED_PER_MIN, "concurrency": 5,
                               "p95_s": 0.5},
           "runs": runs}
    for run in runs:
        ratio = run["backlog"]["media_per_min"] / REPLACED_PER_MIN
        print(f"concurrency {run['concurrency']}: {run['backlog']['media_per_min']} media/min "
              f"({ratio:.0f}x the replaced 150/min), {run['backlog']['photos_per_min']} photos/min,"
              f" steady p95 {run['steady']['latency_s']['p95']} s")
    if not args.quick:
        print(f"wrote {write_results('prewarm', doc).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
