"""ParseService after a rebalance: a row is trusted once its events partition is drained."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline.metrics import Metrics
from pipeline.playlist.service import ParseService
from pipeline.records import JobStatus, PlaylistJob
from pipeline.settings import Settings


def _row(status: JobStatus) -> PlaylistJob:
    return PlaylistJob(job_id="j1", url="http://example.com/a.m3u", status=status,
                       queued_at=1.0, run_id="r1")


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
async def test_a_resumed_row_waits_for_its_unapplied_events(status: JobStatus) -> None:
    """The run that made the row stale finished here during the rebalance: its `started`
    and `done` events are still in the topic. The job starts again only if, once they
    are applied, the row still needs it (here it reads `done`: it never restarts)."""
    rows = {"j1": _row(status)}
    backlog = [2]

    async def emit(_event: Any) -> None:
        raise AssertionError("nothing may start")

    service = ParseService(Settings(), Metrics(), emit, rows.get, lambda _job: backlog[0])
    service.resume(dict(rows))
    service.queue.waiting["j1"] = (1.0, 0.0)  # past any grace: only the backlog holds it
    assert service._start_next() is True and not service.tasks
    queued_at, not_before = service.queue.waiting["j1"]
    assert not_before > time.time()  # looked at again soon
    backlog[0] = 0
    rows["j1"] = _row(JobStatus.DONE)  # the events agent applied the run's outcome
    service.queue.waiting["j1"] = (queued_at, 0.0)
    assert service._start_next() is True
    assert not service.tasks and "j1" not in service.resumed
    assert "j1" not in service.queue.waiting and "j1" not in service.queue.running
