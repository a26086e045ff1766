"""Producer options and key placement (no broker needed)."""

from __future__ import annotations

import json

from pipeline.partitioning import key_bytes, key_partition
from pipeline.producer import producer_options
from pipeline.settings import Settings


def test_single_record_batches_only_on_the_embedded_broker() -> None:
    embedded = producer_options(Settings(broker="embedded", embedded_broker_port=19092), "t")
    assert embedded["max_batch_size"] == 1
    assert embedded["bootstrap_servers"] == ["127.0.0.1:19092"]
    redpanda = producer_options(Settings(broker="kafka://rp1:9092,kafka://rp2:9092"), "t")
    assert "max_batch_size" not in redpanda
    assert redpanda["bootstrap_servers"] == ["rp1:9092", "rp2:9092"]
    assert redpanda["acks"] == "all"


def test_keys_are_json_and_partitioned_like_the_agents() -> None:
    assert key_bytes("abc") == json.dumps("abc").encode() == b'"abc"'
    spread = {key_partition(f"job-{i}", 8) for i in range(200)}
    assert spread == set(range(8))
