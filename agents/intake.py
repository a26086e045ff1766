"""The intake step of the request agents: apply in place, re-key, or dead-letter.

A record from any producer is decoded by `pipeline.intake`. When it already sits
on the partition that owns its job (our JSON key, murmur2) it is handed back to
be applied here; otherwise it is re-published once to the `.keyed` topic on that
partition, where the same step applies it (docs/events.md, "The key, and the
extra hop"). Poison records go to the topic's `.dlq`. Nothing here raises: one
bad record must never stop the agent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.intake import (
    BAD_FIELD,
    Accepted,
    IntakeRules,
    RawRecord,
    Rejected,
    in_place,
    key_state,
)
from pipeline.metrics import Metrics
from pipeline.partitioning import key_bytes, key_partition

log = logging.getLogger("pipeline.intake")

Decode = Callable[[RawRecord, IntakeRules, float], Accepted | Rejected]


@dataclass(frozen=True)
class IntakeStep:
    """One input topic's intake: its decoder, re-keyed topic and dead-letter topic."""

    topic: str  # the input topic's name (metric label)
    decode: Decode
    rules: IntakeRules
    keyed: Any  # raw bytes topic `<input>.keyed`
    dlq: Any  # `<input>.dlq`
    metrics: Metrics

    async def take(self, event: Any, now: float) -> Accepted | None:
        """The request to apply on this partition, or None (re-keyed or dead-lettered)."""
        msg = event.message
        record = RawRecord(msg.topic, msg.partition, msg.offset, _raw(event.key),
                           _raw(event.value))
        try:
            result = self.decode(record, self.rules, now)
        except Exception as exc:  # a validator bug must not stop the agent either
            log.exception("intake_decode_crashed", extra={"topic": record.topic})
            result = Rejected(BAD_FIELD, f"unexpected {type(exc).__name__}", record)
        if isinstance(result, Rejected):
            await self.dead_letter(result, now)
            return None
        if in_place(record, result.key, self.rules.partitions):
            self._count("applied")
            if result.ignored:
                log.info("intake_fields_ignored", extra={"topic": record.topic,
                                                         "fields": list(result.ignored)})
            return result
        partition = key_partition(result.key, self.rules.partitions)
        await self.keyed.send(key=key_bytes(result.key), partition=partition,
                              value=json.dumps(result.value, separators=(",", ":")).encode())
        self._count("rekeyed")
        log.info("intake_rekeyed", extra={"topic": record.topic, "key": result.key,
                                          "key_state": key_state(record.key, result.key),
                                          "from_partition": record.partition,
                                          "to_partition": partition})
        return None

    async def dead_letter(self, rejected: Rejected, now: float) -> None:
        rec = rejected.record
        doc = rejected.dead_letter(now, self.rules.keep_bytes)
        await self.dlq.send(key=f"{rec.topic}/{rec.partition}/{rec.offset}", value=doc)
        self._count("dead_letter")
        self.metrics.dead_letters.labels(topic=self.topic, reason=rejected.reason).inc()
        log.warning("intake_dead_letter", extra={
            "topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
            "reason": rejected.reason, "error": rejected.message})

    def _count(self, outcome: str) -> None:
        self.metrics.intake_records.labels(topic=self.topic, outcome=outcome).inc()


def _raw(value: Any) -> bytes | None:
    # Faust hands raw topics bytes; a test context may hand str.
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()
