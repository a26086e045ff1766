"""The writer's NDJSON fast path lays out exactly what decoding every item would."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.catalogue import CatalogueWriter, dump_index

ITEMS = [
    {"name": "Ação 1", "url": "http://h/live/u/p/1.ts", "type": "live", "group": "Notícias"},
    {"name": 'Quote " and \\ back', "url": "http://h/2", "type": "movie", "group": "Filmes"},
    {"name": "No group", "url": "http://h/3", "type": "series"},
    {"name": "Null group", "url": "http://h/4", "type": "live", "group": None},
    {"url": "http://h/5", "type": "live", "group": "Notícias"},  # no name
    {"name": "Other", "url": "http://h/6?a=\"x\"", "type": "other", "group": "Filmes"},
    {"name": "Repeat", "url": "http://h/live/u/p/1.ts", "type": "live", "group": "Notícias"},
]


def _layout(tmp: Path, name: str, feed: str) -> tuple[bytes, bytes]:
    data = tmp / name
    with data.open("wb") as out, CatalogueWriter("r1", out, tmp) as writer:
        encoded = b"".join(orjson.dumps(item) + b"\n" for item in ITEMS)
        if feed == "items":
            writer.add(ITEMS, encoded)
        else:  # two batches, cut at a line end
            cut = encoded.index(b"\n", len(encoded) // 2) + 1
            writer.add_encoded(encoded[:cut])
            writer.add_encoded(encoded[cut:])
        index = writer.finish()
    return data.read_bytes(), dump_index(index)


def test_add_encoded_equals_add(tmp_path: Path) -> None:
    assert _layout(tmp_path, "a", "items") == _layout(tmp_path, "b", "encoded")
