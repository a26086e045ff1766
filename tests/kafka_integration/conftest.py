"""Fixtures for the `kafka` tests: a real Apache Kafka (KRaft) cluster from Maven Central.

Workers run with `PIPELINE_BROKER=kafka://...`, the production path (no Tansu
workarounds). One single-node cluster serves the whole session; each test gets
its own app id and topic names, so tests never see each other's records or
groups. Without a JDK and Maven the tests are skipped, except on CI (`CI` set),
where they fail: a CI that cannot run them must say so.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.commands.kafka_admin import TABLES
from pipeline.embedded.kafka import SERVER_JVM, ensure_jars, missing_tools
from pipeline.embedded.kafka_cluster import KafkaCluster
from pipeline.embedded.ports import free_port
from tests.conftest import ROOT, S3Server, Worker, WorkerFactory, poll

HERE = Path(__file__).resolve().parent
# The test clusters live minutes: the C1 compiler alone starts a node with ~40% less
# CPU (measured: 5.0 s instead of 8.5 s), CPU the workers under test share.
TEST_JVM = (*SERVER_JVM, "-XX:TieredStopAtLevel=1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka: needs a JDK and Maven; runs Apache Kafka (KRaft)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.kafka)
            item.add_marker(pytest.mark.integration)  # kept out of `make unit`


def kafka_libs() -> Path:
    """Kafka's jars (resolved once, then cached); skip, or fail on CI, without java/mvn."""
    missing = missing_tools()
    try:
        return ensure_jars()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"kafka tests cannot run on CI: {exc} (missing: {missing})")
        pytest.skip(f"Apache Kafka unavailable: {exc}")


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One single-node KRaft cluster for the session."""
    libs = kafka_libs()
    cluster = KafkaCluster.create(tmp_path_factory.mktemp("kafka"), 1, libs=libs, jvm=TEST_JVM)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


_namespaces = iter(range(1, 1_000_000))


def namespace_env(prefix: str) -> dict[str, str]:
    """App id and topic names of one test: nothing shared with other tests on the cluster."""
    return {
        "PIPELINE_APP_ID": prefix,
        "PIPELINE_TOPIC_PARSE_REQUESTS": f"{prefix}.parse.requests",
        "PIPELINE_TOPIC_PARSE_RESULTS": f"{prefix}.parse.results",
        "PIPELINE_TOPIC_MEDIA_UPLOADS": f"{prefix}.media.uploads",
        "PIPELINE_TOPIC_PREWARM_RESULTS": f"{prefix}.prewarm.results",
    }


@dataclass
class KafkaWorkerFactory(WorkerFactory):
    """`WorkerFactory` whose workers use a real Kafka cluster (production settings)."""

    cluster: KafkaCluster | None = None
    prefix: str = "k"
    replication: int = 1

    def base_env(self, **overrides: str) -> dict[str, str]:
        assert self.cluster is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        env.update({
            "PIPELINE_BROKER": self.cluster.url,
            "PIPELINE_S3_ENDPOINT": self.s3.endpoint,
            "PIPELINE_S3_ACCESS_KEY": self.s3.access_key,
            "PIPELINE_S3_SECRET_KEY": self.s3.secret_key,
            "PIPELINE_S3_REGION": "us-east-1",
            "PIPELINE_RATE_LIMIT": "100000/minute",
            "PIPELINE_TOPIC_PARTITIONS": "4",
            "PIPELINE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **namespace_env(self.prefix),
        })
        env.update(overrides)
        return env

    def __call__(self, start: bool = True, **overrides: str) -> Worker:
        if not self.workers:
            self.create_topics()
        return super().__call__(start, **overrides)

    def create_topics(self) -> None:
        """Topics and changelogs made before the first worker, and listed in metadata.

        A worker that creates them itself joins its group at once; the broker's
        metadata may not list a new topic yet, Faust's assignor then skips it
        ("Ignoring missing topic"): its records wait for the next rebalance, or,
        for a changelog, the agent crashes with PartitionsMismatch
        (docs/production-engine.md).
        """
        ensure_changelogs(self.cluster, self.prefix, self.replication)  # type: ignore[arg-type]
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "topics", "--create",
                               "--replication-factor", str(self.replication)],
                              env=self.base_env(), cwd=str(ROOT), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_listed(self.cluster, [*(t for t in namespace_env(self.prefix).values()  # type: ignore[arg-type]
                                      if "." in t)])

    def topic(self, setting: str) -> str:
        """This test's name of a topic, by setting (`parse_requests`, ...)."""
        return namespace_env(self.prefix)[f"PIPELINE_TOPIC_{setting.upper()}"]


def ensure_changelogs(cluster: KafkaCluster, app_id: str, replication: int = 1) -> None:
    """The tables' compacted changelogs, as Faust would create them (and Faust's
    assignor topic), with `replication` replicas."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([
                *(NewTopic(f"{app_id}-{table}-changelog", 4, replication,
                           topic_configs={"cleanup.policy": "compact"})
                  for table in TABLES),
                NewTopic(f"{app_id}-__assignor-__leader", 1, replication)])
        finally:
            await admin.close()

    asyncio.run(run())
    wait_listed(cluster, [f"{app_id}-{t}-changelog" for t in TABLES])


def wait_listed(cluster: KafkaCluster, topics: list[str], timeout: float = 30) -> None:
    """Until a metadata request through every node lists `topics`."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def listed(bootstrap: str) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(topics) <= set(await admin.list_topics())
        finally:
            await admin.close()

    for node in cluster.nodes:
        poll(lambda node=node: asyncio.run(listed(node.bootstrap)), timeout=timeout,
             what=f"{topics} listed by node {node.node_id}")


def make_factory(cluster: KafkaCluster, s3: S3Server, root: Path,
                 replication: int = 1) -> KafkaWorkerFactory:
    prefix = f"k{next(_namespaces)}x{free_port()}"  # unique across sessions on one cluster
    return KafkaWorkerFactory(broker=None, s3=s3, root=root,  # type: ignore[arg-type]
                              cluster=cluster, prefix=prefix, replication=replication)


@pytest.fixture
def kafka_workers(kafka_cluster: KafkaCluster, s3_server: S3Server,
                  tmp_path: Path) -> Iterator[KafkaWorkerFactory]:
    """`kafka_workers(**env)` starts a worker on the session's Kafka cluster."""
    factory = make_factory(kafka_cluster, s3_server, tmp_path)
    try:
        yield factory
    finally:
        for worker in factory.workers:
            worker.stop()


__all__ = ["KafkaWorkerFactory", "Worker", "kafka_workers", "namespace_env"]
