"""Media prewarm job rows, keyed by media_id (changelog-backed, RocksDB)."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.app import app, settings


class MediaJob(faust.Record, serializer="json"):
    """One media prewarm job; rules in `pipeline.media.jobs`."""

    media_id: str
    bucket: str
    key: str
    status: str  # queued | running | done | failed
    size: int = 0
    kind: str = "other"
    content_type: str = ""
    uploaded_at: float = 0.0
    destination: str | None = None
    score: float = 0.0
    attempts: int = 0
    run_id: str = ""
    created_at: float = 0.0
    not_before: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    destination_ref: str | None = None
    error: dict[str, Any] | None = None
    duration_s: float = 0.0  # of the last run
    bytes: int = 0  # pushed to the destination by the run that finished it


media_jobs = app.Table(
    "media_jobs",
    key_type=str,
    value_type=MediaJob,
    default=None,
    partitions=settings.topic_partitions,
    help="Media prewarm jobs by media_id: status, score, attempts, destination ref.",
)
