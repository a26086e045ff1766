"""Replay's pure parts: time parsing, the window, value rewriting, start offsets, topic names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pytest
from aiokafka import TopicPartition

from pipeline.commands.kafka_admin import changelog_topics, pipeline_topics
from pipeline.replay import Window, key_for, parse_time, replay_kind, rewrite, start_offsets
from pipeline.settings import Settings
from pipeline.urls import job_id_for

NOW = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("10m", NOW - 600),
        ("2h", NOW - 7200),
        ("2H ago", NOW - 7200),
        ("90s", NOW - 90),
        ("1.5d", NOW - 1.5 * 86400),
        ("1w", NOW - 604800),
        (" 30 m ", NOW - 1800),
        ("1714564800", 1714564800.0),
        ("1714564800.25", 1714564800.25),
        ("2024-05-01T12:00:00Z", 1714564800.0),
        ("2024-05-01T14:00:00+02:00", 1714564800.0),
        ("2024-05-01T12:00Z", 1714564800.0),
        ("2024-05-01", datetime(2024, 5, 1).timestamp()),  # no offset: local time
    ],
)
def test_parse_time_forms(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "10x", "-5m", "2024-13-01", "1714564800000"])
def test_parse_time_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, NOW)


def test_milliseconds_are_called_out() -> None:
    with pytest.raises(ValueError, match="milliseconds"):
        parse_time("1714564800000", NOW)


def test_window_bounds_are_inclusive_and_ordered() -> None:
    window = Window.parse("10m", "5m", NOW)
    assert window.since == NOW - 600 and window.until == NOW - 300
    assert window.contains_ms(int((NOW - 600) * 1000))
    assert window.contains_ms(int((NOW - 300) * 1000))
    assert not window.contains_ms(int((NOW - 601) * 1000))
    assert not window.contains_ms(int((NOW - 299) * 1000))
    assert not window.contains_ms(-1)  # a record without a timestamp
    open_ended = Window.parse("10m", None, NOW)
    assert open_ended.contains_ms(int((NOW + 3600) * 1000))
    with pytest.raises(ValueError, match="before"):
        Window.parse("5m", "10m", NOW)
    start = datetime.fromtimestamp(NOW - 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert window.describe().startswith(start)


def test_only_input_topics_replay() -> None:
    settings = Settings()
    assert replay_kind("playlist.parse.requests", settings) == "parse"
    assert replay_kind("media.uploads", settings) == "media"
    for topic in (
        "playlist.parse.results",
        "playlist.parse.requests.events",
        "media.uploads.dlq",
        "nope",
    ):
        with pytest.raises(ValueError, match="cannot be replayed"):
            replay_kind(topic, settings)


def test_key_for_accepts_a_playlist_url() -> None:
    url = "http://Example.com:80/get.php?username=u&password=p&type=m3u_plus"
    assert key_for("parse", url) == job_id_for(url)
    assert key_for("parse", "abc123") == "abc123"
    assert key_for("media", "http://x/y") == "http://x/y"


def test_rewrite_marks_replay_and_redacts_the_label() -> None:
    value = json.dumps(
        {
            "url": "http://h/get.php?username=bob&password=hunter2",
            "force": False,
            "request_id": "old",
            "__faust": {"ns": "x"},
        }
    ).encode()
    out = rewrite("parse", value, "new-id")
    assert out is not None
    doc, label = json.loads(out[0]), out[1]
    assert doc["replay"] is True and doc["request_id"] == "new-id"
    assert doc["url"].endswith("password=hunter2")  # the record itself keeps its URL
    assert doc["__faust"] == {"ns": "x"} and doc["force"] is False
    assert "hunter2" not in label and "bob" not in label

    media = rewrite(
        "media", json.dumps({"media_id": "m1", "bucket": "b", "key": "k"}).encode(), "ignored"
    )
    assert media is not None
    assert json.loads(media[0]) == {"media_id": "m1", "bucket": "b", "key": "k", "replay": True}
    assert media[1] == "s3://b/k"
    for bad in (b"", None, b"not json", b"[1, 2]", b'"text"'):
        assert rewrite("parse", bad, "x") is None


class _Found(NamedTuple):
    offset: int
    timestamp: int


def test_start_offsets_trust_real_answers_and_fall_back_on_missing_timestamps() -> None:
    tps = [TopicPartition("t", p) for p in range(4)]
    begin = {tps[0]: 0, tps[1]: 5, tps[2]: 0, tps[3]: 0}
    end = {tps[0]: 10, tps[1]: 20, tps[2]: 7, tps[3]: 3}
    answers = {
        tps[0]: _Found(6, 1000),
        tps[1]: _Found(2, 1000),
        tps[2]: None,
        tps[3]: _Found(0, -1),
    }
    starts, fell_back = start_offsets(answers, begin, end)  # type: ignore[arg-type]
    assert starts == {tps[0]: 6, tps[1]: 5, tps[2]: 7, tps[3]: 0}
    assert fell_back is True
    starts, fell_back = start_offsets(
        {tp: _Found(1, 5) for tp in tps},  # type: ignore[misc]
        begin,
        end,
    )
    assert fell_back is False and starts[tps[1]] == 5 and starts[tps[0]] == 1
    assert start_offsets(None, begin, end) == (begin, True)


def test_cli_topic_names_match_the_app(tmp_path: Path) -> None:
    """The CLI names topics without loading the Faust app; they must agree with it."""
    code = (
        "import json; from pipeline.worker import app, worker; print(json.dumps(["
        "[t.get_topic_name() for t in (worker.topics.parse_requests, "
        "worker.topics.parse_events, worker.topics.parse_results, worker.topics.parse_dlq, "
        "worker.topics.media_uploads, worker.topics.prewarm_events, "
        "worker.topics.prewarm_results, worker.topics.media_dlq, "
        "worker.topics.parse_keyed, worker.topics.media_keyed, worker.topics.webhooks, "
        "worker.topics.webhooks_dlq, worker.topics.catalogue_changes)], sorted("
        "t.changelog_topic.get_topic_name() for t in app.tables.values())]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env["PIPELINE_DATA_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    )
    names, changelogs = json.loads(out.stdout.strip().splitlines()[-1])
    settings = Settings()
    assert list(pipeline_topics(settings)) == names
    assert sorted(changelog_topics(settings)) == changelogs
