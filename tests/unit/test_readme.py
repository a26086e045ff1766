"""Docs match behaviour: every setting is documented, the two commands are there."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import ScoreWeights, Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [f"PIPELINE_{name.upper()}" for name in Settings.model_fields
               if name != "score" and f"PIPELINE_{name.upper()}" not in README]
    assert missing == []
    assert "PIPELINE_SCORE__" in README
    for weight in ScoreWeights.model_fields:
        assert weight.upper() in README


def test_quickstart_commands() -> None:
    assert "make run" in README and "make test" in README
