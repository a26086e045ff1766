"""M3U parser: non-playlists, over-long lines and invalid UTF-8."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pipeline.errors import NotAPlaylist
from pipeline.m3u import M3UParser, parse_bytes


def feed_all(data: bytes, chunk: int = 0, **opts: Any) -> tuple[list[dict], M3UParser]:
    parser = M3UParser(**opts)
    size = chunk or max(1, len(data))
    items: list[dict] = []
    for i in range(0, len(data), size):
        items += parser.feed(data[i : i + size])
    return items + parser.close(), parser


# -- not a playlist -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "seen"),
    [
        (b"", "empty body"),
        (b"  \n\r\n\t ", "blank body"),
        (b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title>", "HTML"),
        (b"\n\n  <html><body>Not found</body></html>", "HTML"),
        (b'<?xml version="1.0"?><tv></tv>', "XML"),
        (json.dumps({"user_info": {"auth": 0}}).encode(), "JSON"),
        (b'[{"name": "x"}]', "JSON"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),
        (b"PK\x03\x04rest-of-zip", "ZIP"),
        (b"\xff\xfe#\x00E\x00X\x00T\x00", "UTF-16"),
        (bytes(range(256)) * 4, "binary"),
        (b"Invalid username or password\n", "neither #EXTM3U"),
        (b"# only comments\n" * 5000, "no #EXTM3U, #EXTINF or URL line"),
    ],
)
def test_not_a_playlist(body: bytes, seen: str) -> None:
    for chunk in (0, 1, 7):
        if chunk == 1 and len(body) > 5000:
            continue
        with pytest.raises(NotAPlaylist) as err:
            feed_all(body, chunk)
        assert seen in err.value.message, err.value.message
        assert err.value.code == "not_a_playlist"
        assert "\n" not in err.value.message


def test_random_binary_is_refused_within_64_kib() -> None:
    rng = random.Random(7)
    body = bytes(rng.getrandbits(8) for _ in range(200_000))
    parser = M3UParser()
    with pytest.raises(NotAPlaylist):
        for i in range(0, len(body), 4096):
            parser.feed(body[i : i + 4096])
            assert parser.stats.bytes <= 64 * 1024 + 4096


def test_comments_then_header_within_the_window_is_a_playlist() -> None:
    items, _ = feed_all(b"# generated\n# by x\n#EXTM3U\n#EXTINF:-1,A\nhttp://a\n", 3)
    assert [i["name"] for i in items] == ["A"]


def test_header_only_playlist_is_empty_not_an_error() -> None:
    items, parser = feed_all(b"#EXTM3U\n")
    assert items == [] and parser.stats.items == 0


def test_plain_url_list_is_a_playlist() -> None:
    assert len(parse_bytes(b"http://a/1.ts\nhttp://a/2.ts\n")) == 2


def test_random_bytes_never_crash_after_a_header() -> None:
    rng = random.Random(3)
    body = b"#EXTM3U\n" + bytes(rng.getrandbits(8) for _ in range(50_000))
    items, parser = feed_all(body, 999)
    assert parser.stats.bytes == len(body)
    assert all(isinstance(i["url"], str) for i in items)


# -- long lines ---------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 1, 10, 100])
def test_long_lines_are_skipped_and_counted(chunk: int) -> None:
    long_title = "x" * 300
    body = (
        "#EXTM3U\n"
        f"#EXTINF:-1,{long_title}\nhttp://lost\n"  # long EXTINF: its URL has no EXTINF
        "#EXTINF:-1,A\n#EXTVLCOPT:http-user-agent=" + "u" * 300 + "\nhttp://a\n"
        "#EXTINF:-1,B\nhttp://" + "b" * 300 + "\n"  # long URL: entry B is lost
        "#EXTINF:-1,C\nhttp://c\n"
    ).encode()
    items, parser = feed_all(body, chunk, max_line_bytes=200)
    assert [(i["name"], i["url"]) for i in items] == [
        ("lost", "http://lost"),
        ("A", "http://a"),
        ("C", "http://c"),
    ]
    assert parser.stats.long_lines == 3
    assert parser.stats.bad_entries == 1
    assert "http" not in items[1]


def test_long_line_memory_is_bounded() -> None:
    parser = M3UParser(max_line_bytes=1024)
    parser.feed(b"#EXTM3U\n#EXTINF:-1,A\n")
    for _ in range(200):
        parser.feed(b"y" * 10_000)
        assert len(parser._buf) <= 1024
    items = parser.feed(b"\n#EXTINF:-1,B\nhttp://b\n") + parser.close()
    assert [i["name"] for i in items] == ["B"]
    assert parser.stats.long_lines == 1 and parser.stats.bad_entries == 1


def test_default_limit_is_64_kib() -> None:
    body = b"#EXTM3U\n#EXTINF:-1," + b"t" * 70_000 + b"\nhttp://a\n"
    items, parser = feed_all(body)
    assert parser.stats.long_lines == 1 and items[0]["name"] == "a"


# -- invalid UTF-8 -------------------------------------------------------------


def test_invalid_utf8_falls_back_per_line() -> None:
    body = (
        b"#EXTM3U\n"
        b'#EXTINF:-1 group-title="S\xe9ries",Ol\xe1 Mundo\nhttp://a/1\n'  # Latin-1
        b"#EXTINF:-1,Caf\xc3\xa9 \xff Bar\nhttp://a/2\n"  # UTF-8 with a stray byte
        b"#EXTINF:-1,Fine \xc3\xa7\nhttp://a/3\n"
        b"#EXTINF:-1,Smart \x93quotes\x94\nhttp://a/\xe94\n"  # Windows-1252
    )
    for chunk in (0, 1, 5):
        items, _ = feed_all(body, chunk)
        assert [i["name"] for i in items] == [
            "Olá Mundo",
            "Café \ufffd Bar",
            "Fine ç",
            "Smart \u201cquotes\u201d",
        ]
        assert items[0]["group"] == "Séries" and items[0]["type"] == "series"
        assert items[3]["url"] == "http://a/é4"
