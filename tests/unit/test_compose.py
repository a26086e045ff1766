"""The production-like stack (docker-compose.redpanda.yml, Dockerfile, Prometheus config).

No Docker engine is needed: the files are parsed and checked against each
other and against `pipeline.settings.Settings`, so a renamed setting, a moved
port or a missing service fails here instead of at `docker compose up`.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.redpanda.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"

# `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, ... and the `$$` escape.
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
)
_MEM_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


# --------------------------------------------------------------------------- helpers


def _interpolate(text: str) -> str:
    """Compose interpolation with an empty environment: every variable takes its default."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        op, arg = match.group("op"), match.group("arg")
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise AssertionError(f"{match.group(0)} has no default: the stack needs a .env")
        return ""

    return _INTERPOLATION.sub(one, text)


def _resolve(node: Any) -> Any:
    if isinstance(node, str):
        return _interpolate(node)
    if isinstance(node, dict):
        return {key: _resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value) for value in node]
    return node


@pytest.fixture(scope="module")
def raw_text() -> str:
    return COMPOSE.read_text()


@pytest.fixture(scope="module")
def compose(raw_text: str) -> dict[str, Any]:
    doc = yaml.safe_load(raw_text)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return _resolve(doc)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _text(value: Any) -> str:
    """A command/entrypoint/healthcheck as one string."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(part) for part in value)
    return str(value)


def _s3_service(services: dict[str, dict[str, Any]]) -> str:
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        if "minio/minio" in image or "seaweedfs" in image:
            return name
    raise AssertionError("no S3 service (MinIO or SeaweedFS) in the stack")


def _init_services(services: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name in services if name.startswith("init")]


def _long_running(services: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name in services if name not in _init_services(services)]


def _container_ports(entries: list[Any]) -> set[int]:
    """Container ports of `ports` or `expose` entries (short or long syntax)."""
    found: set[int] = set()
    for entry in entries:
        if isinstance(entry, dict):
            found.add(int(entry["target"]))
            continue
        target = str(entry).split("/")[0].rsplit(":", 1)[-1]
        first, _, last = target.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def _host_ports(entries: list[Any]) -> list[str]:
    """The host side of each `ports` entry ('' when none is published)."""
    hosts = []
    for entry in entries:
        if isinstance(entry, dict):
            hosts.append(str(entry.get("published", "")))
            continue
        parts = str(entry).split("/")[0].split(":")
        hosts.append(parts[-2] if len(parts) >= 2 else "")
    return hosts


def _mem_bytes(value: Any) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(value).strip().lower())
    assert match, f"memory limit {value!r} is not like 900m"
    return int(float(match.group(1)) * _MEM_UNITS[match.group(2)])


def _mem_limit(service: dict[str, Any]) -> Any:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return service.get("mem_limit") or limits.get("memory")


def _setting_exists(var: str) -> bool:
    """`PIPELINE_FOO` -> field `foo`; `PIPELINE_SCORE__X` -> field `x` of `score`."""
    path = var.removeprefix("PIPELINE_").lower().split("__")
    fields = Settings.model_fields
    for depth, part in enumerate(path):
        if part not in fields:
            return False
        annotation = fields[part].annotation
        if depth < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            fields = annotation.model_fields
    return True


def _default(field: str) -> Any:
    return Settings.model_fields[field].default


def _pipeline_keys(node: Any) -> set[str]:
    """Every `PIPELINE_*` variable set anywhere in the document (mappings and K=V lists)."""
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("PIPELINE_"):
                keys.add(key)
            keys |= _pipeline_keys(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, str) and re.match(r"PIPELINE_\w+=", item):
                keys.add(item.split("=", 1)[0])
            keys |= _pipeline_keys(item)
    return keys


def _worker_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return _env(services["worker"])


def _worker_port(services: dict[str, dict[str, Any]]) -> int:
    return int(_worker_env(services).get("PIPELINE_WEB_PORT") or _default("web_port"))


def _dockerfile() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) of the whole file and of its final stage, lines joined."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions, instructions[last_from:]


def _exec_form(args: str) -> list[str]:
    args = args.strip()
    return json.loads(args) if args.startswith("[") else shlex.split(args)


# --------------------------------------------------------------------------- services


def test_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    for name in ("redpanda", "console", "worker", "prometheus"):
        assert name in services, f"service {name!r} missing"
    _s3_service(services)
    assert _init_services(services), "no one-shot init service"


def test_every_pipeline_variable_is_a_setting(compose: dict[str, Any], raw_text: str) -> None:
    keys = _pipeline_keys(compose)
    assert keys, "the stack sets no PIPELINE_* variable"
    unknown = sorted(key for key in keys if not _setting_exists(key))
    assert not unknown, f"not fields of pipeline.settings.Settings: {unknown}"
    # Variables interpolated from the operator's environment/.env must be real settings too.
    interpolated = {m.group("name") for m in _INTERPOLATION.finditer(raw_text) if m.group("name")}
    unknown = sorted(
        v for v in interpolated if v.startswith("PIPELINE_") and not _setting_exists(v)
    )
    assert not unknown, f"interpolated variables that are not settings: {unknown}"


def test_setting_mapping_helper() -> None:
    assert _setting_exists("PIPELINE_BROKER")
    assert _setting_exists("PIPELINE_SCORE__PHOTO")
    assert not _setting_exists("PIPELINE_SCORE__NOPE")
    assert not _setting_exists("PIPELINE_NO_SUCH_KNOB")
    assert not _setting_exists("PIPELINE_BROKER__X")


def test_worker_environment_validates(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PIPELINE_"):
            monkeypatch.delenv(key)
    env = _worker_env(services)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()

    assert not settings.embedded_broker and not settings.embedded_s3
    assert settings.log_format == "json"
    assert str(settings.data_dir).startswith("/"), "data dir must be an absolute container path"
    # Reachable by the other replicas, advertising the container hostname.
    assert not settings.web_bind.startswith("127."), settings.web_bind
    assert "PIPELINE_WEB_HOST" not in env, "each replica must advertise its own hostname"
    assert settings.s3_access_key and settings.s3_secret_key, "S3 credentials not passed"


# --------------------------------------------------------------------------- ports


def test_worker_port_matches_container_port_and_prometheus(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    port = _worker_port(services)
    declared = _container_ports(worker.get("ports", [])) | _container_ports(
        worker.get("expose", [])
    )
    assert declared == {port}, f"worker listens on {port}, compose declares {declared}"

    prom = yaml.safe_load(PROMETHEUS.read_text())
    jobs = [
        sd
        for job in prom["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        if "worker" in sd.get("names", [])
    ]
    assert jobs, "deploy/prometheus.yml does not discover the worker replicas"
    for sd in jobs:
        assert sd.get("type", "SRV") == "A", "compose DNS answers A records, not SRV"
        assert int(sd["port"]) == port
    worker_job = next(
        job
        for job in prom["scrape_configs"]
        if any("worker" in sd.get("names", []) for sd in job.get("dns_sd_configs", []))
    )
    assert worker_job.get("metrics_path", "/metrics") == "/metrics"


def test_worker_scales_without_fixed_host_port(services: dict[str, dict[str, Any]]) -> None:
    for host in _host_ports(services["worker"].get("ports", [])):
        assert host == "" or "-" in host, (
            f"host port {host} would clash under --scale worker=N; use a range or none"
        )


def test_broker_address_matches_redpanda_listener(services: dict[str, dict[str, Any]]) -> None:
    broker = _worker_env(services)["PIPELINE_BROKER"]
    assert broker.startswith("kafka://")
    command = _text(services["redpanda"].get("command"))
    advertised = re.search(r"--advertise-kafka-addr[= ](\S+)", command)
    listening = re.search(r"--kafka-addr[= ](\S+)", command)
    assert advertised and listening, "redpanda command lacks its Kafka listeners"

    def addresses(spec: str) -> dict[str, tuple[str, int]]:
        out = {}
        for item in spec.split(","):
            name, _, address = item.rpartition("://")
            host, _, port = address.rpartition(":")
            out[name] = (host, int(port))
        return out

    advertised_by_name = addresses(advertised.group(1))
    listening_ports = {port for _, port in addresses(listening.group(1)).values()}
    for part in broker.removeprefix("kafka://").split(","):
        host, _, port = part.rpartition(":")
        assert (host, int(port)) in advertised_by_name.values(), (
            f"{part} is not an advertised Redpanda listener: {advertised_by_name}"
        )
        assert host == "redpanda"
        assert int(port) in listening_ports
    assert advertised_by_name.get("external", ("", 0))[0] == "localhost"


def test_s3_endpoint_matches_s3_service(services: dict[str, dict[str, Any]]) -> None:
    name = _s3_service(services)
    svc = services[name]
    endpoint = urlsplit(_worker_env(services)["PIPELINE_S3_ENDPOINT"])
    assert endpoint.scheme in ("http", "https")
    assert endpoint.hostname in {name, svc.get("hostname")}
    command = _text(svc.get("command"))
    if "minio" in str(svc.get("image")):
        match = re.search(r"--address[= ]\S*?:(\d+)", command)
        listen = int(match.group(1)) if match else 9000
    else:  # seaweedfs
        match = re.search(r"-s3\.port[= ](\d+)", command)
        listen = int(match.group(1)) if match else 8333
    assert (endpoint.port or (443 if endpoint.scheme == "https" else 80)) == listen
    exposed = _container_ports(svc.get("ports", [])) | _container_ports(svc.get("expose", []))
    assert not exposed or listen in exposed


# --------------------------------------------------------------------------- init jobs


def test_init_creates_every_topic_with_the_worker_partition_count(
    services: dict[str, dict[str, Any]],
) -> None:
    scripts = [
        _text(services[name].get("entrypoint")) + " " + _text(services[name].get("command"))
        for name in _init_services(services)
    ]
    topic_script = next((s for s in scripts if "rpk topic create" in s), "")
    assert topic_script, "no init job runs `rpk topic create`"

    requests = _default("topic_parse_requests")
    uploads = _default("topic_media_uploads")
    expected = {
        requests,
        requests + ".events",
        requests + ".dlq",
        _default("topic_parse_results"),
        uploads,
        uploads + ".events",
        uploads + ".dlq",
        _default("topic_prewarm_results"),
    }
    words = set(re.split(r"[\s\\\"';]+", topic_script))
    assert expected <= words, f"topics not created: {sorted(expected - words)}"

    partitions = re.search(r"(?:--partitions|-p)[= ](\d+)", topic_script)
    assert partitions, "init does not set a partition count"
    env = _worker_env(services)
    worker_partitions = int(env.get("PIPELINE_TOPIC_PARTITIONS") or _default("topic_partitions"))
    assert int(partitions.group(1)) == worker_partitions


def test_init_creates_the_buckets_on_the_worker_endpoint(
    services: dict[str, dict[str, Any]],
) -> None:
    env = _worker_env(services)
    candidates = [
        name
        for name in _init_services(services)
        if "mc mb" in _text(services[name].get("command")) + _text(services[name].get("entrypoint"))
    ]
    assert candidates, "no init job runs `mc mb`"
    svc = services[candidates[0]]
    script = _text(svc.get("entrypoint")) + " " + _text(svc.get("command"))
    assert "--ignore-existing" in script
    # Expand the job's own variables so names given through its environment count.
    init_env = _env(svc)
    expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: init_env.get(m.group(1), m.group(0)), script)
    for field in ("results_bucket", "media_bucket"):
        bucket = env.get(f"PIPELINE_{field.upper()}") or _default(field)
        assert bucket in expanded, f"bucket {bucket} is not created"
    assert env["PIPELINE_S3_ENDPOINT"] in expanded, "buckets made on another S3 than the workers'"


def test_workers_wait_for_broker_and_init(services: dict[str, dict[str, Any]]) -> None:
    depends = services["worker"].get("depends_on")
    assert isinstance(depends, dict), "worker depends_on needs conditions"
    assert depends["redpanda"]["condition"] == "service_healthy"
    for name in _init_services(services):
        assert depends[name]["condition"] == "service_completed_successfully", name
        assert str(services[name].get("restart", "no")) in ("no", "on-failure")


# --------------------------------------------------------------------------- limits


def test_long_running_services_have_memory_limit_and_restart_policy(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in _long_running(services):
        svc = services[name]
        limit = _mem_limit(svc)
        assert limit, f"{name} has no memory limit"
        assert _mem_bytes(limit) > 0
        restart = svc.get("restart") or ((svc.get("deploy") or {}).get("restart_policy") or {}).get(
            "condition"
        )
        assert restart in ("always", "unless-stopped", "on-failure", "any"), (
            f"{name} restart policy {restart!r}"
        )
    assert _mem_bytes(_mem_limit(services["worker"])) == 900 * 1024**2
    assert services["worker"].get("restart") == "unless-stopped"


def test_memory_parser() -> None:
    assert _mem_bytes("900m") == 900 * 1024**2
    assert _mem_bytes("1.5g") == 1536 * 1024**2
    assert _mem_bytes("512M") == 512 * 1024**2


def test_prometheus_uses_repo_config(services: dict[str, dict[str, Any]]) -> None:
    volumes = [
        str(v) if not isinstance(v, dict) else f"{v['source']}:{v['target']}"
        for v in services["prometheus"].get("volumes", [])
    ]
    mounted = [v.split(":")[0] for v in volumes]
    assert any(
        (COMPOSE.parent / src).resolve() == PROMETHEUS.resolve()
        for src in mounted
        if src.startswith(".")
    ), f"deploy/prometheus.yml not mounted: {volumes}"


# --------------------------------------------------------------------------- image


def test_worker_built_from_repo_dockerfile_running_pipeline_worker(
    services: dict[str, dict[str, Any]],
) -> None:
    build = services["worker"]["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    assert context == ROOT
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE.resolve()

    _, final = _dockerfile()
    entrypoint = [_exec_form(args) for op, args in final if op == "ENTRYPOINT"]
    cmd = [_exec_form(args) for op, args in final if op == "CMD"]
    argv = (entrypoint[-1] if entrypoint else []) + (cmd[-1] if cmd else [])
    override = services["worker"].get("command")
    if override:
        argv = (entrypoint[-1] if entrypoint else []) + (
            override if isinstance(override, list) else shlex.split(override)
        )
    assert argv[:2] == ["pipeline", "worker"], argv


def test_dockerfile_installs_the_project_lean_and_unprivileged() -> None:
    assert DOCKERFILE.exists()
    instructions, final = _dockerfile()
    froms = [args for op, args in instructions if op == "FROM"]
    assert all(args.split()[0] == "python:3.11-slim" for args in froms), froms

    runs = " ".join(args for op, args in instructions if op == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$|&|;)", runs), "project not installed"
    assert "[dev]" not in runs and "pip install -e" not in runs

    users = [args.split(":")[0].strip() for op, args in final if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "final image runs as root"

    exposed = {int(p.split("/")[0]) for op, args in final if op == "EXPOSE" for p in args.split()}
    assert _default("web_port") in exposed

    health = " ".join(args for op, args in final if op == "HEALTHCHECK")
    assert "/health" in health and "urllib" in health and "curl" not in health

    # Everything `pip install .` needs is copied, and not excluded by .dockerignore.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml", pyproject["project"]["readme"]] + [
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copies = [args for op, args in instructions if op in ("COPY", "ADD")]
    copies_all = any(args.split()[0] == "." for args in copies)
    copied = " ".join(copies)
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in needed:
        assert copies_all or re.search(rf"(^|\s|/){re.escape(path)}\*?(\s|/|$)", copied), (
            f"{path} is not copied into the image"
        )
        assert path not in ignored, f"{path} is excluded by .dockerignore"
    for heavy in (".venv", ".data", "bench/.work", ".git"):
        assert heavy in ignored, f".dockerignore should exclude {heavy}"
