"""`pipeline up`: start what is missing of broker, S3 and worker; supervise; stop cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from types import FrameType

from pipeline.embedded import kafka, seaweed, tansu
from pipeline.embedded.kafka_cluster import KafkaCluster, node_ready
from pipeline.embedded.kafka_topics import ensure_topics
from pipeline.embedded.ports import ensure_free, listening
from pipeline.embedded.process import Child, ChildSpec, wait_until
from pipeline.errors import ConfigError
from pipeline.settings import Settings, get_settings

READY_TIMEOUT_S = 60
# Restart backoff for a child that dies unexpectedly (doubling, capped).
BACKOFF_START_S, BACKOFF_MAX_S = 1.0, 30.0
# A child that ran this long before dying gets its backoff reset.
STABLE_AFTER_S = 60.0


def say(message: str) -> None:
    print(f"{'stack':>7} | {message}", flush=True)


def worker_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except Exception:
        return False


@dataclass
class Supervised:
    child: Child
    ready: object  # Callable[[], bool]
    backoff_s: float = BACKOFF_START_S
    started_at: float = 0.0
    restart_at: float | None = None


@dataclass
class Stack:
    """The embedded stack: children started in order, stopped in reverse."""

    settings: Settings
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    parts: list[Supervised] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Set when a broker with an empty in-memory log starts: local tables are stale then.
    fresh_log: bool = True

    @property
    def durable(self) -> bool:
        """The embedded broker is Apache Kafka: its log (and so the tables) survive restarts."""
        return self.settings.embedded_broker and self.settings.embedded_engine == "kafka"

    # --- set-up

    def check_ports(self, with_worker: bool = True) -> None:
        s = self.settings
        if s.embedded_s3:
            ensure_free(s.embedded_s3_port, "PIPELINE_EMBEDDED_S3_PORT")
        if s.embedded_broker:
            ensure_free(s.embedded_broker_port, "PIPELINE_EMBEDDED_BROKER_PORT")
        if with_worker:
            ensure_free(s.web_port, "PIPELINE_WEB_PORT")

    def start_s3(self) -> None:
        s = self.settings
        access, secret = seaweed.write_credentials(
            s.s3_credentials_file,
            s.s3_access_key.get_secret_value() if s.s3_access_key else None,
            s.s3_secret_key.get_secret_value() if s.s3_secret_key else None,
        )
        self.env["PIPELINE_S3_ACCESS_KEY"], self.env["PIPELINE_S3_SECRET_KEY"] = access, secret
        spec = seaweed.weed_spec(s.embedded_s3_port, s.data_dir / "s3" / "data",
                                 s.s3_credentials_file, env=self.env)
        endpoint = s.s3_endpoint_url
        part = self._start(spec, lambda: seaweed.s3_ready(endpoint, access, secret))
        seaweed.ensure_buckets(endpoint, access, secret,
                               [s.results_bucket, s.media_bucket, s.broker_bucket])
        say(f"S3 ready on {endpoint} (pid {part.child.pid})")

    def start_broker(self) -> None:
        port = self.settings.embedded_broker_port
        if self.durable:
            self.start_kafka(port)
            return
        spec = tansu.tansu_spec(port, self.env)
        part = self._start(spec, lambda: listening(self._child(spec.name).pid, port))
        say(f"broker ready on 127.0.0.1:{port} (pid {part.child.pid})")

    def start_kafka(self, port: int) -> None:
        """Single-node Apache Kafka with its log under the data dir; topics made up front."""
        cache = kafka.DEFAULT_CACHE
        if not (cache / "libs" / ".complete").exists():
            say(f"resolving Apache Kafka {kafka.KAFKA_VERSION} with Maven (first run only)")
        cluster = KafkaCluster.create(self.settings.data_dir / "kafka", 1,
                                            libs=kafka.ensure_jars(cache), ports=[port])
        cluster.prepare()
        node = cluster.nodes[0]
        spec = cluster.spec(node)
        spec.name, spec.env = "broker", self.env
        part = self._start(spec, lambda: node_ready(node, 1))
        # The worker then runs the production path against it (no Tansu workarounds).
        self.env["PIPELINE_BROKER"] = f"kafka://127.0.0.1:{port}"
        created = ensure_topics(self.settings)
        say(f"Apache Kafka ready on 127.0.0.1:{port} (pid {part.child.pid}, log in "
            f"{node.log_dir}" + (f", {len(created)} topics created)" if created else ")"))

    def start_worker(self) -> None:
        port = self.settings.web_port
        spec = ChildSpec(name="worker", argv=[sys.executable, "-m", "pipeline.cli", "worker"],
                         env=self.env, stop_grace_s=15)
        part = self._start(spec, lambda: worker_ready(port))
        say(f"worker ready on http://127.0.0.1:{port} (pid {part.child.pid})")

    def _child(self, name: str) -> Child:
        return next(part.child for part in self.parts if part.child.name == name)

    def _start(self, spec: ChildSpec, ready: object) -> Supervised:
        part = Supervised(Child(spec), ready)
        self.parts.append(part)
        self._launch(part)
        return part

    def _launch(self, part: Supervised) -> None:
        if part.child.name == "broker" and not self.durable:
            self.fresh_log = True
        if part.child.name == "worker" and self.settings.embedded_broker and self.fresh_log:
            self.wipe_table_state()
            self.fresh_log = False
        part.child.start()
        part.started_at = time.monotonic()
        wait_until(part.ready, READY_TIMEOUT_S, f"{part.child.name} start", part.child)  # type: ignore[arg-type]

    def wipe_table_state(self) -> None:
        """A fresh in-memory log means the local tables are stale: start them over."""
        table_dir = self.settings.table_dir
        if table_dir.exists() and not self.durable:
            shutil.rmtree(table_dir)

    # --- supervision

    def supervise(self) -> None:
        """Restart children that die unexpectedly, with backoff, until asked to stop."""
        while not self.stop_event.wait(0.5):
            for part in self.parts:
                self._check(part)

    def _check(self, part: Supervised) -> None:
        child = part.child
        if child.alive() or child.stopping:
            return
        now = time.monotonic()
        if part.restart_at is None:
            if now - part.started_at > STABLE_AFTER_S:
                part.backoff_s = BACKOFF_START_S
            say(f"{child.name} exited with code {child.returncode()}; "
                f"restarting in {part.backoff_s:.0f} s")
            part.restart_at = now + part.backoff_s
            part.backoff_s = min(part.backoff_s * 2, BACKOFF_MAX_S)
            return
        if now < part.restart_at:
            return
        part.restart_at = None
        try:
            self._launch(part)
            say(f"{child.name} restarted (pid {child.pid})")
            if child.name == "broker" and not self.durable:
                # The log was in the broker's memory: the worker's tables are stale now.
                self._restart_worker()
        except (RuntimeError, TimeoutError) as exc:
            say(f"{child.name} restart failed: {exc}")

    def _restart_worker(self) -> None:
        for part in self.parts:
            if part.child.name == "worker":
                say("broker log was reset: restarting the worker with fresh tables")
                part.child.stop()
                self._launch(part)

    def stop(self) -> None:
        """Stop every child, last started first; never leaves a process behind."""
        self.stop_event.set()
        for part in reversed(self.parts):
            if part.child.proc is not None:
                say(f"stopping {part.child.name} (pid {part.child.pid})")
                part.child.stop()

    # --- entry point

    def banner(self, with_worker: bool = True) -> None:
        s = self.settings
        access, secret = self.env.get("PIPELINE_S3_ACCESS_KEY", ""), self.env.get(
            "PIPELINE_S3_SECRET_KEY", "")
        lines = [
            "pipeline is up",
            f"  API        http://127.0.0.1:{s.web_port}  (/health, /metrics, /api/...)"
            if with_worker else
            "  worker     not started: run `pipeline worker` (same environment) yourself",
            f"  broker     {s.broker_url}" + (
                "  (embedded Apache Kafka, log on disk)" if self.durable else
                "  (embedded, in-memory log)" if s.embedded_broker else ""),
            f"  S3         {s.s3_endpoint_url}" + ("  (embedded)" if s.embedded_s3 else ""),
        ]
        if s.embedded_s3:
            lines += [f"  S3 access key  {access}", f"  S3 secret key  {secret}",
                      f"  buckets    {s.results_bucket}, {s.media_bucket}"]
        if s.embedded_broker and not self.durable:
            lines += ["  NOTE: the embedded log lives in memory: jobs do not survive a",
                      "        restart of the embedded stack. PIPELINE_EMBEDDED_BROKER=kafka",
                      "        keeps it on disk (needs java and mvn)."]
        lines.append("  Ctrl-C stops everything.")
        for line in lines:
            say(line)


def run_stack(settings: Settings | None = None, with_worker: bool = True) -> int:
    """Run the stack in the foreground until Ctrl-C or SIGTERM; return an exit code.

    Without `with_worker` only broker and S3 run (supervised): workers are
    started, killed and restarted by hand, as an operator would on a cluster.
    """
    stack = Stack(settings or get_settings())
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            stack.stop_event.set()
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.check_ports(with_worker)
        stack.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if stack.settings.embedded_s3:
            stack.start_s3()
        if stack.settings.embedded_broker:
            stack.start_broker()
        if with_worker:
            stack.start_worker()
        elif stack.settings.embedded_broker:
            stack.wipe_table_state()  # the log starts empty: tables of an earlier run are stale
        stack.banner(with_worker)
        stack.supervise()
        return 0
    except KeyboardInterrupt:
        return 0
    except (ConfigError, RuntimeError, TimeoutError) as exc:
        say(f"error: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        say("stopped")
