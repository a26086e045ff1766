"""Prewarm priority score: small photos and recent uploads first.

Pure: no clock; the caller passes the age. Weights come from
`PIPELINE_SCORE__<NAME>` (`pipeline.settings.ScoreWeights`).

    base 100
    size  < 100 KiB +50 | < 1 MiB +30 | < 5 MiB +10 | > 20 MiB -20   (first match)
    kind  photo +20 | video -10
    age   < 1 min +15 | > 10 min -5

The score splits into a static part (size, kind) and an age bonus that is a
step function of age with breaks at `AGE_BREAKS_S`; the queue relies on that.
"""

from __future__ import annotations

from typing import Protocol

from pipeline.records import MEDIA_KINDS

KIB = 1024
MIB = 1024 * KIB
# Age bands: band 0 is younger than the first break, band 2 older than the last.
AGE_BREAKS_S = (60.0, 600.0)
KINDS = MEDIA_KINDS


class Weights(Protocol):
    base: float
    size_lt_100k: float
    size_lt_1m: float
    size_lt_5m: float
    size_gt_20m: float
    photo: float
    video: float
    age_lt_1min: float
    age_gt_10min: float


def size_bonus(size: int, w: Weights) -> float:
    if size < 100 * KIB:
        return w.size_lt_100k
    if size < MIB:
        return w.size_lt_1m
    if size < 5 * MIB:
        return w.size_lt_5m
    if size > 20 * MIB:
        return w.size_gt_20m
    return 0.0


def kind_bonus(kind: str, w: Weights) -> float:
    if kind == "photo":
        return w.photo
    if kind == "video":
        return w.video
    return 0.0


def static_score(size: int, kind: str, w: Weights) -> float:
    """The part of the score that never changes while a job waits."""
    return float(w.base + size_bonus(size, w) + kind_bonus(kind, w))


def age_band(age_s: float) -> int:
    """0: younger than 1 min, 1: between, 2: older than 10 min."""
    if age_s < AGE_BREAKS_S[0]:
        return 0
    if age_s > AGE_BREAKS_S[1]:
        return 2
    return 1


def band_bonus(band: int, w: Weights) -> float:
    return (w.age_lt_1min, 0.0, w.age_gt_10min)[band]


def score(size: int, kind: str, age_s: float, weights: Weights) -> float:
    """The priority of a job of `size` bytes and `kind`, `age_s` seconds after upload."""
    return static_score(size, kind, weights) + band_bonus(age_band(age_s), weights)
