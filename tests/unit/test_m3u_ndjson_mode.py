"""The parser's NDJSON mode writes the bytes of ``encode_batch(items)``, and the fidelity
rules: stray lines outside entries are skipped and counted, quoted option values unquoted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import NotAPlaylist
from pipeline.m3u import M3UParser, encode_batch, parse_bytes
from tests.unit.test_m3u_chunking import MAX_LINE, playlists

ROOT = Path(__file__).resolve().parents[2]
PLAYLISTS = ROOT / "tests" / "data" / "playlists"
# Field text for Xtream-shape entries: what JSON must escape, non-BMP and odd Unicode.
FIELD = st.lists(
    st.sampled_from([*"aZ09 -|,.:/é東🎬\\\t\x01\x7f\u2028\ufeff'", "S01E02", "1x03"]), max_size=8
).map("".join)


def _both(data: bytes, cuts: list[int], max_line: int = MAX_LINE) -> tuple[Any, Any]:
    """(items mode, NDJSON mode): each as (NDJSON bytes, stats, header) or the error."""
    runs = []
    for ndjson in (False, True):
        parser = M3UParser(max_line_bytes=max_line)
        out = b""
        try:
            start = 0
            for cut in [*sorted(cuts), len(data)]:
                piece = data[start:cut]
                out += parser.feed_ndjson(piece) if ndjson else encode_batch(parser.feed(piece))
                start = max(start, cut)
            out += parser.close_ndjson() if ndjson else encode_batch(parser.close())
        except NotAPlaylist as exc:
            runs.append(exc.message)
            continue
        runs.append((out, parser.stats.to_dict(), parser.stats.group_names, parser.header))
    return runs[0], runs[1]


@st.composite
def xtream(draw: st.DrawFn) -> bytes:
    lines = ["#EXTM3U"]
    for _ in range(draw(st.integers(1, 8))):
        tid, tname, tlogo, group, title = (draw(FIELD) for _ in range(5))
        path = draw(st.sampled_from(["/movie/u/p/1.mp4", "/series/u/p/2.mkv", "/u/p/3", ""]))
        url = "http://h:8080" + path + draw(FIELD).replace("\t", "").replace("|", "")
        lines += [
            f'#EXTINF:-1 tvg-id="{tid}" tvg-name="{tname}" tvg-logo="{tlogo}" '
            f'group-title="{group}",{title}',
            url.strip() or "http://h/x",
        ]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(playlists(), xtream()), cut_seed=st.data())
def test_ndjson_mode_equals_items_mode(data: bytes, cut_seed: st.DataObject) -> None:
    cuts = cut_seed.draw(st.lists(st.integers(0, len(data)), max_size=6))
    items_mode, ndjson_mode = _both(data, cuts)
    assert ndjson_mode == items_mode


def test_ndjson_mode_on_real_and_generated_playlists(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_playlist import generate

    generate(3000, tmp_path / "gen.m3u")
    for path in [*sorted(PLAYLISTS.glob("*.m3u")), tmp_path / "gen.m3u"]:
        data = path.read_bytes()
        cuts = list(range(0, len(data), 4099))
        items_mode, ndjson_mode = _both(data, cuts, 65536)
        assert ndjson_mode == items_mode, path.name
        assert items_mode[1]["items"] > 0


def test_escapes_fall_back_to_orjson() -> None:
    data = (
        b'#EXTM3U\n#EXTINF:-1 tvg-id="" tvg-name="A\\B" tvg-logo="" group-title="G",A\\B\n'
        b'http://h/movie/1.mp4\n#EXTINF:-1 tvg-id="" tvg-name="Q" tvg-logo="" group-title="",Q\n'
        b'http://h/a"b\n'
    )
    items_mode, ndjson_mode = _both(data, [], 65536)
    assert ndjson_mode == items_mode
    assert b'"name":"A\\\\B"' in ndjson_mode[0] and b'"url":"http://h/a\\"b"' in ndjson_mode[0]


def test_stray_lines_outside_entries_are_skipped_and_counted() -> None:
    body = (
        b"#EXTM3U\n===== SPORTS =====\nstray text\n#EXTVLCOPT:http-referrer=http://r/\n"
        b"-- banner --\nhttp://h/a.ts\nvideo.mp4\n./rel/b\n../up/c\n//cdn/d\n/abs/e f.ts\n"
        b"C:\\Videos\\g.mkv\n\\\\server\\share\\h.ts\nrtmp://h/app\nudp://@239.0.0.1:1234\n"
        b"Sports News\n#EXTINF:-1,Kept\nNot a URL but after an EXTINF\n"
    )
    parser = M3UParser()
    items = parser.feed(body) + parser.close()
    assert [i["url"] for i in items] == [
        "http://h/a.ts", "video.mp4", "./rel/b", "../up/c", "//cdn/d", "/abs/e f.ts",
        "C:\\Videos\\g.mkv", "\\\\server\\share\\h.ts", "rtmp://h/app", "udp://@239.0.0.1:1234",
        "Not a URL but after an EXTINF",
    ]  # fmt: skip
    assert items[0]["http"] == {"referrer": "http://r/"}  # a banner does not end the entry
    assert parser.stats.skipped_lines == 4
    assert parser.stats.items == len(items)


@pytest.mark.parametrize(
    ("directive", "section", "key", "value"),
    [
        ('#EXTVLCOPT:http-user-agent="Mozilla/5.0 (X11; Linux)"', "http", "user_agent",
         "Mozilla/5.0 (X11; Linux)"),
        ("#EXTVLCOPT:http-referrer='http://r/'", "http", "referrer", "http://r/"),
        ('#EXTVLCOPT:network-caching="1000"', "vlcopt", "network-caching", "1000"),
        ('#KODIPROP:inputstream.adaptive.license_key="https://lic/?a=b"', "kodiprops",
         "inputstream.adaptive.license_key", "https://lic/?a=b"),
        ('#EXTHTTP:{"User-Agent":"\\"UA 1\\""}', "http", "user_agent", "UA 1"),
        ('#EXTVLCOPT:http-user-agent="unbalanced', "http", "user_agent", '"unbalanced'),
        ('#EXTVLCOPT:http-user-agent=say "hi"', "http", "user_agent", 'say "hi"'),
        ('#EXTVLCOPT:http-user-agent=""', "http", "user_agent", ""),
    ],
)  # fmt: skip
def test_quoted_option_values_are_unquoted(
    directive: str, section: str, key: str, value: str
) -> None:
    [item] = parse_bytes(f"#EXTM3U\n#EXTINF:-1,A\n{directive}\nhttp://a\n".encode())
    assert item.get(section, {}).get(key) == value
