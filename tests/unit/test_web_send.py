"""`send_or_503`: a submit the broker does not acknowledge in time answers 503 and
leaves the producer's delivery running (found by bench/engines.py's broker SIGKILL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline.errors import NotReady
from pipeline.web import base


class FakeTopic:
    """Like Faust's `Topic.send`: returns the producer's future, whose done callback
    (like Faust's `_on_published`) expects a result or an `Exception`."""

    def __init__(self) -> None:
        self.delivery: asyncio.Future[Any] | None = None
        self.published: list[Any] = []

    async def send(self, key: str, value: Any) -> asyncio.Future[Any]:
        self.delivery = asyncio.get_running_loop().create_future()
        self.delivery.add_done_callback(self._on_published)
        return self.delivery

    def _on_published(self, fut: asyncio.Future[Any]) -> None:
        try:
            self.published.append(fut.result())
        except Exception as exc:
            self.published.append(exc)


def _timed_out_then(monkeypatch: pytest.MonkeyPatch, outcome: Any) -> FakeTopic:
    monkeypatch.setattr(base, "SEND_TIMEOUT_S", 0.05)
    topic = FakeTopic()

    async def scenario() -> None:
        with pytest.raises(NotReady):
            await base.send_or_503(topic, "job", {"url": "http://x/p.m3u"})
        assert topic.delivery is not None and not topic.delivery.cancelled()
        if isinstance(outcome, Exception):  # the producer gives up later
            topic.delivery.set_exception(outcome)
        else:  # the partition's new leader acknowledges later
            topic.delivery.set_result(outcome)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    return topic


def test_timeout_answers_503_and_the_delivery_still_completes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert _timed_out_then(monkeypatch, "acked").published == ["acked"]


def test_timeout_then_a_delivery_error_reaches_the_publish_callback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    error = TimeoutError("no leader")
    assert _timed_out_then(monkeypatch, error).published == [error]


def test_acknowledged_send_returns() -> None:
    topic = FakeTopic()

    async def scenario() -> None:
        task = asyncio.ensure_future(base.send_or_503(topic, "job", {}))
        await asyncio.sleep(0.01)
        assert topic.delivery is not None
        topic.delivery.set_result("acked")
        await task

    asyncio.run(scenario())
    assert topic.published == ["acked"]
