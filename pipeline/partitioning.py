"""Which partition a key lands on: the same rule as the Kafka Java client and aiokafka.

Keys are JSON-serialised strings (docs/embedded-broker.md: raw and JSON keys hash apart).
"""

from __future__ import annotations

import json

from aiokafka.partitioner import murmur2


def key_bytes(key: str) -> bytes:
    """The wire form of a key: JSON, like Faust's `key_serializer="json"`."""
    return json.dumps(key).encode()


def key_partition(key: str, partitions: int) -> int:
    """murmur2 partitioning of the JSON-encoded key over `partitions` partitions."""
    return int((murmur2(key_bytes(key)) & 0x7FFFFFFF) % partitions)
