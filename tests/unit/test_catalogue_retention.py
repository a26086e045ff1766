"""pipeline.catalogue.retention: which run objects a finished run lets go of."""

from __future__ import annotations

from pipeline.catalogue import object_keys, objects_to_delete, runs_to_delete

RUNS = ["r1", "r2", "r3", "r4"]


def test_keeps_the_current_run_and_the_one_before_by_default() -> None:
    assert runs_to_delete(RUNS, "r4", "r4") == ["r1", "r2"]
    assert runs_to_delete(RUNS, "r4", "r4", keep=3) == ["r1"]
    assert runs_to_delete(RUNS, "r4", "r4", keep=10) == []


def test_never_the_current_run() -> None:
    assert runs_to_delete(RUNS, "r4", "r4", keep=1) == ["r1", "r2", "r3"]
    assert runs_to_delete(RUNS, "r4", "r4", keep=0) == ["r1", "r2", "r3"]
    assert runs_to_delete(["r1"], "r1", "r1", keep=1) == []


def test_nothing_before_the_row_points_at_the_new_run() -> None:
    assert runs_to_delete(RUNS, "r4", "r3") == []
    assert runs_to_delete(RUNS, "r4", None) == []
    assert runs_to_delete(RUNS, "r9", "r9") == []


def test_runs_after_the_current_one_are_kept() -> None:
    assert runs_to_delete(RUNS, "r3", "r3") == ["r1"]


def test_objects_of_deleted_runs() -> None:
    keys = objects_to_delete("job", RUNS, "r4", "r4", keep=3)
    assert keys == list(object_keys("job", "r1").values())
    assert all(key.startswith("results/job/r1.") for key in keys)
