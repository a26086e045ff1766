"""Apache Kafka from Maven Central: its jars, `java` command lines and CLI tools.

The jars come from `tests/kafka/pom.xml` (`mvn dependency:copy-dependencies`)
into a cache folder outside the repo, once; later starts reuse them. The
nodes themselves are in `pipeline.embedded.kafka_cluster`. See
docs/production-engine.md.
"""

from __future__ import annotations

import base64
import fcntl
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import ConfigError

KAFKA_VERSION = "3.9.2"  # keep in step with tests/kafka/pom.xml
POM = Path(__file__).resolve().parents[2] / "tests" / "kafka" / "pom.xml"
DEFAULT_CACHE = Path.home() / ".cache" / "pipeline" / f"kafka-{KAFKA_VERSION}"
# Small heaps, serial GC: the nodes share two cores with the workers under test.
SERVER_JVM = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:MaxMetaspaceSize=192m",
              "-Djava.awt.headless=true")
# Short-lived tools: the C1 compiler alone starts them about twice as fast.
TOOL_JVM = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto")
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-console-producer": "kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-storage": "kafka.tools.StorageTool",
}
LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


def missing_tools() -> list[str]:
    """Names of what the Kafka harness needs and this machine lacks."""
    return [name for name, exe in (("a JDK 17+ (java)", "java"), ("Maven (mvn)", "mvn"))
            if shutil.which(exe) is None]


def ensure_jars(cache: Path = DEFAULT_CACHE, pom: Path = POM) -> Path:
    """The folder holding Kafka's jars, resolved with Maven on first use (then cached)."""
    libs, done = cache / "libs", cache / "libs" / ".complete"
    missing = [m for m in missing_tools() if not (done.exists() and "mvn" in m)]
    if missing:
        raise ConfigError(f"the Kafka broker needs {' and '.join(missing)} on PATH; install "
                          "them, or use the default embedded broker (Tansu)")
    if not pom.exists():
        raise ConfigError(f"Kafka harness description {pom} is missing (run from a checkout)")
    if done.exists():
        return libs
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one resolution at a time (parallel runs)
        if not done.exists():
            _resolve(pom, cache, libs)
    return libs


def _resolve(pom: Path, cache: Path, libs: Path) -> None:
    staging = cache / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    proc = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={staging}"],
        capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise ConfigError("resolving Apache Kafka with Maven failed:\n" + "\n".join(tail))
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / ".complete").write_text(KAFKA_VERSION + "\n")


def classpath(libs: Path) -> str:
    return str(libs / "*")


def java_argv(libs: Path, main: str, args: Sequence[str], jvm: Sequence[str],
              log4j: Path | None = None) -> list[str]:
    opts = list(jvm)
    if log4j is not None:
        opts.append(f"-Dlog4j.configuration=file:{log4j}")
    return ["java", *opts, "-cp", classpath(libs), main, *args]


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # would read as an option on the tools' command line
            return text


def run_tool(libs: Path, name: str, *args: str, timeout: float = 120, input: str | None = None,
             log4j: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`kafka-topics ARGS` and friends: the class behind the script, run from `libs`;
    `input` is written to its stdin (console producer lines)."""
    argv = java_argv(libs, TOOLS[name], args, TOOL_JVM, log4j)
    if input is None:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
