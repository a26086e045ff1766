"""Replay the records of an input topic whose timestamps fall in a window.

Pure part (unit-tested): `parse_time`, `Window`, `rewrite`, `start_offsets`.
Loop: `replay()` reads every partition from the window's start (found with
`offsets_for_times` where the broker has it, else from the earliest offset)
up to the end offsets captured when it starts, so it never chases its own
output; it keeps the latest record per key in the window and re-publishes it
to the same partition, marked `"replay": true` so dedupe lets it through:
a done parse job runs again, an upload prewarms again. A job still queued or
running is not started twice.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from pipeline.errors import NotFound
from pipeline.producer import REQUEST_TIMEOUT_MS, Producer, kafka_errors
from pipeline.settings import Settings
from pipeline.topic_names import topic_names
from pipeline.urls import job_id_for, redact_url

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])(?:\s+ago)?$", re.IGNORECASE)
_EPOCH = re.compile(r"^\d+(?:\.\d+)?$")
# Epoch seconds reach 1e11 in the year 5138: a larger number is milliseconds typed by mistake.
EPOCH_MAX_S = 1e11
# A partition that yields nothing for this long below its captured end is given up
# (the broker reported an end it cannot serve); the stats say so.
SCAN_IDLE_S = 10.0
FETCH_TIMEOUT_MS, FETCH_MAX_RECORDS = 500, 2000
# Dry runs list this many of the records they would send.
SAMPLE_LINES = 50


def parse_time(text: str, now: float) -> float:
    """Epoch seconds for `text`.

    Accepted: ISO-8601 (`2024-05-01T12:00:00Z`; without an offset, local time),
    relative to `now` (`90s`, `10m`, `2h`, `1d`, `1w`, optionally followed by
    `ago`), epoch seconds (`1714564800`), and `now`.
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        return now - float(relative[1]) * UNITS[relative[2].lower()]
    if _EPOCH.match(value):
        seconds = float(value)
        if seconds >= EPOCH_MAX_S:
            raise ValueError(f"{value} looks like epoch milliseconds; give seconds")
        return seconds
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(f"cannot read the time {text!r}: use ISO-8601 "
                         "(2024-05-01T12:00:00Z), a relative form (10m, 2h, 1d ago) "
                         "or epoch seconds") from None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """Record timestamps from `since` to `until` (epoch seconds, both inclusive)."""

    since: float
    until: float | None = None

    def __post_init__(self) -> None:
        if self.until is not None and self.until < self.since:
            raise ValueError(f"--until ({iso(self.until)}) is before --since ({iso(self.since)})")

    @classmethod
    def parse(cls, since: str, until: str | None, now: float) -> Window:
        return cls(parse_time(since, now), None if until is None else parse_time(until, now))

    def contains_ms(self, timestamp_ms: int) -> bool:
        """Whether a record timestamp (ms; -1 when the record has none) is in the window."""
        if timestamp_ms < 0:
            return False
        ts = timestamp_ms / 1000
        return ts >= self.since and (self.until is None or ts <= self.until)

    def describe(self) -> str:
        end = iso(self.until) if self.until is not None else "the end offsets at start"
        return f"{iso(self.since)} .. {end}"


def replay_kind(topic: str, settings: Settings) -> str:
    """`parse` or `media`: the input topics that can be replayed; ValueError for others."""
    kinds = topic_names(settings).inputs()
    if topic not in kinds:
        raise ValueError(f"{topic!r} cannot be replayed: only the input topics "
                         f"{', '.join(kinds)} can (results, events and DLQs are outputs "
                         "of the pipeline; replaying them would corrupt job state)")
    return kinds[topic]


def key_for(kind: str, key: str) -> str:
    """The record key for `--key`: a playlist URL becomes its job id."""
    return job_id_for(key) if kind == "parse" and "://" in key else key


def rewrite(kind: str, value: bytes | None, request_id: str) -> tuple[bytes, str] | None:
    """(replayed value, a redacted label) or None when the value is not a JSON object."""
    try:
        doc = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    doc["replay"] = True
    if kind == "parse":
        doc["request_id"] = request_id
        label = redact_url(str(doc.get("url", "")))
    else:
        label = f"s3://{doc.get('bucket', '')}/{doc.get('key', '')}"
    return json.dumps(doc, separators=(",", ":")).encode(), label


