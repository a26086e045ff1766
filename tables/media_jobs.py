"""Media prewarm job rows, keyed by media_id (changelog-backed, RocksDB)."""

from __future__ import annotations

import faust

from pipeline.records import MediaJob
from pipeline.settings import Settings

NAME = "media_jobs"


def declare(app: faust.App, settings: Settings) -> faust.types.TableT:
    """The `media_jobs` table on `app` (rows are `pipeline.records.MediaJob`)."""
    return app.Table(
        NAME,
        key_type=str,
        value_type=MediaJob,
        default=None,
        partitions=settings.topic_partitions,
        help="Media prewarm jobs by media_id: status, score, attempts, destination ref.",
    )
