"""Dead letters as a tool: read a `.dlq` topic, filter and page it, and say what a
redrive re-publishes.

Two kinds of letters share a `.dlq` topic: intake rejections (the original bytes
and a reason code, `pipeline.intake.Rejected.dead_letter`) and jobs that failed
for good (`pipeline.records.DeadLetter`, with the request that re-runs them).
Reading uses its own consumer without a group (nothing is committed), from the
beginning of every partition to the end captured at the start. docs/events.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.errors import BadRequest, NotFound
from pipeline.intake import decode_bytes
from pipeline.partitioning import key_bytes
from pipeline.producer import kafka_errors
from pipeline.redaction import redact, redact_text
from pipeline.settings import Settings
from pipeline.topic_names import TopicNames

# A listing or redrive reads at most this many letters (the oldest first).
MAX_SCAN = 100_000
MAX_LIMIT = 1000
FETCH_TIMEOUT_MS = 500
IDLE_GIVE_UP_S = 5.0


def resolve(names: TopicNames, name: str) -> tuple[str, str]:
    """(input topic, its `.dlq`) for `playlist`, `media`, an input topic or its `.dlq`."""
    pairs = {"playlist": (names.parse_requests, names.parse_dlq),
             "media": (names.media_uploads, names.media_dlq)}
    for pair in list(pairs.values()):
        pairs[pair[0]] = pairs[pair[1]] = pair
    if name not in pairs:
        raise NotFound(f"no dead-letter topic for {name!r} (playlist, media, or a topic name)")
    return pairs[name]


@dataclass(frozen=True)
class Filter:
    """Which letters a listing or a redrive takes (every given field must match)."""

    reason: str | None = None
    since: float | None = None
    until: float | None = None
    key: str | None = None

    @classmethod
    def from_query(cls, query: Any) -> Filter:
        return cls(reason=query.get("reason") or None, key=query.get("key") or None,
                   since=_epoch(query.get("since"), "since"),
                   until=_epoch(query.get("until"), "until"))

    def matches(self, letter: Letter) -> bool:
        return ((self.reason is None or letter.reason == self.reason)
                and (self.since is None or letter.at >= self.since)
                and (self.until is None or letter.at < self.until)
                and (self.key is None or letter.key == self.key))


def _epoch(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"`{name}` must be epoch seconds") from None


@dataclass(frozen=True)
class Letter:
    """One dead letter as read from the topic."""

    partition: int
    offset: int
    doc: dict[str, Any]

    @property
    def intake(self) -> bool:
        """An intake rejection (else a job that failed for good)."""
        return "value" in self.doc and isinstance(self.doc.get("reason"), str)

    @property
    def reason(self) -> str:
        reason = self.doc.get("reason")
        return reason if isinstance(reason, str) else str((reason or {}).get("code", ""))

    @property
    def at(self) -> float:
        at = self.doc.get("at")
        return float(at) if isinstance(at, int | float) else 0.0

    @property
    def key(self) -> str | None:
        """The record's original key as text (intake), or the job's id."""
        if not self.intake:
            return str(self.doc.get("key") or "") or None
        raw = decode_bytes(self.doc.get("key"))
        return None if raw is None else raw.decode("utf-8", "replace")

    def public(self) -> dict[str, Any]:
        """The letter for an API answer: credentials in URLs and secrets masked."""
        doc = self.doc
        base = {"id": f"{self.partition}:{self.offset}", "reason": self.reason, "at": self.at,
                "kind": "intake" if self.intake else "job", "key": self.key}
        if self.intake:
            return {**base, "message": doc.get("message"), "error_code": doc.get("error_code"),
                    "topic": doc.get("topic"), "partition": doc.get("partition"),
                    "offset": doc.get("offset"), "payload": _payload(doc.get("value")),
                    **{k: doc[k] for k in ("field", "fields") if k in doc}}
        return {**base, "error": redact(doc.get("reason")), "attempts": doc.get("attempts"),
                "payload": redact(doc.get("payload")),
                "redrivable": bool(doc.get("request"))}

    def redrive_record(self) -> tuple[bytes | None, bytes] | None:
        """(key, value) that re-runs it through the intake; None when it cannot."""
        if self.intake:
            value = self.doc.get("value")
            if not value or value.get("truncated"):
                return None  # only part of the original bytes were kept
            raw = decode_bytes(value)
            return (decode_bytes(self.doc.get("key")), raw) if raw else None
        request, key = self.doc.get("request"), self.doc.get("key")
        if not isinstance(request, dict) or not key:
            return None
        return key_bytes(str(key)), json.dumps(request, separators=(",", ":")).encode()


def _payload(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    if "text" in value:
        return {**value, "text": redact_text(str(value["text"]))}
    # Binary values are not shown (they may hold anything); their size and hash are.
    raw = decode_bytes(value) or b""
    return {"binary": True, "length": value.get("length", len(raw)),
            "truncated": bool(value.get("truncated"))}


async def read_letters(settings: Settings, dlq_topic: str, flt: Filter,
                       max_scan: int = MAX_SCAN) -> tuple[list[Letter], int]:
    """The matching letters, oldest first, and how many were read."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker_bootstrap,
                                client_id="pipeline-dlq", group_id=None,
                                enable_auto_commit=False)
    try:
        with kafka_errors(f"connect to {settings.broker_url}"):
            await consumer.start()
        with kafka_errors(f"read {dlq_topic}"):
            if dlq_topic not in await consumer.topics():
                return [], 0
            return await _scan(consumer, dlq_topic, flt, max_scan)
    finally:
        await consumer.stop()


async def _scan(consumer: AIOKafkaConsumer, topic: str, flt: Filter,
                max_scan: int) -> tuple[list[Letter], int]:
    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    end = await consumer.end_offsets(tps)
    begin = await consumer.beginning_offsets(tps)
    pending = {tp for tp in tps if begin[tp] < end[tp]}
    for tp in pending:
        consumer.seek(tp, begin[tp])
    letters: list[Letter] = []
    read, last_data = 0, time.monotonic()
    while pending and read < max_scan:
        batch = await consumer.getmany(*pending, timeout_ms=FETCH_TIMEOUT_MS, max_records=500)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= end[tp]:
                    break
                read += 1
                letter = _letter(tp.partition, record.offset, record.value)
                if letter is not None and flt.matches(letter):
                    letters.append(letter)
        for tp in list(pending):
            if await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
        if batch:
            last_data = time.monotonic()
        elif time.monotonic() - last_data > IDLE_GIVE_UP_S:
            break
    letters.sort(key=lambda lt: (lt.at, lt.partition, lt.offset))
    return letters, read


def _letter(partition: int, offset: int, value: bytes | None) -> Letter | None:
    try:
        doc = json.loads(value or b"null")
    except ValueError:
        return None
    return Letter(partition, offset, doc) if isinstance(doc, dict) else None


def page(letters: list[Letter], start: int, limit: int) -> dict[str, Any]:
    """One page of public letters, with the start of the next page (None at the end)."""
    chosen = letters[start:start + limit]
    following = start + limit if start + limit < len(letters) else None
    return {"total": len(letters), "start": start, "next": following,
            "letters": [letter.public() for letter in chosen]}
