"""The only place that touches private attributes of Faust and aiokafka.

Each helper names the library internal it relies on and why no public API
does the job; `tests/unit/test_compat.py` fails when an upgrade removes or
renames one, instead of a worker misbehaving quietly (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition

# (owner, attribute) pairs this module relies on, checked by the unit tests.
READ_OFFSET_ATTR = "_read_offset"  # faust.transport.consumer.Consumer
TPS_URL_ATTR = "_tps_url"  # faust.assignor.PartitionAssignor
FETCH_WAIT_ATTR = "_fetch_max_wait_ms"  # aiokafka.AIOKafkaConsumer
SEND_TO_NODE_ATTR = "_send_request_to_node"  # aiokafka.admin.AIOKafkaAdminClient
WEB_RUNNER_ATTR = "_runner"  # faust.web.drivers.aiohttp.Web
RUNNER_KWARGS_ATTR = "_kwargs"  # aiohttp.web_runner.AppRunner


def read_offset(consumer: Any, tp: TopicPartition) -> int | None:
    """The offset of the last record this worker's consumer read on `tp` (None: unknown).

    Faust's public monitor (`app.monitor.tp_read_offsets`) moves only when a
    message is delivered and is cleared at a rebalance, so right after one (when
    a resumed parse waits on the events backlog) it knows nothing; the consumer's
    own map is seeded with the committed position at assignment.
    """
    offsets: dict[Any, int] = getattr(consumer, READ_OFFSET_ATTR)
    return offsets.get(tp)


def owner_url_of(assignor: Any, tp: TopicPartition) -> Any:
    """The web URL of the worker the assignor gave `tp` to (None before an assignment).

    `app.router.key_store` is the public route but fails until this worker's
    producer has metadata for the changelog topic.
    """
    urls: dict[Any, Any] = getattr(assignor, TPS_URL_ATTR)
    return urls.get(tp)


def set_fetch_max_wait_ms(consumer: Any, wait_ms: int) -> None:
    """Set the consumer's fetch wait before `start()` builds its fetcher.

    Faust constructs the aiokafka consumer with a fixed 1500 ms wait and has no
    setting for it (docs/embedded-broker.md).
    """
    getattr(consumer, FETCH_WAIT_ATTR)  # AttributeError when aiokafka renamed it
    setattr(consumer, FETCH_WAIT_ATTR, wait_ms)


async def send_request_to_node(admin: Any, node_id: Any, request: Any) -> Any:
    """Send a raw request to one broker (aiokafka's admin has no delete_consumer_groups)."""
    send = getattr(admin, SEND_TO_NODE_ATTR)
    return await send(node_id, request)


def set_web_server_option(web: Any, name: str, value: Any) -> None:
    """Set an aiohttp server option (e.g. `keepalive_timeout`) on Faust's web runner.

    Faust builds the aiohttp `AppRunner` itself and passes it no server options;
    the runner keeps them in a dict it hands to the server at start.
    """
    runner = getattr(web, WEB_RUNNER_ATTR)
    kwargs: dict[str, Any] = getattr(runner, RUNNER_KWARGS_ATTR)
    kwargs[name] = value
