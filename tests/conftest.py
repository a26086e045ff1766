"""Test harness: real embedded broker (Tansu) and S3 (SeaweedFS), real worker processes.

Factory fixtures own their cleanup: a test never writes teardown, and every
process is stopped even when the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipeline.embedded.harness import Broker, S3Server, running_broker, running_s3
from pipeline.embedded.ports import free_port
from pipeline.embedded.process import Child, ChildSpec, wait_until

ROOT = Path(__file__).resolve().parent.parent
WORKER_READY_S = 60


# Modules whose tests share a module- or session-scoped fixture that is costly
# to build (a Kafka cluster, a running worker): under pytest-xdist
# (`--dist loadgroup`) each group runs on one xdist worker, so it is built once.
# The single-node Kafka cluster is session-scoped: a group per module costs one
# cluster (~20 s of start-up) per xdist worker running it, one group for all
# would put ~7 minutes of tests on one xdist worker.
XDIST_GROUPS = {
    "tests/kafka_integration/test_kafka_failover.py": "kafka-3-nodes",
    "tests/kafka_integration/test_kafka_flow.py": "kafka-a",
    "tests/kafka_integration/test_kafka_recovery.py": "kafka-a",
    "tests/kafka_integration/test_kafka_tools.py": "kafka-b",
    "tests/integration/test_intake.py": "intake",
}


def _rel(path: str) -> str:
    return Path(path).resolve().relative_to(ROOT).as_posix()


def _xdist_group(path: str) -> str | None:
    rel = _rel(path)
    for prefix, group in XDIST_GROUPS.items():
        if rel.startswith(prefix):
            return group
    return None


# The longest modules (1.5-4 minutes of wall time each in make test), collected first:
# pytest-xdist hands out work in collection order (after the groups above, largest
# first), so these start at once instead of making a tail after the short tests.
SLOW_FIRST = (
    "tests/kafka_integration/test_kafka_failover.py",
    "tests/integration/test_up.py",
    "tests/kafka_integration/test_kafka_up.py",
    "tests/integration/test_multi_worker.py",
    "tests/integration/test_api_fuzz.py",
    "tests/integration/test_cli.py",
    "tests/integration/test_hostile.py",
    "tests/integration/test_replay.py",
    "tests/integration/test_recovery.py",
    "tests/integration/test_broker_outage.py",
)


def _rank(item: pytest.Item) -> int:
    rel = _rel(str(item.fspath))
    return SLOW_FIRST.index(rel) if rel in SLOW_FIRST else len(SLOW_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the rest keep their order
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        group = _xdist_group(str(item.fspath))
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 for the whole session (buckets created)."""
    with running_s3(tmp_path_factory.mktemp("s3"), "test-access", "test-secret-key") as server:
        yield server


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Tansu broker per test (in-memory log; starts in milliseconds)."""
    with running_broker(tmp_path / "tansu.log") as running:
        yield running


@dataclass
class Worker:
    """A `pipeline worker` subprocess with its own data dir and web port."""

    name: str
    env: dict[str, str]
    port: int
    log_path: Path
    child: Child | None = None
    _log: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> Worker:
        self._log = open(self.log_path, "a")  # noqa: SIM115
        spec = ChildSpec(self.name, [sys.executable, "-m", "pipeline.cli", "worker"],
                         env=self.env, cwd=str(ROOT), stop_grace_s=15)
        self.child = Child(spec, out=self._log)
        self.child.start()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = WORKER_READY_S) -> None:
        def ready() -> bool:
            status, body = self.request("GET", "/health")
            return status == 200 and body.get("status") == "ok"
        wait_until(ready, timeout, f"worker {self.name}", self.child, interval_s=0.25)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.child and self.child.proc
        os.killpg(self.child.proc.pid, sig)  # the parse children go with it
        self.child.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.child:
            self.child.stop()
        if self._log:
            self._log.close()
            self._log = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """Parsed JSON log lines whose event is `name`."""
        out = []
        for line in self.logs().splitlines():
            _, _, payload = line.partition("| ")
            if f'"{name}"' not in payload:
                continue
            try:
                doc = json.loads(payload)
            except ValueError:
                continue
            if doc.get("event") == name:
                out.append(doc)
        return out

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, raw: bytes | None = None,
                timeout: float = 10) -> tuple[int, Any]:
        """(status, JSON body or text) for one HTTP request to this worker."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, {}
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")


@dataclass
class WorkerFactory:
    broker: Broker
    s3: S3Server
    root: Path
    workers: list[Worker] = field(default_factory=list)

    def base_env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        env.update({
            "PIPELINE_BROKER": "embedded",
            "PIPELINE_EMBEDDED_BROKER_PORT": str(self.broker.port),
            "PIPELINE_S3_ENDPOINT": self.s3.endpoint,
            "PIPELINE_S3_ACCESS_KEY": self.s3.access_key,
            "PIPELINE_S3_SECRET_KEY": self.s3.secret_key,
            "PIPELINE_S3_REGION": "us-east-1",
            "PIPELINE_RATE_LIMIT": "100000/minute",
            "PIPELINE_TOPIC_PARTITIONS": "4",
            "PIPELINE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(overrides)
        return env

    def __call__(self, start: bool = True, **overrides: str) -> Worker:
        n = len(self.workers) + 1
        data_dir = self.root / f"worker{n}"
        env = self.base_env(PIPELINE_DATA_DIR=str(data_dir),
                            PIPELINE_WEB_PORT=str(free_port()), **overrides)
        worker = Worker(f"worker{n}", env, int(env["PIPELINE_WEB_PORT"]),
                        self.root / f"worker{n}.log")
        self.workers.append(worker)
        return worker.start() if start else worker


@pytest.fixture
def worker_factory(broker: Broker, s3_server: S3Server,
                   tmp_path: Path) -> Iterator[WorkerFactory]:
    """`worker_factory(**env)` starts a worker against the test's broker and S3."""
    factory = WorkerFactory(broker, s3_server, tmp_path)
    try:
        yield factory
    finally:
        for worker in factory.workers:
            worker.stop()


def poll(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.2,
         what: str = "condition") -> Any:
    """Return the first truthy value of `predicate()`, failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last={last!r}")
