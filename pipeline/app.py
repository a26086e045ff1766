"""The Faust app built from settings, and nothing else.

Topics, tables, services, agents and views are attached by the composition
root, `pipeline.worker` (`faust -A pipeline.worker worker`).
"""

from __future__ import annotations

from typing import Any

import faust

from pipeline.logs import logging_config
from pipeline.settings import Settings
from pipeline.transport import consumer_url


def app_options(settings: Settings) -> dict[str, Any]:
    """Faust settings derived from ours."""
    opts: dict[str, Any] = {
        "broker": settings.broker_url,
        "store": "rocksdb://",
        "datadir": str(settings.table_dir),
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "key_serializer": "json",
        "value_serializer": "json",
        "web_port": settings.web_port,
        "web_bind": settings.web_bind,
        "web_host": settings.advertised_web_host,
        "canonical_url": f"http://{settings.advertised_web_host}:{settings.web_port}",
        "logging_config": logging_config(settings.log_format, settings.log_level),
        "stream_wait_empty": False,
        # Faust's own /router and /table pages would serve raw job rows (full URLs
        # with credentials) without auth; our routing uses the assignor directly.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "producer_acks": -1,
    }
    if settings.embedded_broker:
        # Tansu reports a wrong log end for multi-record batches: single-record
        # batches keep changelog recovery and lag exact (docs/embedded-broker.md).
        opts["producer_max_batch_size"] = 1
        # Tansu answers a fetch only when its wait ends (see pipeline.transport).
        opts["broker_consumer"] = consumer_url(
            "127.0.0.1", settings.embedded_broker_port, settings.embedded_fetch_wait_ms)
        # Group join waits session_timeout/2 on Tansu; short values make a worker
        # ready in seconds. Redpanda/Kafka keep Faust's production defaults.
        opts.update(
            broker_session_timeout=4,
            broker_heartbeat_interval=1,
            broker_rebalance_timeout=10,
        )
    return opts


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured from `settings` (no agents attached)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return faust.App(settings.app_id, autodiscover=False, **app_options(settings))
