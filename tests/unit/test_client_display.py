"""The `parse --wait` display: wording, live line on a TTY, throttled plain lines otherwise."""

from __future__ import annotations

import io

from pipeline.commands.progress import ProgressDisplay, describe, megabytes, summary


def _job(status: str, **extra: object) -> dict:
    return {
        "job_id": "j",
        "status": status,
        "position": None,
        "progress": {"items": 0, "bytes": 0},
        **extra,
    }


def test_wording() -> None:
    assert describe(_job("queued", position=3)) == "queued, position 3 in the queue"
    assert describe(_job("queued")) == "queued"
    assert (
        describe(_job("running", progress={"items": 12345, "bytes": 4_500_000}))
        == "running: 12,345 items, 4.50 MB"
    )
    done = _job(
        "done",
        runs=2,
        progress={"items": 324, "bytes": 2_000_000},
        result={
            "items": 324,
            "counts": {"live": 300, "movie": 20, "series": 4},
            "groups": 12,
            "duration_s": 1.25,
        },
    )
    assert summary(done) == (
        "done: 324 items (live 300, movie 20, series 4), 12 groups, 2.00 MB in 1.2 s (run 2)"
    )


def test_plain_lines_on_changes_and_every_two_seconds() -> None:
    out, now = io.StringIO(), [0.0]
    display = ProgressDisplay(out, tty=False, clock=lambda: now[0])
    display(_job("queued", position=2))
    display(_job("queued", position=2))  # unchanged: nothing
    display(_job("queued", position=1))  # position moved: a line
    for step in range(1, 11):
        now[0] = step * 0.5
        display(_job("running", progress={"items": step * 100, "bytes": step * 1_000_000}))
    display(_job("done"))  # the caller prints the summary
    display.close()
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["queued, position 2 in the queue", "queued, position 1 in the queue"]
    running = lines[2:]
    assert running[0] == "running: 100 items, 1.00 MB"  # the status change shows at once
    assert 2 <= len(running) <= 4  # then at most one line per 2 s
    assert "\r" not in out.getvalue()


def test_tty_rewrites_one_line() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    display(_job("queued", position=1))
    display(_job("running", progress={"items": 10, "bytes": 0}))
    display.close()
    text = out.getvalue()
    assert "\n" not in text and text.count("\r\x1b[K") == 3


def test_a_state_already_shown_is_not_repeated() -> None:
    out = io.StringIO()
    display = ProgressDisplay(out, tty=False)
    display.seen(_job("queued", position=1))  # the submit line said it
    display(_job("queued", position=1))
    display(_job("running"))
    assert out.getvalue() == "running: 0 items, 0.00 MB\n"
    assert megabytes(41_984) == "0.04 MB" and megabytes(812_400_000) == "812.4 MB"
