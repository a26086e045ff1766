"""Prometheus metrics on one explicit registry (tests can build their own)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass
class Metrics:
    """Every metric the pipeline exports, prefixed `pipeline_`."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        reg = self.registry
        ProcessCollector(registry=reg, namespace="pipeline")
        self.up = Gauge("pipeline_up", "1 while the worker runs", registry=reg)
        self.broker_up = Gauge("pipeline_broker_up", "1 when the broker answers", registry=reg)
        self.brokers_live = Gauge("pipeline_brokers_live",
                                  "Brokers in the cluster's last metadata answer", registry=reg)
        self.http_requests = Counter(
            "pipeline_http_requests_total", "API requests", ["route", "status"], registry=reg)
        # Intake of the input topics (pipeline.intake): applied, rekeyed or dead_letter
        self.intake_records = Counter(
            "pipeline_intake_records_total", "Input records by intake outcome",
            ["topic", "outcome"], registry=reg)
        self.dead_letters = Counter(
            "pipeline_intake_dead_letters_total", "Input records dead-lettered by reason",
            ["topic", "reason"], registry=reg)
        self.cancels = Counter(
            "pipeline_cancels_total", "Jobs cancelled by request", ["domain"], registry=reg)
        # Playlist parsing
        self.parse_requests = Counter(
            "pipeline_parse_requests_total", "Parse submits by outcome", ["outcome"], registry=reg)
        self.parse_jobs = Counter(
            "pipeline_parse_jobs_total", "Parse runs finished by status", ["status"], registry=reg)
        self.parse_duration = Histogram(
            "pipeline_parse_duration_seconds", "Parse run duration", registry=reg,
            buckets=_DURATION_BUCKETS)
        self.parse_items = Counter("pipeline_parse_items_total", "Items parsed", registry=reg)
        self.parse_bytes = Counter("pipeline_parse_bytes_total", "Playlist bytes read",
                                   registry=reg)
        self.parse_active = Gauge("pipeline_parse_active", "Parses running", registry=reg)
        self.parse_queued = Gauge("pipeline_parse_queued", "Parses waiting", registry=reg)
        # Media prewarm
        self.prewarm_jobs = Counter(
            "pipeline_prewarm_jobs_total", "Prewarm jobs by status", ["status"], registry=reg)
        self.prewarm_duration = Histogram(
            "pipeline_prewarm_duration_seconds", "Prewarm duration", registry=reg,
            buckets=_DURATION_BUCKETS)
        self.prewarm_bytes = Counter(
            "pipeline_prewarm_bytes_total", "Prewarm bytes", ["direction"], registry=reg)
        self.prewarm_cache = Counter(
            "pipeline_prewarm_cache_total", "Download cache lookups", ["result"], registry=reg)
        self.prewarm_active = Gauge("pipeline_prewarm_active", "Prewarms running", registry=reg)
        self.prewarm_queued = Gauge("pipeline_prewarm_queued", "Prewarms waiting", registry=reg)
        # Pushes: event streams and webhooks (docs/events.md)
        self.sse_streams = Gauge("pipeline_sse_streams", "Open event streams", ["route"],
                                 registry=reg)
        self.sse_events = Counter("pipeline_sse_events_total", "Events written to streams",
                                  ["event"], registry=reg)
        self.webhook_attempts = Counter(
            "pipeline_webhook_attempts_total", "Webhook attempts by result and code",
            ["result", "code"], registry=reg)
        self.webhook_pending = Gauge("pipeline_webhook_pending",
                                     "Webhook deliveries waiting on this worker", registry=reg)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
