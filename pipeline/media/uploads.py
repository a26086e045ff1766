"""Upload events checked against settings: from an API body or from the raw
bytes of a `media.uploads` record.

Records are decoded here, not by Faust, so that a malformed record from any
producer is rejected (to the DLQ) instead of crashing the agent.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import BadRequest
from pipeline.media import rules as media_rules
from pipeline.media.targets import Policy
from pipeline.settings import Settings


def checked_upload(body: dict[str, Any], now: float, settings: Settings) -> dict[str, Any]:
    """The upload event's fields; 400 for bad fields, 422 for a refused source or
    destination."""
    fields = media_rules.validate_upload(body, default_bucket=settings.media_bucket, now=now,
                                  allowed_buckets=settings.allowed_source_buckets)
    if fields["destination"]:
        media_rules.check_destination(fields["destination"], default=settings.default_destination,
                               allowed=settings.prewarm_allowed_destinations,
                               protected_buckets=Policy.from_settings(settings).protected_buckets)
    return fields


def decode_upload(raw_key: bytes | None, raw_value: bytes | None, now: float,
                  settings: Settings) -> dict[str, Any]:
    """An upload record's fields, validated like `POST /api/media/uploads` does."""
    try:
        key, body = json.loads(raw_key or b"null"), json.loads(raw_value or b"null")
    except ValueError as exc:
        raise BadRequest("record key and value must be JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("record value must be a JSON object")
    fields = checked_upload(body, now, settings)
    if key != fields["media_id"]:
        raise BadRequest("record key is not the media_id")
    # A replay re-prewarms a done job (never one queued or running), like parse replays.
    fields["replay"] = body.get("replay") is True
    callback = body.get("callback_url")  # checked at submit, and again when delivered
    fields["callback_url"] = callback if isinstance(callback, str) else ""
    return fields


def key_text(raw_key: bytes | None) -> str:
    """The record key as text for logs and the DLQ (the JSON string when it is one)."""
    text = (raw_key or b"").decode(errors="replace")
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    return (key if isinstance(key, str) else text)[:200]
