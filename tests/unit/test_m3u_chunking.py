"""Property: any chunking of a playlist yields exactly the items of parsing it whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import NotAPlaylist
from pipeline.m3u import M3UParser
from pipeline.m3u.parallel import ParallelResult, split_blocks

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
MAX_LINE = 120  # small, so that over-long lines happen in generated input

LINES = [
    "#EXTM3U",
    '#EXTM3U url-tvg="http://e/g.xml" tvg-shift=1',
    "#EXTINF:-1,Plain",
    '#EXTINF:-1 tvg-id="a.b" tvg-name="Canal Um" tvg-logo="http://l/x.png" '
    'group-title="Séries | HBO",Canal Um S01 E02',
    '#EXTINF:-1 tvg-id="" tvg-name="Filme (2020)" tvg-logo="" group-title="Filmes",Filme (2020)',
    "#EXTINF:0 tvg-name='Quoted, comma' group-title=Unquoted,Title, with comma",
    '#EXTINF:-1 tvg-name="A"tvg-id="a",Café 東京',
    "#EXTINF:-1 ,Spaced",
    "#extinf:12.5,lower",
    "#EXTVLCOPT:http-user-agent=Mozilla/5.0 (X; like Gecko)",
    "#EXTVLCOPT:http-referrer=http://r/",
    "#KODIPROP:inputstream.adaptive.manifest_type=mpd",
    "#EXTGRP:Grupo",
    '#EXTHTTP:{"cookie":"a=b"}',
    "# comment",
    "",
    "   ",
    "http://h:8080/movie/u/p/1.mp4",
    "http://h:8080/series/u/p/2.mkv",
    "http://h/live.m3u8|User-Agent=UA%201&Referer=http%3A%2F%2Fr",
    "udp://@239.0.0.1:1234",
    "rtmp://h/app/stream",
    "relative/path.ts",
    "#EXTINF:-1," + "long title " * 15,
    "http://h/" + "p" * 130,
]
RAW_LINES = [b"#EXTINF:-1,Latin \xe9\xe7", b"http://h/\xff\xfe", b"#EXTINF:-1,mixed \xc3\xa9\xff"]
EOLS = [b"\n", b"\r\n", b"\r"]


def parse_chunks(data: bytes, cuts: list[int]) -> tuple[list[Any], Any]:
    parser = M3UParser(max_line_bytes=MAX_LINE)
    items: list[dict[str, Any]] = []
    try:
        start = 0
        for cut in [*sorted(cuts), len(data)]:
            items += parser.feed(data[start:cut])
            start = max(start, cut)
        items += parser.close()
    except NotAPlaylist as exc:
        return [("not a playlist", exc.message)], None
    stats = parser.stats.to_dict()
    return items, (stats, parser.header)


@st.composite
def playlists(draw: st.DrawFn) -> bytes:
    lines = draw(
        st.lists(
            st.one_of(
                st.sampled_from(LINES).map(str.encode),
                st.sampled_from(RAW_LINES),
                st.text(max_size=30).map(
                    lambda t: t.replace("\r", "").replace("\n", "").encode("utf-8", "surrogatepass")
                ),
            ),
            max_size=40,
        )
    )
    eol = draw(st.sampled_from(EOLS))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    head = draw(st.sampled_from([b"#EXTM3U" + eol, b""]))
    tail = draw(st.sampled_from([eol, b""]))
    return bom + head + eol.join(lines) + tail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=playlists(), cut_seed=st.data())
def test_any_chunking_yields_the_same_items(data: bytes, cut_seed: st.DataObject) -> None:
    cuts = cut_seed.draw(st.lists(st.integers(0, len(data)), max_size=12))
    assert parse_chunks(data, cuts) == parse_chunks(data, [])


def test_byte_by_byte_equals_whole_on_real_playlists() -> None:
    for path in sorted(PLAYLISTS.glob("*.m3u")):
        data = path.read_bytes()
        whole = parse_chunks(data, [])
        assert parse_chunks(data, list(range(1, len(data)))) == whole, path.name
        crlf = data.replace(b"\n", b"\r\n")
        assert parse_chunks(crlf, list(range(1, len(crlf), 3))) == (
            whole[0],
            (dict(whole[1][0], bytes=len(crlf)), whole[1][1]),
        ), path.name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=playlists(), size=st.integers(1, 300))
def test_blocks_cut_after_url_lines_parse_independently(data: bytes, size: int) -> None:
    """The premise of the parallel writer: split_blocks cuts where no state is held."""
    whole = parse_chunks(data, [])
    blocks = list(split_blocks([data[i : i + 17] for i in range(0, len(data), 17)], size))
    assert b"".join(blocks) == data
    result = ParallelResult()
    items: list[dict[str, Any]] = []
    try:
        for index, block in enumerate(blocks):
            parser = M3UParser(max_line_bytes=MAX_LINE, sniff=index == 0)
            items += parser.feed(block) + parser.close()
            result.merge(parser.stats, parser.header)
        if not blocks:
            M3UParser().close()
    except NotAPlaylist as exc:
        assert whole == ([("not a playlist", exc.message)], None)
        return
    assert (items, (result.stats.to_dict(), result.header)) == whole
