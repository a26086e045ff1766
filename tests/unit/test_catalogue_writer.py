"""The writer's inputs lay out the same catalogue: items, NDJSON alone, NDJSON with
the parser's catalogue fields; and the gzip members it assembles from pieces."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.catalogue import CatalogueWriter, dump_index
from pipeline.catalogue.layout import TYPE_CODES, gunzip
from pipeline.catalogue.members import crc32, deflate, member
from pipeline.errors import NotAPlaylist
from pipeline.m3u import M3UParser, parse_bytes
from pipeline.m3u.fastline import TYPE_CODES as FIELD_TYPE_CODES
from tests.unit.test_m3u_chunking import playlists
from tests.unit.test_m3u_ndjson_mode import xtream

ROOT = Path(__file__).resolve().parents[2]
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


def _frames(data: bytes, cuts: list[int]) -> list[tuple[bytes, bytes]]:
    """(NDJSON lines, catalogue fields) per chunk, as the parse child sends them."""
    parser = M3UParser(fields=True)
    frames, start = [], 0
    for cut in [*sorted(cuts), len(data)]:
        frames.append((parser.feed_ndjson(data[start:cut]), parser.take_fields()))
        start = max(start, cut)
    frames.append((parser.close_ndjson(), parser.take_fields()))
    return frames


def test_field_type_codes_are_the_catalogue_codes() -> None:
    assert {kind: code.encode() for kind, code in FIELD_TYPE_CODES.items()} == TYPE_CODES


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(playlists(), xtream()), cut_seed=st.data())
def test_parser_fields_are_each_lines_fields(data: bytes, cut_seed: st.DataObject) -> None:
    cuts = cut_seed.draw(st.lists(st.integers(0, len(data)), max_size=6))
    try:
        frames = _frames(data, cuts)
    except NotAPlaylist:
        return
    for lines, fields in frames:
        items = [orjson.loads(line) for line in lines.split(b"\n")[:-1]]
        parts = fields.split(b"\x00")
        assert len(parts) == 4 * len(items) + 1
        for n, item in enumerate(items):
            texts = (item.get("group") or "", item.get("name") or "", item["url"])
            if parts[4 * n : 4 * n + 4] == [b""] * 4:  # left to the writer: a field holds \0
                assert "\x00" in "".join(texts)
                continue
            code = TYPE_CODES.get(item["type"], b"o")
            assert parts[4 * n : 4 * n + 4] == [*(t.encode() for t in texts), code]


def test_add_fields_equals_add(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_playlist import generate

    generate(3000, tmp_path / "gen.m3u")
    data = (tmp_path / "gen.m3u").read_bytes() + (
        b'#EXTINF:-1 group-title="Nul",A\x00B\nhttp://h/nul\n'  # \0: decoded by the writer
        b'#EXTINF:-1 tvg-name="Q\\" group-title="G",Q\\\nhttp://h/a"b\n')  # fmt: skip
    frames = _frames(data, list(range(0, len(data), 20_000)))
    items, outputs = parse_bytes(data), []
    for feed in ("items", "fields"):  # same batches: open blocks deflate at the same points
        with (tmp_path / feed).open("wb") as out, \
                CatalogueWriter("r1", out, tmp_path, item_budget=65_536) as writer:  # fmt: skip
            start = 0
            for lines, fields in frames:
                if feed == "fields":
                    writer.add_fields(lines, fields)
                else:
                    writer.add(items[start : start + lines.count(b"\n")])
                start += lines.count(b"\n")
            outputs.append((dump_index(writer.finish()), (tmp_path / feed).read_bytes()))
    assert outputs[0] == outputs[1]
    assert b"Nul" in outputs[0][0]


@given(pieces=st.lists(st.binary(max_size=3000), max_size=5), head=st.binary(max_size=300),
       tail=st.binary(max_size=3000))  # fmt: skip
def test_member_from_deflated_segments(pieces: list[bytes], head: bytes, tail: bytes) -> None:
    crc = 0
    for piece in pieces:
        crc = crc32(piece, crc)
    got = member(head, b"".join(deflate(piece, final=False) for piece in pieces), crc,
                 sum(map(len, pieces)), tail)  # fmt: skip
    body = head + b"".join(pieces) + tail
    assert zlib.decompress(got, 31) == body == gunzip(got)
