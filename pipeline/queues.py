"""Queue figures for /health: each scheduler registers a reader under its name."""

from __future__ import annotations

from collections.abc import Callable

QueueReader = Callable[[], dict[str, int]]

_readers: dict[str, QueueReader] = {}


def register(name: str, reader: QueueReader) -> None:
    """`reader()` returns `{"waiting": n, "active": m}` for queue `name`."""
    _readers[name] = reader


def snapshot() -> dict[str, dict[str, int]]:
    return {name: reader() for name, reader in _readers.items()}
