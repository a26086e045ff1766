"""Broker liveness and lag readings for /health (cached; /health never waits on Kafka)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaClient

from pipeline import compat
from pipeline.metrics import Metrics
from pipeline.settings import Settings

log = logging.getLogger("pipeline.broker")

PROBE_INTERVAL_S = 2.0
# A probe older than this counts as "broker unreachable" (frozen broker, lost network).
PROBE_STALE_S = 6.0


class BrokerProbe:
    """Asks the broker for metadata every few seconds and remembers the last success."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.last_ok = 0.0
        # Brokers in the last metadata answer, and the most ever seen: fewer live than
        # seen means a broker of the cluster is down (still served by the others).
        self.brokers_live = 0
        self.brokers_seen = 0
        self._client: AIOKafkaClient | None = None
        self._bootstrapped = False

    @property
    def ok(self) -> bool:
        return time.monotonic() - self.last_ok < PROBE_STALE_S

    async def probe(self) -> None:
        if self._client is None:
            self._client = AIOKafkaClient(
                bootstrap_servers=self.settings.broker_bootstrap, request_timeout_ms=3000,
                metadata_max_age_ms=1000,
            )
        try:
            if not self._bootstrapped:
                await asyncio.wait_for(self._client.bootstrap(), timeout=3)
                self._bootstrapped = True
            metadata = await asyncio.wait_for(self._client.fetch_all_metadata(), timeout=3)
            self._count_brokers(len(metadata.brokers()))
            self.last_ok = time.monotonic()
        except Exception as exc:  # any failure means "not reachable right now"
            log.debug("broker_probe_failed", extra={"error": str(exc)})
        self.metrics.broker_up.set(1 if self.ok else 0)

    @property
    def brokers_missing(self) -> int:
        """Brokers seen earlier that the cluster's metadata no longer lists."""
        return max(0, self.brokers_seen - self.brokers_live)

    def _count_brokers(self, live: int) -> None:
        if live < self.brokers_live:
            log.warning("broker_lost", extra={"live": live, "seen": self.brokers_seen})
        elif live > self.brokers_live and self.brokers_live:
            log.info("broker_joined", extra={"live": live, "seen": self.brokers_seen})
        self.brokers_live, self.brokers_seen = live, max(self.brokers_seen, live)
        self.metrics.brokers_live.set(live)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def consumer_lag(consumer: Any, topic: str, partition: int | None = None) -> int:
    """Records not yet read from `topic` on the partitions `consumer` owns
    (or on `partition` only)."""
    lag = 0
    try:
        for tp in consumer.assignment():
            if tp.topic != topic or partition not in (None, tp.partition):
                continue
            high = consumer.highwater(tp) or 0
            read = compat.read_offset(consumer, tp)
            lag += max(0, high - ((read + 1) if read is not None else high))
    except Exception:  # consumer not started or mid-rebalance
        return 0
    return lag
