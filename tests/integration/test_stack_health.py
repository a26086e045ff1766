"""A real worker against the real embedded broker and S3: health and metrics."""

from __future__ import annotations

import signal
import urllib.request

from tests.conftest import WorkerFactory, poll


def test_health_reports_broker_and_queues(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    # Polled: one S3 probe may time out while make test's other processes load the machine.
    _, body = poll(lambda: (r := worker.request("GET", "/health"))[0] == 200 and r,
                   timeout=30, what="health 200")
    assert body["status"] == "ok" and body["broker"] is True
    assert body["brokers"] == {"live": 1, "missing": 0}  # Tansu: one broker
    assert set(body["queues"]) >= {"parse", "prewarm"}
    assert body["memory"]["rss_mb"] > 0


def test_metrics_exposes_pipeline_metrics(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    with urllib.request.urlopen(worker.base + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert "pipeline_process_resident_memory_bytes" in text
    assert "pipeline_parse_jobs_total" in text or "pipeline_parse_active" in text


def test_health_degraded_when_broker_frozen(worker_factory: WorkerFactory) -> None:
    worker = worker_factory()
    broker = worker_factory.broker.child
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        poll(lambda: worker.request("GET", "/health", timeout=3)[0] == 503, timeout=30,
             what="degraded health")
        _, body = worker.request("GET", "/health", timeout=3)
        assert body["status"] == "degraded" and body["broker"] is False
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    poll(lambda: worker.request("GET", "/health")[0] == 200, timeout=30, what="health ok again")
