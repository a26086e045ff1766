"""The composition root: the one module that builds a worker and wires it.

Builds settings, the Faust app, metrics, topics and tables, the services
(`ParseService`, `PrewarmService`, the broker probe), then registers the agents
and the web views with their dependencies. `pipeline worker` and
`faust -A pipeline.worker worker` start the module attribute `app`; tests build
their own with `build()`. Layers: docs/architecture.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import faust

from agents import media as media_agents
from agents import parse as parse_agents
from agents import webhooks as webhook_agents
from agents.intake import IntakeStep
from pipeline.app import create_app
from pipeline.broker import PROBE_INTERVAL_S, BrokerProbe, consumer_lag
from pipeline.delivery import DeliveryService
from pipeline.intake import IntakeRules, decode_media_upload, decode_parse_request
from pipeline.jobevents import ObservedTable
from pipeline.media.service import PrewarmService
from pipeline.metrics import Metrics
from pipeline.partitioning import key_partition
from pipeline.playlist.service import ParseService
from pipeline.records import ParseEvent, PrewarmEvent, WebhookAttempt
from pipeline.settings import Settings, get_settings
from pipeline.topics import Topics, declare_topics
from pipeline.web.deps import WebDeps
from pipeline.web.push import RowEvents, end_moved_streams
from pipeline.web.routes import register_views
from tables import media_jobs, playlist_jobs, webhooks


@dataclass
class Worker:
    """Everything one worker process is made of."""

    settings: Settings
    app: faust.App
    metrics: Metrics
    topics: Topics
    playlist_jobs: Any
    media_jobs: Any
    probe: BrokerProbe
    parse: ParseService
    prewarm: PrewarmService
    web: WebDeps
    delivery: DeliveryService | None = None


@dataclass
class QueueFigures:
    """Waiting (local queue plus unread input) and running jobs per domain, for /health."""

    app: faust.App
    topics: Topics
    parse: ParseService
    prewarm: PrewarmService

    def lag(self, topic: str) -> int:
        return consumer_lag(self.app.consumer, topic)

    def __call__(self) -> dict[str, dict[str, int]]:
        names, parse, scheduler = self.topics.names, self.parse.counts(), self.prewarm.scheduler
        return {
            "parse": {"waiting": parse["waiting"] + self.lag(names.parse_requests),
                      "active": parse["active"]},
            "prewarm": {"waiting": len(scheduler.queue) + self.lag(names.media_uploads),
                        "active": len(scheduler.active)},
        }


def build(settings: Settings, app: faust.App | None = None) -> Worker:
    """A fully wired worker on `app` (default: `create_app(settings)`)."""
    app = app if app is not None else create_app(settings)
    metrics = Metrics()
    topics = declare_topics(app, settings)
    playlist_table = playlist_jobs.declare(app, settings)
    media_table = media_jobs.declare(app, settings)
    webhook_tables = webhooks.declare(app, settings)
    parse, prewarm = _services(app, settings, metrics, topics, playlist_table)
    probe = BrokerProbe(settings, metrics)
    web = WebDeps(app, settings, metrics, topics, playlist_table, media_table, parse, prewarm,
                  probe, QueueFigures(app, topics, parse, prewarm), started=time.monotonic(),
                  webhook_tables=webhook_tables)
    app.service(web.catalogues)  # type: ignore[arg-type]  # closes the views' S3 client
    delivery = _delivery(app, settings, metrics, topics, web)
    worker = Worker(settings, app, metrics, topics, playlist_table, media_table, probe,
                    parse, prewarm, web, delivery)
    _schedule(app, worker)
    media_intake, parse_intake = _intake(settings, topics, metrics)
    # Agents write rows through ObservedTable: every write is pushed (docs/events.md).
    media_rows = ObservedTable(media_table, RowEvents("media", web.events, web.documents,
                                                      delivery))
    playlist_rows = ObservedTable(playlist_table, RowEvents("playlist", web.events,
                                                            web.documents, delivery))
    media_agents.register(app, media_agents.MediaAgents(settings, topics, media_rows, prewarm,
                                                        media_intake))
    parse_agents.register(app, parse_agents.ParseAgents(settings, topics, playlist_rows, parse,
                                                        parse_intake))
    webhook_agents.register(app, webhook_agents.WebhookAgents(topics, delivery))
    register_views(app, web)
    return worker


def _intake(settings: Settings, topics: Topics,
            metrics: Metrics) -> tuple[IntakeStep, IntakeStep]:
    """The intake steps of `media.uploads` and `playlist.parse.requests` (docs/events.md)."""
    rules, names = IntakeRules.from_settings(settings), topics.names
    return (IntakeStep(names.media_uploads, decode_media_upload, rules, topics.media_keyed,
                       topics.media_dlq, metrics),
            IntakeStep(names.parse_requests, decode_parse_request, rules, topics.parse_keyed,
                       topics.parse_dlq, metrics))


def _delivery(app: faust.App, settings: Settings, metrics: Metrics, topics: Topics,
              web: WebDeps) -> DeliveryService:
    """The webhook delivery service; attempt outcomes go back through the webhooks topic."""

    async def emit_attempt(attempt: WebhookAttempt) -> None:
        sent = await topics.webhooks.send(key=attempt.key, value=attempt)
        await sent  # durable before the attempt counts as made

    delivery = DeliveryService(settings, metrics, web.webhook_tables, web.documents.render,
                               emit_attempt)
    app.service(delivery)  # type: ignore[arg-type]

    async def end_moved(sender: Any, *args: Any, **kwargs: Any) -> None:
        tables = {"playlist": web.playlist_jobs, "media": web.media_jobs}
        end_moved_streams(web.events, web.router.owner_url, tables)

    async def end_streams(sender: Any, *args: Any, **kwargs: Any) -> None:
        web.events.end_all()  # open streams would hold the web server's shutdown

    app.on_rebalance_complete.connect(end_moved)  # type: ignore[arg-type]
    app.on_before_shutdown.connect(end_streams)  # type: ignore[arg-type]
    return delivery


def _services(app: faust.App, settings: Settings, metrics: Metrics, topics: Topics,
              playlist_table: Any) -> tuple[ParseService, PrewarmService]:
    async def emit_prewarm(event: PrewarmEvent) -> None:
        await topics.prewarm_events.send(key=event.media_id, value=event)

    async def emit_parse(event: ParseEvent) -> None:
        await topics.parse_events.send(key=event.job_id, value=event)

    def events_backlog(job_id: str) -> int:
        partition = key_partition(job_id, settings.topic_partitions)
        return consumer_lag(app.consumer, topics.names.parse_events, partition)

    prewarm = PrewarmService(settings, metrics, emit_prewarm)
    parse = ParseService(settings, metrics, emit_parse, playlist_table.get, events_backlog)
    app.service(prewarm)  # type: ignore[arg-type]  # an instance is accepted too
    app.service(parse)  # type: ignore[arg-type]
    return parse, prewarm


def _schedule(app: faust.App, worker: Worker) -> None:
    """The app-level tasks: broker probes and declaring the output-only topics."""

    @app.timer(PROBE_INTERVAL_S)
    async def probe_broker() -> None:
        await worker.probe.probe()

    @app.task
    async def first_probe() -> None:
        await worker.probe.probe()

    @app.task
    async def declare_output_topics() -> None:
        """Create the topics we only produce to (agents declare the ones they read)."""
        for topic in worker.topics.outputs():
            await topic.maybe_declare()


worker = build(get_settings())
app = worker.app
settings = worker.settings
