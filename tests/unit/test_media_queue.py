"""The prewarm queue against a brute-force model: pick order and re-order detection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.media.queue import JobQueue
from pipeline.media.score import KIB, MIB, score
from pipeline.settings import ScoreWeights

W = ScoreWeights()


def _push(
    q: JobQueue, media_id: str, size: int, kind: str, t: float, now: float, not_before: float = 0.0
) -> None:
    q.push(media_id, size=size, kind=kind, t=t, now=now, not_before=not_before)


def test_highest_score_first_then_oldest() -> None:
    q = JobQueue(W)
    _push(q, "video-a", 50 * MIB, "video", t=100, now=100)
    _push(q, "video-b", 50 * MIB, "video", t=101, now=101)
    _push(q, "photo", 50 * KIB, "photo", t=102, now=102)
    assert [q.pick(103)[0].media_id for _ in range(3)] == ["photo", "video-a", "video-b"]
    assert q.pick(104) == (None, False)


def test_new_small_photo_overtakes_backlog_of_videos() -> None:
    q = JobQueue(W)
    for i in range(200):
        _push(q, f"v{i}", (21 + i) * MIB, "video", t=1000 + i * 0.01, now=1000 + i * 0.01)
    assert q.pick(1010)[0].media_id == "v0"
    _push(q, "photo", 50 * KIB, "photo", t=1011, now=1011)
    assert q.pick(1012)[0].media_id == "photo"
    assert len(q) == 199


def test_aging_reorders_and_is_reported() -> None:
    q = JobQueue(W)
    # A: static 100 (5 MiB other), B: static 100+10 (1 MiB audio), uploaded 30 s apart.
    _push(q, "a", 6 * MIB, "other", t=0, now=0)  # 100 + 15 while young
    _push(q, "b", 2 * MIB, "audio", t=-200, now=0)  # 110, already past 1 min
    _push(q, "c", 2 * MIB, "audio", t=-190, now=0)
    assert [e.media_id for e, _ in q.ranked(now=0)] == ["a", "b", "c"]
    entry, reordered = q.pick(1)
    assert entry.media_id == "a" and not reordered
    _push(q, "a", 6 * MIB, "other", t=0, now=1)
    entry, reordered = q.pick(61)  # a aged out of the 1-minute bonus: 100 < 110
    assert entry.media_id == "b" and reordered
    assert [(e.media_id, s) for e, s in q.ranked(now=61)] == [("c", 110.0), ("a", 100.0)]
    assert q.position("a", now=61) == 2


def test_retry_waits_until_not_before() -> None:
    q = JobQueue(W)
    _push(q, "later", 50 * KIB, "photo", t=0, now=0, not_before=10)
    _push(q, "now", 50 * MIB, "video", t=0, now=0)
    assert q.next_due() == 10
    assert q.pick(5)[0].media_id == "now"
    assert q.pick(5) == (None, False)
    assert q.position("later", now=5) is None
    assert q.pick(10)[0].media_id == "later"
    assert q.next_due() is None


def test_push_replaces_and_remove() -> None:
    q = JobQueue(W)
    _push(q, "x", 50 * MIB, "video", t=0, now=0)
    _push(q, "x", 50 * KIB, "photo", t=0, now=0)
    assert len(q) == 1 and q.ready_count == 1
    assert q.get("x").kind == "photo"
    assert q.remove("x") is not None and "x" not in q and q.ready_count == 0


# --- model-based: the clever structure agrees with sorting everything


def _order(jobs: dict[str, tuple[int, str, float, int]], now: float) -> list[str]:
    def key(mid: str) -> tuple[float, float, int]:
        size, kind, t, seq = jobs[mid]
        return (-score(size, kind, now - t, W), t, seq)

    return sorted(jobs, key=key)


_sizes = st.sampled_from([10 * KIB, 500 * KIB, 2 * MIB, 10 * MIB, 30 * MIB])
_kinds = st.sampled_from(["photo", "video", "other"])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), _sizes, _kinds, st.floats(-900, 0)),
        st.tuples(st.just("pick"), st.floats(0, 400)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_model_pick_order_and_reorder_flag(ops: list[tuple]) -> None:
    q = JobQueue(W)
    model: dict[str, tuple[int, str, float, int]] = {}
    now, seq = 1000.0, 0
    for op in ops:
        if op[0] == "push":
            _, size, kind, back = op
            mid = f"m{seq}"
            q.push(mid, size=size, kind=kind, t=now + back, now=now)
            model[mid] = (size, kind, now + back, seq)
            seq += 1
            continue
        then, now = now, now + op[1]
        expected_reorder = _order(model, then) != _order(model, now)
        entry, reordered = q.pick(now)
        if not model:
            assert entry is None
            continue
        assert entry.media_id == _order(model, now)[0]
        assert reordered == expected_reorder
        del model[entry.media_id]
    assert [e.media_id for e, _ in q.ranked(now)] == _order(model, now)
