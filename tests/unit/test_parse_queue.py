"""The per-worker parse queue: arrival order, backoff, running set, positions."""

from __future__ import annotations

from pipeline.playlist.queue import ParseQueue


def test_jobs_start_in_queued_order_once_their_backoff_passed() -> None:
    queue = ParseQueue()
    queue.add("b", queued_at=2.0)
    queue.add("a", queued_at=1.0, not_before=50.0)  # a late arrival is sorted in
    queue.add("c", queued_at=3.0)
    assert list(queue.waiting) == ["a", "b", "c"]
    assert queue.pop_ready(now=10.0) == "b"  # `a` still backs off
    assert queue.pop_ready(now=60.0) == "a"
    assert queue.running == {"a", "b"} and queue.pop_ready(now=60.0) == "c"
    assert queue.pop_ready(now=60.0) is None


def test_positions_and_a_running_job_is_not_queued_again() -> None:
    queue = ParseQueue()
    for n, job in enumerate(("x", "y", "z")):
        queue.add(job, queued_at=float(n))
    assert queue.pop_ready(now=0.0) == "x"
    queue.add("x", queued_at=9.0)  # running: ignored
    assert [queue.position(j) for j in ("x", "y", "z", "nope")] == [0, 1, 2, None]
    queue.finish("x")
    queue.discard("y")
    assert queue.position("x") is None and queue.position("z") == 1
