"""Playlist job rows, keyed by job_id (changelog-backed, RocksDB)."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.app import app, settings


class PlaylistJob(faust.Record, serializer="json"):
    """One playlist job. `url` is kept unredacted (a resumed job needs it); never expose it."""

    job_id: str
    url: str
    status: str  # queued | running | done | failed
    runs: int = 0
    attempt: int = 0
    run_id: str = ""
    created_at: float = 0.0
    queued_at: float = 0.0
    not_before: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    progress_items: int = 0
    progress_bytes: int = 0
    error: dict[str, Any] | None = None
    result_items: int = 0
    counts: dict[str, int] | None = None
    groups: int = 0
    result_uri: str = ""
    duration_s: float = 0.0
    request_id: str = ""


playlist_jobs = app.Table(
    "playlist_jobs",
    key_type=str,
    value_type=PlaylistJob,
    default=None,
    partitions=settings.topic_partitions,
    help="Playlist parse jobs by job_id: status, progress, result pointer.",
)
