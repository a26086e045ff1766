"""Webhook deliveries per job, keyed like the job tables (changelog-backed, RocksDB).

One table per domain, keyed by the job id (playlist) or media id (media), so a
delivery row lives on the same partition, and worker, as its job row: the
agent that writes a final job row writes the pending delivery in the same
event, and a restarted worker finds it in the changelog (docs/events.md).
"""

from __future__ import annotations

import faust

from pipeline.records import WebhookDeliveries
from pipeline.settings import Settings

NAMES = {"playlist": "playlist_webhooks", "media": "media_webhooks"}


def declare(app: faust.App, settings: Settings) -> dict[str, faust.types.TableT]:
    """The delivery tables on `app`, by domain (`playlist`, `media`)."""
    return {
        domain: app.Table(
            name, key_type=str, value_type=WebhookDeliveries, default=None,
            partitions=settings.topic_partitions,
            help=f"Webhook deliveries of {domain} jobs: pending, delivered, dead.")
        for domain, name in NAMES.items()
    }
