"""Each library internal in `pipeline.compat` still exists in the installed versions.

These fail on purpose when an upgrade of Faust or aiokafka renames or removes
one, instead of a worker degrading quietly (a lag of 0, no forwarding, the
default fetch wait, no group deletion).
"""

from __future__ import annotations

import inspect

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP

from pipeline import compat


@pytest.fixture
def app() -> faust.App:
    return faust.App("compat-test", store="memory://", autodiscover=False)


async def test_consumer_read_offset(app: faust.App) -> None:
    consumer = app.consumer
    assert isinstance(getattr(consumer, compat.READ_OFFSET_ATTR), dict)
    assert compat.read_offset(consumer, TP("t", 0)) is None


async def test_assignor_partition_urls(app: faust.App) -> None:
    assert isinstance(getattr(app.assignor, compat.TPS_URL_ATTR), dict)
    assert compat.owner_url_of(app.assignor, TP("t", 0)) is None


async def test_consumer_fetch_wait_is_settable_and_used_by_start() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
    compat.set_fetch_max_wait_ms(consumer, 25)
    assert getattr(consumer, compat.FETCH_WAIT_ATTR) == 25
    # The value only matters if start() still hands it to the fetcher it builds.
    assert compat.FETCH_WAIT_ATTR in inspect.getsource(AIOKafkaConsumer.start)


def test_admin_send_request_to_node() -> None:
    send = getattr(AIOKafkaAdminClient, compat.SEND_TO_NODE_ATTR)
    assert inspect.iscoroutinefunction(send)
    assert list(inspect.signature(send).parameters)[:3] == ["self", "node_id", "request"]


def test_web_runner_server_options(app: faust.App) -> None:
    compat.set_web_server_option(app.web, "keepalive_timeout", 7)
    runner = getattr(app.web, compat.WEB_RUNNER_ATTR)
    assert getattr(runner, compat.RUNNER_KWARGS_ATTR)["keepalive_timeout"] == 7
