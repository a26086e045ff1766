"""Streaming M3U / ``m3u_plus`` playlist parser (pure library: no Faust, no network).

    from pipeline.m3u import M3UParser, parse_stream, parse_file

    parser = M3UParser(max_line_bytes=65536)
    for chunk in chunks:
        for item in parser.feed(chunk):
            ...
    for item in parser.close():
        ...
    parser.header, parser.stats

Items are plain JSON-ready dicts (schema in DESIGN.md, "Playlist jobs").
``parser.feed_ndjson(chunk)`` / ``parser.close_ndjson()`` return the same
items as NDJSON bytes (``encode_batch`` of them), faster: most entries never
become a dict. Lines outside an entry that look like no URI or path are
skipped and counted in ``stats.skipped_lines``.
"""

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