def _decoded_key(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
    return value if isinstance(value, str) else raw.decode(errors="replace")


def start_offsets(answers: dict[TopicPartition, Any] | None, begin: dict[TopicPartition, int],
                  end: dict[TopicPartition, int]) -> tuple[dict[TopicPartition, int], bool]:
    """Where to start each partition, and whether any partition fell back to its earliest.

    `answers` are `offsets_for_times` results: None for a partition means no
    record at or after the time (start at its end); a negative timestamp means
    the broker did not look it up (Tansu answers offset 0 / timestamp -1).
    """
    if answers is None:
        return dict(begin), True
    starts, fell_back = {}, False
    for tp in begin:
        found = answers.get(tp)
        if found is None:
            starts[tp] = end[tp]
        elif found.timestamp < 0:
            starts[tp], fell_back = begin[tp], True
        else:
            starts[tp] = max(begin[tp], found.offset)
    return starts, fell_back


@dataclass
class Pick:
    partition: int
    key: bytes | None
    value: bytes
    label: str


@dataclass
class ReplayStats:
    """What a replay read and sent (printed by `pipeline replay`)."""

    topic: str
    window: Window
    partitions: int = 0
    seek: str = ""
    read: int = 0  # records read between the start and the captured end offsets
    matched: int = 0  # of those, in the window (and with the wanted key)
    unreadable: int = 0  # matched, but the value is not a JSON object: skipped
    keys: int = 0  # distinct keys among the matched records: what a replay sends
    sent: int = 0  # replays published (one per key: the latest in the window)
    incomplete: list[str] = field(default_factory=list)  # partitions given up
    samples: list[str] = field(default_factory=list)


async def replay(settings: Settings, topic: str, window: Window, *, key: str | None = None,
                 dry_run: bool = False) -> ReplayStats:
    """Re-publish the latest record per key of `topic` in `window`, marked as replays."""
    kind = replay_kind(topic, settings)
    wanted = key_for(kind, key) if key is not None else None
    stats = ReplayStats(topic, window)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.broker_bootstrap, client_id="pipeline-replay",
        group_id=None, enable_auto_commit=False, request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        with kafka_errors(f"connect to {settings.broker_url}"):
            await consumer.start()
        with kafka_errors(f"read {topic}"):
            starts, end = await _plan(consumer, settings, topic, window, stats)
            picks = await _scan(consumer, kind, starts, end, window, wanted, stats)
    finally:
        await consumer.stop()
    stats.keys = len(picks)
    stats.samples = [f"{_decoded_key(p.key)}  {p.label}" for p in picks[:SAMPLE_LINES]]
    if not dry_run and picks:
        await _publish(settings, topic, picks)
        stats.sent = len(picks)
    return stats


async def _plan(consumer: AIOKafkaConsumer, settings: Settings, topic: str, window: Window,
                stats: ReplayStats) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Assign every partition; (start offsets, end offsets captured now)."""
    # Metadata of every topic (asks for none by name, so creates none). Kafka lists
    # only requested topics otherwise: `partitions_for_topic` of an unsubscribed
    # consumer is then empty and the replay would read nothing.
    cluster = await consumer._client.fetch_all_metadata()
    if topic not in cluster.topics():
        raise NotFound(f"topic {topic} does not exist on {settings.broker_url}")
    tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    end = await consumer.end_offsets(tps)
    begin = await consumer.beginning_offsets(tps)
    answers = None
    if settings.embedded_broker:
        stats.seek = "earliest offsets (the embedded broker has no offsets_for_times)"
    else:
        try:
            answers = await consumer.offsets_for_times(
                {tp: int(window.since * 1000) for tp in tps})
        except KafkaError as exc:
            stats.seek = f"earliest offsets (offsets_for_times failed: {type(exc).__name__})"
    starts, fell_back = start_offsets(answers, begin, end)
    if answers is not None:
        stats.seek = ("offsets_for_times" if not fell_back else
                      "earliest offsets (the broker answered offsets_for_times without "
                      "timestamps)")
    stats.partitions = len(tps)
    return starts, end


async def _scan(consumer: AIOKafkaConsumer, kind: str, starts: dict[TopicPartition, int],
                end: dict[TopicPartition, int], window: Window, wanted: str | None,
                stats: ReplayStats) -> list[Pick]:
    """Read each partition from its start to its captured end; the latest pick per key."""
    picks: dict[Any, Pick] = {}
    pending = {tp for tp in starts if starts[tp] < end[tp]}
    for tp in pending:
        consumer.seek(tp, starts[tp])
    last_data = time.monotonic()
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=FETCH_TIMEOUT_MS,
                                       max_records=FETCH_MAX_RECORDS)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= end[tp]:
                    break
                stats.read += 1
                if not window.contains_ms(record.timestamp):
                    continue
                if wanted is not None and _decoded_key(record.key) != wanted:
                    continue
                _pick(picks, kind, tp, record, stats)
        for tp in list(pending):
            if await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
        if batch:
            last_data = time.monotonic()
        elif time.monotonic() - last_data > SCAN_IDLE_S:
            stats.incomplete = [f"{tp.topic}[{tp.partition}]" for tp in sorted(pending)]
            break
    return list(picks.values())


def _pick(picks: dict[Any, Pick], kind: str, tp: TopicPartition, record: Any,
          stats: ReplayStats) -> None:
    stats.matched += 1
    rewritten = rewrite(kind, record.value, uuid.uuid4().hex)
    if rewritten is None:
        stats.unreadable += 1
        return
    value, label = rewritten
    # Keyless records are never collapsed; keyed ones keep the latest, in arrival order.
    slot = record.key if record.key is not None else (tp.partition, record.offset)
    picks.pop(slot, None)
    picks[slot] = Pick(tp.partition, record.key, value, label)


async def _publish(settings: Settings, topic: str, picks: list[Pick]) -> None:
    """Send every pick to its original partition (same key, so the same owner)."""
    async with Producer(settings, client_id="pipeline-replay") as producer:
        acks = [await producer.send_raw(topic, p.key, p.value, p.partition) for p in picks]
        with kafka_errors(f"publish to {topic}"):
            for ack in acks:
                await ack
