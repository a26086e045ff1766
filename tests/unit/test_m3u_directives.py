"""M3U parser: #EXTGRP, #EXTVLCOPT, #KODIPROP, #EXTHTTP and Kodi |header suffixes."""

from __future__ import annotations

from typing import Any

from pipeline.m3u import M3UParser


def parse(text: str) -> tuple[list[dict[str, Any]], M3UParser]:
    parser = M3UParser()
    return parser.feed(text.encode()) + parser.close(), parser


def test_extgrp_is_the_group_when_group_title_is_absent() -> None:
    items, _ = parse(
        "#EXTM3U\n#EXTINF:-1,A\n#EXTGRP:News\nhttp://a\n"
        '#EXTINF:-1 group-title="Sports",B\n#EXTGRP:News\nhttp://b\n'
        "#EXTINF:-1,C\nhttp://c\n"
    )
    assert [i.get("group") for i in items] == ["News", "Sports", None]


def test_vlcopt_and_kodiprop_lines_and_blanks_between_extinf_and_url() -> None:
    items, p = parse(
        "#EXTM3U\n"
        '#EXTINF:-1 tvg-id="x",Chan\n'
        "\n"
        "#EXTVLCOPT:http-user-agent=Mozilla/5.0 (X11; Linux, like Gecko)\n"
        "#EXTVLCOPT:http-referrer=https://ref.example/\n"
        "#EXTVLCOPT:network-caching=1000\n"
        "\n"
        "#KODIPROP:inputstream.adaptive.manifest_type=mpd\n"
        "#KODIPROP:inputstream.adaptive.license_key=https://lic/?a=b\n"
        "#EXTVLCOPT:http-user-agent=second loses\n"
        "\n"
        "https://h/manifest.mpd\n"
        "#EXTINF:-1,Next\nhttp://next\n"
    )
    first, second = items
    assert first["http"] == {
        "user_agent": "Mozilla/5.0 (X11; Linux, like Gecko)",
        "referrer": "https://ref.example/",
    }
    assert first["vlcopt"] == {"network-caching": "1000"}
    assert first["kodiprops"] == {
        "inputstream.adaptive.manifest_type": "mpd",
        "inputstream.adaptive.license_key": "https://lic/?a=b",
    }
    assert list(first)[-1] == "attrs"
    assert second == {"name": "Next", "url": "http://next", "type": "live", "duration": -1}
    assert p.stats.skipped_lines == 0


def test_kodiprop_before_extinf_belongs_to_the_next_entry() -> None:
    items, _ = parse(
        "#EXTM3U\n#KODIPROP:inputstream=inputstream.adaptive\n#EXTINF:-1,A\nhttp://a\n"
    )
    assert items[0]["kodiprops"] == {"inputstream": "inputstream.adaptive"}


def test_exthttp_json_headers() -> None:
    items, p = parse(
        "#EXTM3U\n#EXTINF:-1,A\n"
        '#EXTHTTP:{"cookie":"k=v","User-Agent":"UA","Referer":"http://r/","X-N":5}\n'
        "http://a\n#EXTINF:-1,B\n#EXTHTTP:{not json\nhttp://b\n"
    )
    assert items[0]["http"] == {
        "cookie": "k=v",
        "user_agent": "UA",
        "referrer": "http://r/",
        "x_n": "5",
    }
    assert "http" not in items[1]
    assert p.stats.skipped_lines == 1


def test_kodi_pipe_headers() -> None:
    items, _ = parse(
        "#EXTM3U\n#EXTINF:-1,A\n"
        "http://h/s.m3u8?x=1|User-Agent=Mozilla%2F5.0%20(X)&Referer=http%3A%2F%2Fr%2F"
        "&Origin=http://o\n"
        "#EXTINF:-1,B\nhttp://h/odd|path\n"
    )
    assert items[0]["url"] == "http://h/s.m3u8?x=1"
    assert items[0]["http"] == {
        "user_agent": "Mozilla/5.0 (X)",
        "referrer": "http://r/",
        "origin": "http://o",
    }
    assert items[1]["url"] == "http://h/odd|path" and "http" not in items[1]


def test_header_sources_first_wins() -> None:
    items, _ = parse(
        '#EXTM3U\n#EXTINF:-1 user-agent="from-attr",A\n#EXTVLCOPT:http-user-agent=from-vlc\n'
        "#EXTVLCOPT:http-referrer=from-vlc\nhttp://a|Referer=from-pipe&Cookie=c\n"
    )
    assert items[0]["http"] == {"user_agent": "from-attr", "referrer": "from-pipe", "cookie": "c"}


def test_directives_of_a_dropped_entry_do_not_leak() -> None:
    items, p = parse(
        "#EXTM3U\n#EXTINF:-1,Lost\n#EXTVLCOPT:http-user-agent=UA\n#EXTINF:-1,B\nhttp://b\n"
    )
    assert items == [{"name": "B", "url": "http://b", "type": "live", "duration": -1}]
    assert p.stats.dropped_entries == 1


def test_malformed_directives_are_counted() -> None:
    items, p = parse("#EXTM3U\n#EXTINF:-1,A\n#EXTVLCOPT:novalue\n#EXTGRP:\nhttp://a\n")
    assert items[0]["name"] == "A" and p.stats.skipped_lines == 2
