"""A KRaft cluster of 1 or 3 combined broker+controller nodes on 127.0.0.1.

Each node has its own ports and log dir under the cluster's root; `start()`
formats storage (once: a restart on the same root keeps the log), starts the
JVMs and waits until a metadata probe lists every running broker. `stop()` and
an atexit hook make sure no JVM outlives its owner. See docs/production-engine.md.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pipeline.embedded.kafka import (
    LOG4J,
    SERVER_JVM,
    TOOL_JVM,
    TOOLS,
    ensure_jars,
    java_argv,
    new_cluster_id,
    run_tool,
)
from pipeline.embedded.ports import free_port, port_open
from pipeline.embedded.process import Child, ChildSpec, wait_until

READY_S = 90
STOP_GRACE_S = 15


@dataclass
class Node:
    node_id: int
    port: int
    controller_port: int
    root: Path
    child: Child | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def config_path(self) -> Path:
        return self.root / "server.properties"

    def alive(self) -> bool:
        return self.child is not None and self.child.alive()


def node_config(node: Node, voters: str, n_nodes: int, min_isr: int) -> str:
    """server.properties of one combined broker+controller node on loopback."""
    rf = min(3, n_nodes)
    props = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
                     f"CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": node.log_dir,
        "num.partitions": 1,
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min(min_isr, rf),
        # A consumer group forms at once instead of after 3 s (single-box use).
        "group.initial.rebalance.delay.ms": 0,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "log.retention.hours": 168,
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


def node_ready(node: Node, n_brokers: int) -> bool:
    # The port check first: aiokafka logs every refused connection as an error.
    return port_open(node.port) and cluster_ready(node.bootstrap, n_brokers)


def cluster_ready(bootstrap: str, n_brokers: int, timeout_s: float = 3.0) -> bool:
    """True when a metadata request through `bootstrap` lists `n_brokers` brokers."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                    request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(admin.start(), timeout_s)
            cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
            return len(cluster["brokers"]) >= n_brokers and cluster["controller_id"] >= 0
        finally:
            await admin.close()

    try:
        return asyncio.run(probe())
    except Exception:
        return False


@dataclass
class KafkaCluster:
    """1 or 3 KRaft nodes under `root`; `start()` formats (once) and waits until ready."""

    root: Path
    nodes: list[Node]
    libs: Path
    min_isr: int = 1
    out: IO[str] | None = None
    cluster_id: str = ""
    jvm: tuple[str, ...] = SERVER_JVM  # the server's JVM options
    _logs: list[IO[str]] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, n_nodes: int = 1, *, libs: Path | None = None,
               ports: Sequence[int] = (), min_isr: int | None = None,
               out: IO[str] | None = None,
               jvm: tuple[str, ...] = SERVER_JVM) -> KafkaCluster:
        """A cluster description; `ports` fixes the client ports (else free ones),
        `jvm` the servers' JVM options. The cluster id is kept in `root`: a later
        `create` on it reuses the logs."""
        libs = libs or ensure_jars()
        root.mkdir(parents=True, exist_ok=True)
        nodes = [Node(i + 1, ports[i] if i < len(ports) else free_port(), free_port(),
                      root / f"node{i + 1}") for i in range(n_nodes)]
        isr = min_isr if min_isr is not None else (2 if n_nodes >= 3 else 1)
        id_file = root / "cluster.id"  # kept: a restart reuses the formatted log dirs
        if not id_file.exists():
            id_file.write_text(new_cluster_id())
        return cls(root, nodes, libs, isr, out, id_file.read_text().strip(), jvm)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def url(self) -> str:
        """The value for PIPELINE_BROKER."""
        return ",".join(f"kafka://{node.bootstrap}" for node in self.nodes)

    def _write_configs(self) -> None:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        (self.root / "log4j.properties").write_text(LOG4J)
        for node in self.nodes:
            node.root.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(node_config(node, voters, len(self.nodes),
                                                    self.min_isr))

    def _format(self, node: Node) -> None:
        argv = java_argv(self.libs, TOOLS["kafka-storage"],
                         ["format", "-t", self.cluster_id, "-c", str(node.config_path),
                          "--ignore-formatted"], TOOL_JVM, self.root / "log4j.properties")
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"kafka-storage format node {node.node_id} failed: "
                               f"{(proc.stdout + proc.stderr).strip()[-800:]}")

    def spec(self, node: Node) -> ChildSpec:
        argv = java_argv(self.libs, "kafka.Kafka", [str(node.config_path)], self.jvm,
                         self.root / "log4j.properties")
        return ChildSpec(name=f"kafka{node.node_id}", argv=argv, stop_grace_s=30)

    def prepare(self) -> None:
        """Write each node's config and format its log dir (kept if formatted already)."""
        self._write_configs()
        for node in self.nodes:
            self._format(node)

    def start(self, wait: bool = True) -> KafkaCluster:
        self.prepare()
        _LIVE.append(self)
        for node in self.nodes:
            self.start_node(node, wait=False)
        if wait:
            self.wait_ready()
        return self

    def start_node(self, node: Node, wait: bool = True) -> None:
        """(Re)start one node with the config written by `start()`."""
        out = self.out
        if out is None:
            out = open(node.root / "server.log", "a")  # noqa: SIM115 - closed in stop()
            self._logs.append(out)
        node.child = Child(self.spec(node), out=out)
        node.child.start()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = READY_S) -> None:
        """Until every running node answers and its metadata lists the running brokers."""
        running = [n for n in self.nodes if n.child is not None]
        for node in running:
            wait_until(functools.partial(node_ready, node, len(running)), timeout_s,
                       f"kafka node {node.node_id}", node.child, interval_s=0.5)

    def kill_node(self, node: Node) -> None:
        """SIGKILL one node (a crash: no controlled shutdown)."""
        if node.child is not None:
            node.child.stop(grace_s=0)

    def stop(self) -> None:
        """Stop every node (brokers first leave cleanly); idempotent, never leaves a JVM."""
        # In parallel: stopped one by one, the last nodes lose their quorum and wait
        # out the whole grace period in controlled shutdown.
        stops = [threading.Thread(target=node.child.stop, args=(STOP_GRACE_S,))
                 for node in self.nodes if node.child is not None]
        for thread in stops:
            thread.start()
        for thread in stops:
            thread.join()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self in _LIVE:
            _LIVE.remove(self)

    def tool(self, name: str, *args: str, timeout: float = 120,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of Kafka's CLI tools (`TOOLS`) against this cluster's jars."""
        return run_tool(self.libs, name, *args, timeout=timeout, input=input,
                        log4j=self.root / "log4j.properties")


_LIVE: list[KafkaCluster] = []


@atexit.register
def _stop_all() -> None:
    """A process that exits without stopping its clusters still leaves no JVM behind."""
    for cluster in list(_LIVE):
        cluster.stop()
