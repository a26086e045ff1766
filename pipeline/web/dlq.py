"""Dead letters: `GET /api/dlq/{topic}` lists them, `POST /api/dlq/{topic}/redrive`
re-publishes them to the input topic, through the intake (docs/events.md).

`topic` is `playlist`, `media`, an input topic or its `.dlq`. Any worker answers:
the letters are read from the log, not from a table.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.web import Request, Response

from pipeline import dlq
from pipeline.errors import BadRequest
from pipeline.web.base import SEND_TIMEOUT_S, ApiView, read_json, require_broker

log = logging.getLogger("pipeline.dlq")


def _whole(value: Any, name: str, low: int, high: int, default: int) -> int:
    raw = str(value if value is not None else default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"`{name}` must be a whole number from {low} to {high}")
    return int(raw)


class DeadLetters(ApiView):
    """GET dead letters, oldest first: filters `reason`, `since`, `until`, `key`; paging
    with `limit` and `start` (the `next` of the previous page)."""

    async def get(self, request: Request, topic: str) -> Response:
        deps = self.deps
        _, dlq_topic = dlq.resolve(deps.topics.names, topic)
        query = request.query
        limit = _whole(query.get("limit"), "limit", 1, dlq.MAX_LIMIT, 100)
        start = _whole(query.get("start"), "start", 0, dlq.MAX_SCAN, 0)
        flt = dlq.Filter.from_query(query)
        require_broker(deps.probe)
        letters, read = await dlq.read_letters(deps.settings, dlq_topic, flt)
        return self.json({"topic": dlq_topic, "read": read, **dlq.page(letters, start, limit)})


class Redrive(ApiView):
    """POST {reason?, since?, until?, key?, dry_run?}: re-publish the matching letters."""

    async def post(self, request: Request, topic: str) -> Response:
        deps = self.deps
        body = await read_json(request, deps.settings)
        input_topic, dlq_topic = dlq.resolve(deps.topics.names, topic)
        flt = dlq.Filter.from_query({k: body.get(k) for k in ("reason", "since", "until", "key")})
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise BadRequest("`dry_run` must be true or false")
        require_broker(deps.probe)
        letters, read = await dlq.read_letters(deps.settings, dlq_topic, flt)
        records = [r for r in (letter.redrive_record() for letter in letters) if r is not None]
        if not dry_run:
            await self._publish(input_topic, records)
        log.info("dlq_redrive", extra={"topic": dlq_topic, "matched": len(letters),
                                       "redriven": 0 if dry_run else len(records)})
        return self.json({"topic": dlq_topic, "read": read, "matched": len(letters),
                          "redriven": 0 if dry_run else len(records),
                          "skipped": len(letters) - len(records), "dry_run": dry_run})

    async def _publish(self, input_topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
        topics = self.deps.topics
        raw = topics.raw_requests if input_topic == topics.names.parse_requests \
            else topics.raw_uploads
        acks = [await raw.send(key=key, value=value) for key, value in records]
        await asyncio.wait_for(asyncio.gather(*acks), SEND_TIMEOUT_S + len(acks) * 0.05)
