"""Leader-broker SIGKILL on the 3-node Kafka cluster while parses run (bench/engines.py).

Two workers parse a steady stream of new playlists. Before the kill, one probe
parse per partition gives the normal submit -> done time; then the broker
leading most partitions of the request topic is SIGKILLed and one probe per
partition is submitted at once. Measured from the kill: when the first probe is
accepted, when the first and the last probe are done (parses resumed on every
partition). Then the stream stops and every accepted job must be final: none
lost, each parsed once (one `parse_start` per job over both workers).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.measure import RssSampler, pct, timed_post, wait_all
from bench.stack import BenchStack, http_json
from pipeline.embedded.kafka_cluster import KafkaCluster
from pipeline.partitioning import key_partition
from pipeline.urls import job_id_for
from tests.integration.http_server import serve_routes, synthetic_playlist

PARTITIONS = 8  # PIPELINE_TOPIC_PARTITIONS of bench/stack.py
STREAM_CLIENTS = 2
JOB_TIMEOUT_S = 300.0


def topic_layout(cluster: KafkaCluster, topic: str) -> dict[str, Any]:
    """Replication factor, configs and the leader of each partition, from `kafka-topics`."""
    out = cluster.tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--describe",
                       "--topic", topic)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-800:])
    head = re.search(r"ReplicationFactor: (\d+)\s+Configs: ?(.*)", out.stdout)
    leaders = {int(p): int(n) for p, n in
               re.findall(r"Partition: (\d+)\s+Leader: (-?\d+)", out.stdout)}
    return {"replication_factor": int(head.group(1)) if head else None,
            "configs": head.group(2).strip() if head else "", "leaders": leaders}


def probe_urls(base: str, tag: str) -> list[str]:
    """One playlist URL per partition: its job id hashes onto that partition."""
    urls: dict[int, str] = {}
    n = 0
    while len(urls) < PARTITIONS:
        url = f"{base}/probe.m3u?{tag}={n}"
        urls.setdefault(key_partition(job_id_for(url), PARTITIONS), url)
        n += 1
    return [urls[p] for p in range(PARTITIONS)]


def run_job(bases: list[str], url: str) -> dict[str, Any]:
    """Submit `url` until accepted, then poll until final (monotonic times, None if not)."""
    submitted = time.monotonic()
    deadline, accepted, job_id = submitted + JOB_TIMEOUT_S, None, ""
    while accepted is None and time.monotonic() < deadline:
        status, body, _ = timed_post(random.choice(bases) + "/api/playlist/parse",
                                     {"url": url}, tries=1)
        if status in (200, 202):
            accepted, job_id = time.monotonic(), body["job_id"]
        else:
            time.sleep(0.1)
    job = {"url": url, "job_id": job_id, "submitted": submitted, "accepted": accepted,
           "done": None, "status": None}
    while job_id and time.monotonic() < deadline:
        try:
            status, body = http_json("GET", f"{random.choice(bases)}/api/playlist/jobs/{job_id}")
        except OSError:
            continue
        if status == 200 and body["status"] in ("done", "failed"):
            return {**job, "done": time.monotonic(), "status": body["status"]}
        time.sleep(0.1)
    return job


def probe_all(bases: list[str], base: str, tag: str) -> list[dict[str, Any]]:
    """A job per partition, all at once."""
    with ThreadPoolExecutor(PARTITIONS) as pool:
        return list(pool.map(lambda u: run_job(bases, u), probe_urls(base, tag)))


class Stream:
    """`STREAM_CLIENTS` clients, each parsing one new playlist after another (closed
    loop: parses keep running without a backlog that would hide the pause)."""

    def __init__(self, bases: list[str], base: str) -> None:
        self.bases, self.base, self.stop = bases, base, threading.Event()
        self.jobs: list[dict[str, Any]] = []
        self.threads = [threading.Thread(target=self._client, args=(c,), daemon=True)
                        for c in range(STREAM_CLIENTS)]

    def _client(self, c: int) -> None:
        n = 0
        while not self.stop.is_set():
            self.jobs.append(run_job(self.bases, f"{self.base}/s.m3u?c={c}&n={n}"))
            n += 1

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def run_failover(stack: BenchStack, warmup_s: float = 15, after_s: float = 15) -> dict[str, Any]:
    """The measurement on `stack` (engine `kafka-3`); the results document."""
    cluster = stack.cluster
    assert cluster is not None, "the failover bench needs the kafka-3 engine"
    workers = [stack.start_worker(), stack.start_worker()]
    bases = [w.base for w in workers]
    samplers = [RssSampler(w) for w in workers]
    for sampler in samplers:
        sampler.start()
    playlist = synthetic_playlist(200)
    routes = {path: (200, playlist, dict[str, str](), 0.0) for path in ("/s.m3u", "/probe.m3u")}
    with serve_routes(routes) as base, Stream(bases, base) as stream:
        time.sleep(warmup_s)
        before = probe_all(bases, base, "before")
        layout = topic_layout(cluster, "playlist.parse.requests")
        victim = Counter(layout["leaders"].values()).most_common(1)[0][0]
        cluster.kill_node(cluster.nodes[victim - 1])
        killed_at = time.monotonic()
        print(f"SIGKILLed broker {victim}, leader of request partitions "
              f"{sorted(p for p, n in layout['leaders'].items() if n == victim)}", flush=True)
        after = probe_all(bases, base, "after")
        time.sleep(after_s)
    jobs = [*stream.jobs, *before, *after]
    accepted = {j["job_id"] for j in jobs if j["accepted"] is not None}
    finals = wait_all(bases, "/api/playlist/jobs/{}", accepted, timeout=600)
    for sampler in samplers:
        sampler.stop_flag.set()
    starts = Counter(e.get("job_id") for w in workers for e in w.events("parse_start"))
    doc = {"replication_factor": layout["replication_factor"],
           "topic_configs": layout["configs"], "victim_broker": victim,
           "victim_partitions": sorted(p for p, n in layout["leaders"].items() if n == victim),
           **timings(killed_at, before, after, jobs),
           **outcome(jobs, accepted, finals, starts),
           "worker_peak_rss_mb": [round(s.worker_peak, 1) for s in samplers]}
    print(f"leader SIGKILL: {doc}")
    return doc


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def timings(killed_at: float, before: list[dict], after: list[dict],
            jobs: list[dict]) -> dict[str, Any]:
    """Seconds: probes before the kill (submit -> done), probes after it (from the kill),
    the first parse submitted after the kill done, the longest time nothing finished."""
    done_after = [j["done"] - killed_at for j in after if j["done"] is not None]
    new_done = [j["done"] - killed_at for j in jobs
                if j["submitted"] >= killed_at and j["done"] is not None]
    ends = sorted(j["done"] for j in jobs if j["done"] is not None)
    gaps = [(b - a, a) for a, b in itertools.pairwise(ends)]
    gap, gap_start = max(gaps) if gaps else (0.0, killed_at)
    return {
        "probe_done_before_kill_s": [_s(j["done"] and j["done"] - j["submitted"])
                                     for j in before],
        "probe_accepted_after_kill_s": [_s(j["accepted"] and j["accepted"] - killed_at)
                                        for j in after],
        "probe_done_after_kill_s": [_s(j["done"] and j["done"] - killed_at) for j in after],
        "first_parse_done_after_kill_s": _s(min(new_done)) if new_done else None,
        "all_partitions_resumed_s": (_s(max(done_after)) if len(done_after) == PARTITIONS
                                     else None),
        "longest_without_a_done_parse_s": _s(gap),
        "longest_gap_began_after_kill_s": _s(gap_start - killed_at),
    }


def outcome(jobs: list[dict], accepted: set[str], finals: dict[str, dict],
            starts: Counter) -> dict[str, Any]:
    """Accepted jobs, final, lost, runs per job and the client's submit latency."""
    latencies = [(j["accepted"] - j["submitted"]) * 1000 for j in jobs
                 if j["accepted"] is not None]
    return {
        "submitted": len(jobs), "never_accepted": len(jobs) - len(latencies),
        "jobs": len(accepted), "final": len(finals),
        "done": sum(1 for f in finals.values() if f["status"] == "done"),
        "lost": len(accepted) - len(finals),
        "parses_started": sum(starts[j] for j in accepted),
        "duplicate_runs": len({j for j in accepted if starts[j] > 1}
                              | {j for j, f in finals.items() if f.get("runs", 1) > 1}),
        "submit_p50_ms": round(pct(latencies, 50), 1),
        "submit_p95_ms": round(pct(latencies, 95), 1),
        "submit_max_ms": round(max(latencies), 1),
    }
