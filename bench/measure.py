"""What the pipeline benches measure with: worker RSS, percentiles, timed client calls."""

from __future__ import annotations

import random
import statistics
import threading
import time

from bench.stack import BenchWorker, http_json


class RssSampler(threading.Thread):
    """Peak RSS of a worker and of its largest child, sampled every 0.1 s until stopped."""

    def __init__(self, worker: BenchWorker) -> None:
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


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (1..99) of `values`."""
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def timed_post(url: str, body: dict, tries: int = 20) -> tuple[int, dict, float]:
    """POST like a well-behaved client: retry 503 (rebalance, outage) and a connection
    error or timeout (status 0) after a pause; (status, answer, total ms)."""
    start = time.perf_counter()
    status: int = 0
    answer: dict = {}
    for _ in range(tries):
        try:
            status, answer = http_json("POST", url, body)
        except OSError as exc:  # URLError and socket timeouts: the worker did not answer
            status, answer = 0, {"error": repr(exc)}
        if status not in (0, 503):
            break
        time.sleep(0.5)
    return status, answer, (time.perf_counter() - start) * 1000


def wait_all(bases: list[str], path: str, ids: set[str], timeout: float) -> dict[str, dict]:
    """Poll until every id is final; spread reads over the workers (routing is tested too)."""
    finals: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(finals) < len(ids) and time.monotonic() < deadline:
        for item in list(ids - finals.keys()):
            try:
                status, body = http_json("GET", random.choice(bases) + path.format(item))
            except OSError:
                continue
            if status == 200 and body["status"] in ("done", "failed"):
                finals[item] = body
        time.sleep(0.5)
    return finals
