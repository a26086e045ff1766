"""M3U output and entry points: NDJSON/gzip helpers, parse_file, parse_stream, fast path."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import NotAPlaylist
from pipeline.m3u import (
    GzipNDJSONEncoder,
    GzipNDJSONWriter,
    M3UParser,
    dumps_item,
    encode_batch,
    iter_ndjson_gz,
    parse_bytes,
    parse_chunks,
    parse_file,
    parse_stream,
    write_ndjson_gz,
)
from pipeline.m3u.entry import build_general, build_item, fast_item

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
SAMPLE = (
    '#EXTM3U x-tvg-url="http://e/g.xml"\n'
    '#EXTINF:-1 tvg-id="" tvg-name="Filme Ação (2020)" tvg-logo="http://l/1.jpg" '
    'group-title="Filmes | Ação",Filme Ação (2020)\nhttp://h:8080/movie/u/p/1.mp4\n'
    '#EXTINF:-1 tvg-id="" tvg-name="Série S02 E03" tvg-logo="" '
    'group-title="Séries | HBO",Série S02 E03\nhttp://h:8080/series/u/p/2.mkv\n'
    '#EXTINF:-1 tvg-id="globo.br" tvg-name="Globo" tvg-logo="http://l/g.png" '
    'group-title="Canais",Globo\nhttp://h:8080/u/p/3\n'
).encode()


def test_dumps_item_is_one_ndjson_line() -> None:
    item = {"name": 'Ação \u2028 "q"', "url": "http://a", "type": "live"}
    line = dumps_item(item)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == item
    assert "Ação".encode() in line  # UTF-8, not \\u escapes


def test_encode_batch_and_gzip_helpers_round_trip() -> None:
    items = parse_bytes(SAMPLE)
    assert encode_batch(items) == b"".join(dumps_item(i) for i in items)
    for threaded in (True, False):
        buf = io.BytesIO()
        assert write_ndjson_gz(iter(items * 1000), buf, level=1, threaded=threaded) == 3000
        lines = gzip.decompress(buf.getvalue()).splitlines()
        assert len(lines) == 3000 and json.loads(lines[-1]) == items[-1]
    streamed = b"".join(iter_ndjson_gz(items, level=2, batch_items=2))
    assert gzip.decompress(streamed) == encode_batch(items)


def test_encode_batch_edge_cases() -> None:
    tricky: list[Any] = [
        {"name": 'a},{"b', "url": "u"},
        {"attrs": {"x": '},{"'}},
        {"nested": [{"a": 1}, {"b": 2}]},
        {},
        {"z": [1, {"c": 3}, {"d": 4}]},
    ]
    expected = b"".join(dumps_item(i) for i in tricky)
    assert encode_batch(tricky) == expected
    assert encode_batch(iter(tricky[:2])) == b"".join(dumps_item(i) for i in tricky[:2])
    assert encode_batch([{"nested": [{"a": 1}, {"b": 2}]}, {"n": 1}]) == (
        b'{"nested":[{"a":1},{"b":2}]}\n{"n":1}\n'
    )
    assert encode_batch([]) == b""


def test_encode_batch_uses_one_dumps_call_for_parser_items(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import orjson

    import pipeline.m3u.ndjson as ndjson_mod

    calls: list[int] = []

    class Counting:
        OPT_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE

        @staticmethod
        def dumps(obj: Any, option: int = 0) -> bytes:
            calls.append(1)
            return orjson.dumps(obj, option=option)

    items = list(parse_file(PLAYLISTS / "it.m3u"))  # titles with "[", entries with http
    expected = b"".join(dumps_item(i) for i in items)
    monkeypatch.setattr(ndjson_mod, "orjson", Counting)
    assert encode_batch(items) == expected
    assert len(calls) == 1


def test_gzip_encoder_is_incremental() -> None:
    items = parse_bytes(SAMPLE)
    encoder = GzipNDJSONEncoder(level=1)
    out = b"".join(encoder.encode(items) for _ in range(10)) + encoder.finish()
    assert gzip.decompress(out) == encode_batch(items) * 10
    assert encoder.items == 30 and encoder.raw_bytes == len(encode_batch(items)) * 10


@pytest.mark.parametrize("backend", ["isal", "zlib"])
@pytest.mark.parametrize("level", [0, 1, 3, 6])
def test_gzip_compressor_backends(
    monkeypatch: pytest.MonkeyPatch, backend: str, level: int
) -> None:
    import pipeline.m3u.ndjson as ndjson_mod

    if backend == "zlib":
        monkeypatch.setattr(ndjson_mod, "_ISAL", None)
    elif ndjson_mod._ISAL is None:
        pytest.skip("the optional isal package is not installed")
    items = parse_bytes(SAMPLE) * 100
    buf = io.BytesIO()
    write_ndjson_gz(items, buf, level=level)
    assert gzip.decompress(buf.getvalue()) == encode_batch(items)


def test_gzip_writer_reports_write_errors() -> None:
    class Broken(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError("disk full")

    writer = GzipNDJSONWriter(Broken(), level=1)
    writer.write(parse_bytes(SAMPLE) * 5000)
    with pytest.raises(OSError, match="disk full"):
        writer.close()


def test_fast_path_matches_general_path() -> None:
    lines = SAMPLE.decode().splitlines()[1:]
    for extinf, url in zip(lines[::2], lines[1::2], strict=True):
        assert build_item(extinf, url, None) == build_general(extinf, url, None)
        assert list(build_item(extinf, url, None)) == list(build_general(extinf, url, None))
    for extinf in (
        '#EXTINF:-1 tvg-id="" tvg-name="" tvg-logo="" group-title="",',
        '#EXTINF:-1 tvg-id="x" tvg-name="Name" tvg-logo="" group-title="VOD",  Show S01E02 ',
    ):
        for url in ("http://h/a/b/Stream.ts", "http://h/series/x.mp4", "http://h/movie/y"):
            assert build_item(extinf, url, None) == build_general(extinf, url, None)


_VALUE = st.text(st.characters(blacklist_characters='"\r\n', blacklist_categories=["Cs"]))


@settings(max_examples=300, deadline=None)
@given(
    values=st.tuples(_VALUE, _VALUE, _VALUE, _VALUE, _VALUE),
    url=st.sampled_from(
        [
            "http://h/movie/u/p/1.mp4",
            "http://h/series/u/p/2.mkv",
            "http://h/u/p/3",
            "rtmp://x/y/Name.flv",
            "http://h/movie/series/4.mp4",
            "http://h/live/movie/5",
            "a b",
        ]
    ),
)
def test_fast_path_matches_general_path_property(
    values: tuple[str, str, str, str, str], url: str
) -> None:
    tid, tname, tlogo, group, title = values
    extinf = (
        f'#EXTINF:-1 tvg-id="{tid}" tvg-name="{tname}" tvg-logo="{tlogo}" '
        f'group-title="{group}",{title}'
    )
    fast = fast_item(extinf, url)
    assert fast is not None
    assert fast == build_general(extinf, url, None)
    assert list(fast) == list(build_general(extinf, url, None))


def test_parse_file_path_and_fileobj_with_stats_and_header() -> None:
    path = PLAYLISTS / "mq-channels.m3u"
    run = parse_file(path, chunk_bytes=7)
    assert len(list(run)) == 2 and run.stats.items == 2
    with open(path, "rb") as fh:
        batches = list(parse_file(fh, chunk_bytes=100).batches())
    assert sum(len(b) for b in batches) == 2
    chunks = parse_chunks([SAMPLE[:50], SAMPLE[50:]])
    assert [i["type"] for i in chunks] == ["movie", "series", "live"]
    assert chunks.header == {"x-tvg-url": "http://e/g.xml"}
    assert chunks.stats.counts == {"live": 1, "movie": 1, "series": 1}
    assert chunks.stats.groups == 3


async def _aiter(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_parse_stream_async() -> None:
    stream = parse_stream(_aiter(SAMPLE, 13), max_line_bytes=4096)
    items = [item async for item in stream]
    assert items == parse_bytes(SAMPLE)
    assert stream.stats.items == 3 and stream.header["x-tvg-url"] == "http://e/g.xml"
    assert stream.parser.max_line_bytes == 4096


async def test_parse_stream_not_a_playlist() -> None:
    with pytest.raises(NotAPlaylist, match="HTML"):
        async for _ in parse_stream(_aiter(b"<html><body>502 Bad Gateway</body></html>", 5)):
            pass


def test_stats_to_dict_shape() -> None:
    parser = M3UParser()
    parser.feed(SAMPLE)
    parser.close()
    assert parser.stats.to_dict() == {
        "items": 3,
        "counts": {"live": 1, "movie": 1, "series": 1},
        "groups": 3,
        "skipped_lines": 0,
        "dropped_entries": 0,
        "bad_entries": 0,
        "long_lines": 0,
        "bytes": len(SAMPLE),
    }
