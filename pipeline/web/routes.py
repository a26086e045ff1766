"""Every API path and its view, registered on the app by the composition root."""

from __future__ import annotations

import faust

from pipeline.web.base import ApiView
from pipeline.web.cancel import CancelJob, CancelMedia
from pipeline.web.catalogue import CatalogueItems, JobDiff, JobGroups, JobItem
from pipeline.web.deliveries import MediaDeliveries, PlaylistDeliveries
from pipeline.web.deps import WebDeps
from pipeline.web.dlq import DeadLetters, Redrive
from pipeline.web.events import AllEvents, MediaJobEvents, PlaylistJobEvents
from pipeline.web.health import Health, MetricsView
from pipeline.web.limits import apply_server_limits
from pipeline.web.media import MediaQueue, MediaStatus, SubmitUpload
from pipeline.web.openapi import OpenAPIView
from pipeline.web.playlist import JobStatus, SubmitParse

ROUTES: tuple[tuple[str, type[ApiView]], ...] = (
    ("/api/playlist/parse", SubmitParse),
    ("/api/playlist/jobs/{job_id}", JobStatus),
    # Without a catalogue parameter, /items streams the full NDJSON (docs/catalogue.md).
    ("/api/playlist/jobs/{job_id}/items", CatalogueItems),
    ("/api/playlist/jobs/{job_id}/items/{item_id}", JobItem),
    ("/api/playlist/jobs/{job_id}/groups", JobGroups),
    ("/api/playlist/jobs/{job_id}/diff", JobDiff),
    ("/api/playlist/jobs/{job_id}/events", PlaylistJobEvents),
    ("/api/playlist/jobs/{job_id}/deliveries", PlaylistDeliveries),
    ("/api/events", AllEvents),
    ("/api/media/uploads", SubmitUpload),
    # Declared before /api/media/{media_id} so that "queue" is not taken for an id.
    ("/api/media/queue", MediaQueue),
    ("/api/media/{media_id}", MediaStatus),
    ("/api/media/{media_id}/events", MediaJobEvents),
    ("/api/media/{media_id}/deliveries", MediaDeliveries),
    ("/health", Health),
    ("/metrics", MetricsView),
    ("/openapi.json", OpenAPIView),
    # A path listed twice gets one view with the methods of both (see register_views).
    ("/api/playlist/jobs/{job_id}", CancelJob),
    ("/api/media/{media_id}", CancelMedia),
    ("/api/dlq/{topic}", DeadLetters),
    ("/api/dlq/{topic}/redrive", Redrive),
)


def register_views(app: faust.App, deps: WebDeps) -> None:
    """Register every view on `app`, each bound to `deps` (a subclass per app)."""
    views: dict[str, list[type[ApiView]]] = {}
    for path, view in ROUTES:  # aiohttp takes one view per path: merge their methods
        views.setdefault(path, []).append(view)
    for path, bases in views.items():
        first = bases[0]
        bound = type(first.__name__, tuple(bases), {"deps": deps, "__module__": first.__module__,
                                                    "__doc__": first.__doc__})
        app.page(path)(bound)
    apply_server_limits(app.web, deps.settings)
