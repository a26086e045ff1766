"""Opaque page cursors: base64url (no padding) of a small JSON object.

    {"v": 1, "r": run id, "f": [group, type, q], "b": block, "l": line}

The run id lets a later request tell "this run is gone" (410 run_gone) from a
damaged cursor (400 bad_request); the filters stop a cursor from being
replayed against another query, which would skip or repeat items.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from pipeline.catalogue.errors import RunGone
from pipeline.errors import BadRequest

VERSION = 1
MAX_CURSOR_CHARS = 1024
Filters = tuple[str | None, str | None, str | None]


def encode(run: str, filters: Filters, block: int, line: int) -> str:
    payload = {"v": VERSION, "r": run, "f": list(filters), "b": block, "l": line}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode("ascii")


def _payload(cursor: str) -> dict[str, object]:
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = orjson.loads(raw)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest("malformed cursor") from None
    if not isinstance(payload, dict) or payload.get("v") != VERSION:
        raise BadRequest("malformed cursor")
    return payload


def decode(cursor: str, run: str, filters: Filters) -> tuple[int, int]:
    """``(block, line)`` a cursor resumes at; BadRequest or RunGone otherwise."""
    payload = _payload(cursor)
    block, line, made_on = payload.get("b"), payload.get("l"), payload.get("r")
    if not (isinstance(block, int) and isinstance(line, int) and isinstance(made_on, str)):
        raise BadRequest("malformed cursor")
    if block < 0 or line < 0:
        raise BadRequest("malformed cursor")
    if made_on != run:
        raise RunGone("the cursor belongs to a run that is no longer current; start again",
                      run=made_on)  # fmt: skip
    if payload.get("f") != list(filters):
        raise BadRequest("the cursor was made for other group, type or q parameters")
    return block, line
