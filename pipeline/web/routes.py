"""Every API path and its view, registered on the app by the composition root."""

from __future__ import annotations

import faust

from pipeline.web.base import ApiView
from pipeline.web.catalogue import CatalogueItems, JobDiff, JobGroups, JobItem
from pipeline.web.deps import WebDeps
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
    ("/api/media/uploads", SubmitUpload),
    # Declared before /api/media/{media_id} so that "queue" is not taken for an id.
    ("/api/media/queue", MediaQueue),
    ("/api/media/{media_id}", MediaStatus),
    ("/health", Health),
    ("/metrics", MetricsView),
    ("/openapi.json", OpenAPIView),
)


def register_views(app: faust.App, deps: WebDeps) -> None:
    """Register every view on `app`, each bound to `deps` (a subclass per app)."""
    for path, view in ROUTES:
        bound = type(view.__name__, (view,), {"deps": deps, "__module__": view.__module__,
                                              "__doc__": view.__doc__})
        app.page(path)(bound)
    apply_server_limits(app.web, deps.settings)
