"""Text at the edge must be encodable UTF-8 (JSON allows lone surrogates; Kafka keys,
job ids, S3 keys and logs do not)."""

from __future__ import annotations

from typing import Any

from pipeline.errors import BadRequest

# JSON bodies are capped in size, but not in nesting breadth: bound the walk.
MAX_NODES = 100_000


def require_utf8(value: Any) -> None:
    """BadRequest (400) when any string (key or value) inside `value` is not encodable."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise BadRequest("body has too many values")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("text fields must be valid UTF-8 (no lone surrogates)") \
                    from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
