"""In-process agent tests: the real wiring of `pipeline.worker.build` on an app with
an in-memory store; records go through Faust's `agent.test_context()`, no broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest

from pipeline.settings import Settings
from pipeline.worker import Worker, build


class Sent:
    """What the agents produced, per topic name (sends are recorded, not delivered)."""

    def __init__(self) -> None:
        self.records: dict[str, list[tuple[Any, Any]]] = {}

    def of(self, topic: str) -> list[tuple[Any, Any]]:
        return self.records.get(topic, [])


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [k for k in __import__("os").environ if k.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)
    return Settings(data_dir=tmp_path, topic_partitions=4)


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def worker(settings: Settings, sent: Sent, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A worker wired like production on a memory-store app; topic sends are recorded."""
    app = faust.App("agents-test", store="memory://", autodiscover=False,
                    topic_partitions=settings.topic_partitions)
    built = build(settings, app)
    for topic in vars(built.topics).values():
        if isinstance(topic, faust.types.TopicT):
            monkeypatch.setattr(topic, "send", _recorder(sent, topic))
    app.finalize()
    app.flow_control.resume()
    yield built


def _recorder(sent: Sent, topic: Any) -> Any:
    async def send(*, key: Any = None, value: Any = None, **kwargs: Any) -> None:
        sent.records.setdefault(topic.get_topic_name(), []).append((key, value))
    return send
