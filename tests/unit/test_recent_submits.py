"""Submits accepted moments ago whose row is not written yet (pipeline.web.recent)."""

from __future__ import annotations

from pipeline.records import PlaylistJob
from pipeline.web.recent import PENDING_TTL_S, PendingParses


def _row(job_id: str, at: float, status: str = "queued") -> PlaylistJob:
    return PlaylistJob(job_id=job_id, url=f"http://example.com/{job_id}", status=status,
                       queued_at=at)


def test_a_pending_submit_answers_until_its_row_exists() -> None:
    pending, table = PendingParses(), {}
    pending.add(_row("a", 100.0))
    assert pending.is_pending("a", 101.0)
    current = pending.current(table, "a", 101.0)
    assert current is not None and current.status == "queued"
    table["a"] = _row("a", 100.0, status="running")
    assert pending.current(table, "a", 101.0).status == "running"  # type: ignore[union-attr]


def test_a_pending_submit_expires() -> None:
    pending = PendingParses()
    pending.add(_row("a", 100.0))
    later = 100.0 + PENDING_TTL_S + 1
    assert not pending.is_pending("a", later)
    assert pending.current({}, "a", later) is None


def test_an_existing_row_is_shown_while_a_forced_rerun_is_pending() -> None:
    pending = PendingParses()
    pending.add(_row("a", 100.0))
    assert pending.current({"a": _row("a", 50.0, "done")}, "a", 101.0).status == "done"  # type: ignore[union-attr]


def test_expired_entries_are_dropped_when_new_ones_come() -> None:
    pending = PendingParses()
    pending.add(_row("old", 0.0))
    pending.add(_row("new", PENDING_TTL_S + 10))
    assert pending._rows.keys() == {"new"}
    pending.done("new")
    assert not pending.is_pending("new", PENDING_TTL_S + 11)
