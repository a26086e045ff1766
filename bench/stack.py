"""Start a broker, S3 and workers for benchmarks (same parts as `pipeline up`).

The broker is the embedded Tansu (engine `tansu`, the default) or a 3-node
Apache Kafka KRaft cluster with topics at replication factor 3 and
min.insync.replicas 2 (engine `kafka-3`, docs/production-engine.md).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pipeline.embedded.harness import running_broker, running_kafka, running_s3
from pipeline.embedded.kafka_cluster import KafkaCluster
from pipeline.embedded.ports import free_port, port_open
from pipeline.embedded.process import Child, ChildSpec, wait_until

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
ENGINES = ("tansu", "kafka-3")


def http_json(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def healthy(base: str, port: int) -> bool:
    """/health answers 200; a refused or slow answer (a busy machine) is just not yet."""
    if not port_open(port):
        return False
    try:
        return http_json("GET", base + "/health", timeout=2)[0] == 200
    except OSError:
        return False


@dataclass
class BenchWorker:
    child: Child
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> tuple[float, float]:
        """(worker process RSS, largest child process RSS) in MB."""
        assert self.child.proc
        proc = psutil.Process(self.child.proc.pid)
        kids = [p.memory_info().rss for p in proc.children(recursive=True)
                if p.is_running()]
        return proc.memory_info().rss / 2**20, (max(kids) / 2**20 if kids else 0.0)

    def count_event(self, name: str) -> int:
        needle = f'"event": "{name}"'
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if needle in line)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines (after the child's `name | ` prefix) whose event is `name`."""
        needle, out = f'"event": "{name}"', []
        for line in self.log.read_text(errors="replace").splitlines():
            if needle in line:
                try:
                    out.append(json.loads(line[line.index("{"):]))
                except ValueError:
                    continue
        return out


@dataclass
class BenchStack:
    root: Path
    broker_port: int = 0  # engine `tansu`
    cluster: KafkaCluster | None = None  # engine `kafka-3`
    s3_endpoint: str = ""
    keys: tuple[str, str] = ("bench-access", "bench-secret-key")
    workers: list[BenchWorker] = field(default_factory=list)
    _exit: ExitStack = field(default_factory=ExitStack)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        env.update(self.broker_env())
        env.update(PIPELINE_S3_ENDPOINT=self.s3_endpoint, PIPELINE_S3_ACCESS_KEY=self.keys[0],
                   PIPELINE_S3_SECRET_KEY=self.keys[1], PIPELINE_S3_REGION="us-east-1",
                   PIPELINE_RATE_LIMIT="10000000/minute", PIPELINE_URL_ALLOWLIST="127.0.0.1",
                   PIPELINE_TOPIC_PARTITIONS="8", PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def broker_env(self) -> dict[str, str]:
        """The broker settings of a worker: Tansu's port, or the cluster at RF 3."""
        if self.cluster is None:
            return {"PIPELINE_BROKER": "embedded",
                    "PIPELINE_EMBEDDED_BROKER_PORT": str(self.broker_port)}
        return {"PIPELINE_BROKER": self.cluster.url,
                "PIPELINE_TOPIC_REPLICATION_FACTOR": str(min(3, len(self.cluster.nodes)))}

    def start_worker(self, **extra: str) -> BenchWorker:
        n = len(self.workers) + 1
        port = free_port()
        env = self.env(PIPELINE_WEB_PORT=str(port), PIPELINE_DATA_DIR=str(self.root / f"w{n}"),
                       **extra)
        log_path = self.root / f"worker{n}.log"
        out = self._exit.enter_context(open(log_path, "w"))
        child = Child(ChildSpec(f"w{n}", [sys.executable, "-m", "pipeline.cli", "worker"],
                                env=env, cwd=str(ROOT)), out=out)
        child.start()
        self._exit.callback(child.stop)
        worker = BenchWorker(child, port, log_path)
        wait_until(lambda: healthy(worker.base, port), 90, f"worker {n}", child)
        self.workers.append(worker)
        return worker


@contextmanager
def bench_stack(name: str, keep_s3: bool = False, engine: str = "tansu") -> Iterator[BenchStack]:
    """Tansu (or, engine `kafka-3`, 3 Kafka nodes) + SeaweedFS on free ports; workers
    via `start_worker`; all stopped at exit.

    `bench/.work/<name>` is emptied first, except its S3 objects with `keep_s3`.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {ENGINES}")
    root = WORK / name
    for path in root.glob("*"):
        if keep_s3 and path.name == "s3":
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    stack = BenchStack(root)
    with stack._exit:
        s3 = stack._exit.enter_context(running_s3(root / "s3", *stack.keys))
        stack.s3_endpoint = s3.endpoint
        if engine == "tansu":
            stack.broker_port = stack._exit.enter_context(running_broker(root / "tansu.log")).port
        else:  # min.insync.replicas 2: the cluster's default with 3 nodes
            stack.cluster = stack._exit.enter_context(running_kafka(root / "kafka", 3))
        yield stack


def write_results(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
