"""What the views need, built once per worker by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from pipeline.broker import BrokerProbe
from pipeline.jobevents import JobEvents
from pipeline.media.service import PrewarmService
from pipeline.metrics import Metrics
from pipeline.netguard import AddressPolicy
from pipeline.playlist.service import ParseService
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.web.catalogue_cache import CatalogueCache
from pipeline.web.documents import Documents
from pipeline.web.ratelimit import RateLimit
from pipeline.web.recent import AcceptedUploads, PendingParses
from pipeline.web.routing import OwnerRouter
from pipeline.web.streams import StreamLimit

# Queue figures for /health: name -> {"waiting": n, "active": m}.
QueueFigures = Callable[[], dict[str, dict[str, int]]]


@dataclass
class WebDeps:
    """Settings, tables, topics and services the API views read or call."""

    app: faust.App
    settings: Settings
    metrics: Metrics
    topics: Topics
    playlist_jobs: Any  # table job_id -> PlaylistJob
    media_jobs: Any  # table media_id -> MediaJob
    parse: ParseService
    prewarm: PrewarmService
    probe: BrokerProbe
    queue_figures: QueueFigures
    started: float  # time.monotonic() when the worker was built
    webhook_tables: dict[str, Any] = field(default_factory=dict)  # domain -> deliveries table
    router: OwnerRouter = field(init=False)
    rate: RateLimit = field(init=False)
    policy: AddressPolicy = field(init=False)
    pending: PendingParses = field(init=False)
    accepted: AcceptedUploads = field(init=False)
    events: JobEvents = field(init=False)
    documents: Documents = field(init=False)
    streams: StreamLimit = field(init=False)
    catalogues: CatalogueCache = field(init=False)

    def __post_init__(self) -> None:
        self.router = OwnerRouter(self.app, self.settings)
        self.rate = RateLimit(self.settings, self.router)
        self.policy = AddressPolicy.from_settings(self.settings)
        self.pending = PendingParses()
        self.accepted = AcceptedUploads(self.settings.score)
        self.events = JobEvents()
        self.documents = Documents(self.settings, self.parse, self.prewarm)
        self.streams = StreamLimit(self.settings.sse_max_streams_per_client)
        self.catalogues = CatalogueCache(self.settings)
