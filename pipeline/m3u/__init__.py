"""Streaming M3U / ``m3u_plus`` playlist parser (pure library: no Faust, no network).

    from pipeline.m3u import M3UParser, parse_stream, parse_file

    parser = M3UParser(max_line_bytes=65536)
    for chunk in chunks:
        for item in parser.feed(chunk):
            ...
    for item in parser.close():
        ...
    parser.header, parser.stats

Items are plain JSON-ready dicts (schema in docs/architecture.md, "Parsed item").
``parser.feed_ndjson(chunk)`` / ``parser.close_ndjson()`` return the same
items as NDJSON bytes (``encode_batch`` of them), faster: most entries never
become a dict. Lines outside an entry that look like no URI or path are
skipped and counted in ``stats.skipped_lines``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.m3u.ndjson import (
        GzipNDJSONEncoder,
        GzipNDJSONWriter,
        dumps_item,
        encode_batch,
        iter_ndjson_gz,
        write_ndjson_gz,
    )
    from pipeline.m3u.parser import MAX_LINE_BYTES, M3UParser
    from pipeline.m3u.stats import Item, ParseStats
    from pipeline.m3u.stream import (
        AsyncItemStream,
        ItemStream,
        parse_bytes,
        parse_chunks,
        parse_file,
        parse_stream,
    )

# Each name is imported from its module on first use (PEP 562): `pipeline m3u --help`
# and the other commands need no parser, regex or orjson at start-up.
_HOMES = {
    **dict.fromkeys(
        ("GzipNDJSONEncoder", "GzipNDJSONWriter", "dumps_item", "encode_batch",
         "iter_ndjson_gz", "write_ndjson_gz"),
        "ndjson",
    ),
    "MAX_LINE_BYTES": "limits",
    "M3UParser": "parser",
    "Item": "stats",
    "ParseStats": "stats",
    **dict.fromkeys(
        ("AsyncItemStream", "ItemStream", "parse_bytes", "parse_chunks", "parse_file",
         "parse_stream"),
        "stream",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MAX_LINE_BYTES",
    "AsyncItemStream",
    "GzipNDJSONEncoder",
    "GzipNDJSONWriter",
    "Item",
    "ItemStream",
    "M3UParser",
    "ParseStats",
    "dumps_item",
    "encode_batch",
    "iter_ndjson_gz",
    "parse_bytes",
    "parse_chunks",
    "parse_file",
    "parse_stream",
    "write_ndjson_gz",
]
