"""The prewarm score: base, size tiers, kind and age bands, weights configurable."""

from __future__ import annotations

import pytest

from pipeline.media.score import KIB, MIB, age_band, score
from pipeline.settings import ScoreWeights

W = ScoreWeights()


@pytest.mark.parametrize(
    ("size", "kind", "age", "expected"),
    [
        (50 * KIB, "photo", 0, 100 + 50 + 20 + 15),
        (100 * KIB, "photo", 0, 100 + 30 + 20 + 15),
        (MIB - 1, "document", 0, 100 + 30 + 15),
        (MIB, "audio", 30, 100 + 10 + 15),
        (5 * MIB - 1, "other", 59.9, 100 + 10 + 15),
        (5 * MIB, "other", 60, 100),
        (20 * MIB, "video", 600, 100 - 10),
        (20 * MIB + 1, "video", 600.5, 100 - 20 - 10 - 5),
        (200 * MIB, "video", 3600, 100 - 20 - 10 - 5),
        (0, "photo", -5, 100 + 50 + 20 + 15),  # clock skew: a future upload counts as new
    ],
)
def test_score_rules(size: int, kind: str, age: float, expected: float) -> None:
    assert score(size, kind, age, W) == expected


def test_age_bands_at_the_edges() -> None:
    assert [age_band(a) for a in (0, 59.999, 60, 600, 600.001)] == [0, 0, 1, 1, 2]


def test_weights_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.settings import Settings

    monkeypatch.setenv("PIPELINE_SCORE__PHOTO", "100")
    monkeypatch.setenv("PIPELINE_SCORE__BASE", "0")
    weights = Settings().score
    assert score(10 * MIB, "photo", 120, weights) == 100
    assert score(10 * MIB, "video", 120, weights) == -10


def test_small_photo_beats_any_large_video_of_any_age() -> None:
    photo = score(50 * KIB, "photo", 3600, W)
    assert all(photo > score(s * MIB, "video", a, W) for s in (21, 200) for a in (0, 100, 900))
