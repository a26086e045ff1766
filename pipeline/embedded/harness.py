"""A throwaway broker and S3 on free ports, for tests and benchmarks.

`pipeline up` has its own supervisor (`stack.py`); these context managers only
start a part, wait until it answers and stop it at exit, logging to a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.embedded import seaweed, tansu
from pipeline.embedded.kafka_cluster import KafkaCluster
from pipeline.embedded.ports import free_port, listening
from pipeline.embedded.process import Child, wait_until

S3_READY_S, BROKER_READY_S = 60, 20
# The default results, media and broker buckets (pipeline/settings.py).
BUCKETS = ("pipeline-results", "media", "pipeline-broker")


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        return seaweed.s3_client(self.endpoint, self.access_key, self.secret_key)


@dataclass
class Broker:
    port: int
    child: Child

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def running_s3(root: Path, access_key: str, secret_key: str,
               buckets: Sequence[str] = BUCKETS) -> Iterator[S3Server]:
    """SeaweedFS S3 with credentials, data and log under `root`; `buckets` created."""
    port = free_port()
    creds = root / "credentials.json"
    access, secret = seaweed.write_credentials(creds, access_key, secret_key)
    with open(root / "weed.log", "w") as log:
        child = Child(seaweed.weed_spec(port, root / "data", creds), out=log)
        child.start()
        try:
            server = S3Server(f"http://127.0.0.1:{port}", access, secret)
            wait_until(lambda: seaweed.s3_ready(server.endpoint, access, secret),
                       S3_READY_S, "S3", child)
            seaweed.ensure_buckets(server.endpoint, access, secret, list(buckets))
            yield server
        finally:
            child.stop()


@contextmanager
def running_broker(log_path: Path) -> Iterator[Broker]:
    """Tansu with an in-memory log (empty at every start), output to `log_path`."""
    port = free_port()
    with open(log_path, "w") as log:
        child = Child(tansu.tansu_spec(port), out=log)
        child.start()
        try:
            wait_until(lambda: listening(child.pid, port), BROKER_READY_S, "broker", child)
            yield Broker(port, child)
        finally:
            child.stop()


@contextmanager
def running_kafka(root: Path, n_nodes: int = 1, **kwargs: Any) -> Iterator[KafkaCluster]:
    """Apache Kafka, `n_nodes` KRaft nodes with logs under `root`, stopped at exit."""
    cluster = KafkaCluster.create(root, n_nodes, **kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
