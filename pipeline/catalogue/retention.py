"""Which run objects a finished run lets go of (pure; the caller deletes).

Keep the current run and the ``keep - 1`` runs before it (the one before is
what the next diff compares against). Nothing is deleted until the job row
points at the current run: a reader that loaded the previous index keeps
working until it asks again, and then gets ``run_gone`` only for runs past
the window.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.catalogue.layout import object_keys

DEFAULT_KEEP_RUNS = 2


def runs_to_delete(
    runs: Sequence[str], current_run: str, row_run: str | None, keep: int = DEFAULT_KEEP_RUNS
) -> list[str]:
    """Runs (of ``runs``, oldest first) whose objects can go now.

    Empty unless the row already points at ``current_run``; never the current
    run nor any run after it; at least the current run is kept (keep >= 1).
    """
    if row_run != current_run or current_run not in runs:
        return []
    cut = max(0, runs.index(current_run) - max(1, keep) + 1)
    return [run for run in runs[:cut] if run != current_run]


def objects_to_delete(
    job_id: str, runs: Sequence[str], current_run: str, row_run: str | None,
    keep: int = DEFAULT_KEEP_RUNS,
) -> list[str]:  # fmt: skip
    """The object keys of ``runs_to_delete``, in deletion order."""
    return [key for run in runs_to_delete(runs, current_run, row_run, keep)
            for key in object_keys(job_id, run).values()]  # fmt: skip
