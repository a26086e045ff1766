"""The scheduler with a fake run function: slots, priority, rebuild, retries that wait."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipeline.media.queue import JobQueue
from pipeline.media.scheduler import Scheduler
from pipeline.settings import ScoreWeights

MIB = 1024 * 1024


@dataclass
class Row:
    media_id: str
    size: int = 1000
    kind: str = "photo"
    run_id: str = "r1"
    uploaded_at: float = 0.0
    created_at: float = 0.0
    not_before: float = 0.0


class Runs:
    """A fake run: records starts and waits until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, row: Row, score: float) -> None:
        self.started.append(row.media_id)
        await self.release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _with_loop(scheduler: Scheduler) -> asyncio.Task[None]:
    task = asyncio.ensure_future(scheduler.run(lambda: False))
    await _settle()
    return task


async def test_slots_priority_and_overtaking() -> None:
    runs, clock = Runs(), [100.0]
    s = Scheduler(JobQueue(ScoreWeights()), 2, runs, clock=lambda: clock[0])
    for i in range(5):
        s.submit(Row(f"video{i}", size=50 * MIB, kind="video", uploaded_at=100 + i))
    loop = await _with_loop(s)
    assert runs.started == ["video0", "video1"] and s.stats() == {"waiting": 3, "active": 2}
    s.submit(Row("photo", uploaded_at=101))
    s.submit(Row("video0", size=50 * MIB, kind="video", uploaded_at=100))  # same run: no-op
    runs.release.set()
    await asyncio.sleep(0.05)
    assert runs.started == ["video0", "video1", "photo", "video2", "video3", "video4"]
    loop.cancel()
    await s.stop()


async def test_rebuild_keeps_owned_runs_and_cancels_the_rest() -> None:
    runs = Runs()
    s = Scheduler(JobQueue(ScoreWeights()), 2, runs, clock=lambda: 100.0)
    s.submit(Row("a"))
    s.submit(Row("b"))
    loop = await _with_loop(s)
    task_b = s.active["b"][1]
    s.rebuild([Row("a"), Row("c")])  # b moved to another worker; c is new here
    await _settle()
    assert task_b.cancelled() and "a" in s.active and "c" in s.active
    assert runs.started == ["a", "b", "c"]
    loop.cancel()
    await s.stop()


async def test_rebuild_skips_runs_that_just_finished_here() -> None:
    runs = Runs()
    runs.release.set()
    s = Scheduler(JobQueue(ScoreWeights()), 1, runs, clock=lambda: 100.0)
    s.submit(Row("a"))
    loop = await _with_loop(s)
    assert runs.started == ["a"] and not s.active
    s.rebuild([Row("a")])  # its done event is not applied yet: the row still says running
    await _settle()
    assert runs.started == ["a"]
    s.rebuild([Row("a", run_id="r2")])  # a retry of it is a new run
    await _settle()
    assert runs.started == ["a", "a"]
    loop.cancel()
    await s.stop()


async def test_retry_waits_for_not_before() -> None:
    runs, clock = Runs(), [100.0]
    s = Scheduler(JobQueue(ScoreWeights()), 1, runs, clock=lambda: clock[0])
    s.submit(Row("later", not_before=100.05))
    loop = await _with_loop(s)
    assert runs.started == [] and s.stats()["waiting"] == 1
    clock[0] = 100.1
    await asyncio.sleep(0.1)
    assert runs.started == ["later"]
    loop.cancel()
    await s.stop()
