"""The job events hub, the stream writer, the per-client limit and delivery rows (pure parts)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline import sse
from pipeline.delivery import DEAD, DONE, PENDING, applied, public_item
from pipeline.errors import RateLimited
from pipeline.jobevents import (
    HISTORY_EVENTS,
    HISTORY_PER_JOB,
    SUBSCRIBER_BUFFER,
    JobEvents,
    ObservedTable,
    event_name,
)
from pipeline.web.streams import StreamLimit, write_events


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_event_names_follow_the_row() -> None:
    assert event_name("queued") == "queued"
    assert event_name("running") == "started"
    assert event_name("running", 10, 0) == "progress"
    assert event_name("done", 10, 100) == "done"
    assert event_name("cancelled") == "cancelled"


def test_ids_increase_and_resume_returns_what_came_after() -> None:
    hub = JobEvents(clock=Clock())
    first = hub.publish("playlist", "j", "queued", {"status": "queued"})
    second = hub.publish("playlist", "j", "started", {"status": "running"})
    third = hub.publish("playlist", "j", "done", {"status": "done"})
    assert first and second and third and first.seq < second.seq < third.seq
    assert hub.since("playlist", "j", first.seq) == [second, third]
    assert hub.since("playlist", "j", third.seq) == []
    assert hub.since("playlist", "j", None) is None
    assert hub.since("playlist", "j", first.seq - 1) is None  # not one of ours: current state
    assert hub.since("media", "j", first.seq) is None  # domains do not mix
    assert third.final and not first.final


def test_a_restarted_hub_numbers_above_an_older_one() -> None:
    clock = Clock()
    old = JobEvents(clock=clock).publish("playlist", "j", "queued", {})
    clock.now += 1
    new = JobEvents(clock=clock).publish("playlist", "j", "queued", {})
    assert old and new and new.seq > old.seq


def test_progress_at_most_once_a_second_and_history_is_bounded() -> None:
    clock = Clock()
    hub = JobEvents(clock=clock)
    assert hub.publish("playlist", "j", "progress", {}) is not None
    assert hub.publish("playlist", "j", "progress", {}) is None
    clock.now += 1.0
    assert hub.publish("playlist", "j", "progress", {}) is not None
    assert hub.publish("playlist", "j", "done", {}) is not None  # finals are never dropped
    for _ in range(HISTORY_PER_JOB + 5):
        clock.now += 1.0
        hub.publish("playlist", "k", "progress", {})
    last = hub.current("playlist", "k", "progress", {})
    assert hub.since("playlist", "k", last.seq) == []


def test_history_holds_a_bounded_number_of_events_across_jobs() -> None:
    """Many jobs: the least recently changed lose their history (a stream resuming
    one starts from its current state), the recent ones keep theirs."""
    hub = JobEvents(clock=Clock())
    firsts = []
    for i in range(HISTORY_EVENTS):  # twice the events the history keeps
        firsts.append(hub.publish("media", f"m{i}", "queued", {"media_id": f"m{i}"}))
        hub.publish("media", f"m{i}", "done", {"media_id": f"m{i}"})
    assert hub.remembered() <= HISTORY_EVENTS
    newest, oldest = firsts[-1], firsts[0]
    assert newest and oldest
    assert [e.event for e in hub.since("media", newest.key, newest.seq) or []] == ["done"]
    assert hub.since("media", oldest.key, oldest.seq) is None


async def test_subscriptions_fan_out_by_job_and_by_domain() -> None:
    hub = JobEvents(clock=Clock())
    one, other, every = (hub.subscribe("playlist", "j"), hub.subscribe("playlist", "k"),
                         hub.subscribe("playlist"))
    media = hub.subscribe("media")
    event = hub.publish("playlist", "j", "queued", {"job_id": "j"})
    assert await one.next(0.1) == event and await every.next(0.1) == event
    assert await other.next(0.01) is None and await media.next(0.01) is None
    hub.unsubscribe(one)
    hub.publish("playlist", "j", "done", {})
    assert await one.next(0.01) is None
    assert hub.end_all() == 3 and other.ended and every.ended and media.ended


async def test_a_stalled_reader_is_ended_not_buffered_forever() -> None:
    hub = JobEvents(clock=Clock())
    sub = hub.subscribe("media")
    for n in range(SUBSCRIBER_BUFFER + 1):
        hub.publish("media", str(n), "queued", {})
    assert sub.ended and len(sub.pending) == SUBSCRIBER_BUFFER


class FakeResponse:
    def __init__(self) -> None:
        self.written = b""

    async def write(self, data: bytes) -> None:
        self.written += data


async def test_write_events_sends_first_skips_repeats_beats_and_ends_on_final() -> None:
    hub = JobEvents(clock=Clock())
    sub = hub.subscribe("playlist", "j")
    current = hub.current("playlist", "j", "queued", {"status": "queued"})
    resp = FakeResponse()
    task = asyncio.create_task(write_events(resp, [current], sub, heartbeat_s=0.05,
                                            end_on_final=True))
    await asyncio.sleep(0.12)  # quiet: heartbeats
    hub.publish("playlist", "j", "done", {"status": "done"})
    await asyncio.wait_for(task, 1)
    events = sse.Decoder().feed(resp.written)
    assert [e.event for e in events] == ["queued", "done"]
    assert int(events[1].id) > int(events[0].id)
    assert b": \n\n" in resp.written or b":\n\n" in resp.written


def test_stream_limit_counts_per_client_and_frees_on_exit() -> None:
    limit = StreamLimit(2)
    with limit.slot("a"), limit.slot("a"):
        with pytest.raises(RateLimited), limit.slot("a"):
            pass
        with limit.slot("b"), limit.slot(None):
            assert limit.open == {"a": 2, "b": 1}
    assert limit.open == {}


def test_observed_table_reports_writes_and_survives_a_failing_hook() -> None:
    seen: list[Any] = []
    table: dict[str, Any] = {}
    observed = ObservedTable(table, seen.append)
    observed["a"] = 1
    assert table == {"a": 1} and seen == [1] and observed.get("a") == 1 and "a" in observed

    def broken(row: Any) -> None:
        raise RuntimeError("boom")

    ObservedTable(table, broken)["b"] = 2  # logged, never raised into the agent
    assert table["b"] == 2


def test_delivery_rows_follow_their_outcomes() -> None:
    item = {"webhook_id": "msg_1", "url": "https://user:pw@hooks.example/x?token=t",
            "body": "{}", "attempts": 0, "state": PENDING, "next_at": 1.0, "outcomes": []}
    retry = applied(item, {"result": "retry", "code": "http_503", "attempt": 1,
                           "next_at": 9.0})
    assert retry["state"] == PENDING and retry["attempts"] == 1 and retry["next_at"] == 9.0
    done = applied(retry, {"result": "delivered", "code": "ok", "attempt": 2})
    assert done["state"] == DONE and done["next_at"] is None and len(done["outcomes"]) == 2
    dead = applied(retry, {"result": "give_up", "code": "gone", "attempt": 2})
    assert dead["state"] == DEAD
    shown = public_item(done)
    assert "body" not in shown and "pw" not in shown["url"]
