"""Playlist job rows, keyed by job_id (changelog-backed, RocksDB)."""

from __future__ import annotations

import faust

from pipeline.records import PlaylistJob
from pipeline.settings import Settings

NAME = "playlist_jobs"


def declare(app: faust.App, settings: Settings) -> faust.types.TableT:
    """The `playlist_jobs` table on `app` (rows are `pipeline.records.PlaylistJob`)."""
    return app.Table(
        NAME,
        key_type=str,
        value_type=PlaylistJob,
        default=None,
        partitions=settings.topic_partitions,
        help="Playlist parse jobs by job_id: status, progress, result pointer.",
    )
