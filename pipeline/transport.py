"""Faust's aiokafka transport with a configurable consumer fetch wait.

Faust hard-codes ``fetch_max_wait_ms=1500``. Kafka and Redpanda answer a
fetch as soon as data arrives, so that is harmless there, but the embedded
broker (Tansu) holds every fetch for the full wait: each topic hop of a job
(request -> agent, outcome event -> agent) then costs ~0.75 s on average.
Registered as the ``pipeline`` transport scheme; ``pipeline.app`` uses it for
the consumer only, as ``pipeline://host:port?fetch_max_wait_ms=N``
(docs/embedded-broker.md).
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline import compat

SCHEME = "pipeline"


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait_ms = transport.url[0].query.get("fetch_max_wait_ms")
        if wait_ms is not None:
            # Read by the fetcher that `start()` builds, which has not run yet.
            compat.set_fetch_max_wait_ms(consumer, int(wait_ms))
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """aiokafka transport whose worker consumer takes ``fetch_max_wait_ms`` from the URL."""

    Consumer = _Consumer


def consumer_url(host: str, port: int, fetch_max_wait_ms: int) -> str:
    """The ``broker_consumer`` URL selecting this transport (registers it)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
    return f"{SCHEME}://{host}:{port}?fetch_max_wait_ms={fetch_max_wait_ms}"
