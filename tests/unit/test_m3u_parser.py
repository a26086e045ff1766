"""M3U parser: header, line handling, #EXTINF shapes, attributes and titles."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.m3u import M3UParser, parse_bytes

Items = list[dict[str, Any]]


def parse(text: str | bytes, **opts: Any) -> tuple[Items, M3UParser]:
    data = text.encode() if isinstance(text, str) else text
    parser = M3UParser(**opts)
    items = parser.feed(data) + parser.close()
    return items, parser


def one(text: str | bytes, **opts: Any) -> dict[str, Any]:
    items, _ = parse(text, **opts)
    assert len(items) == 1, items
    return items[0]


# -- header, BOM, line ends ----------------------------------------------------


def test_header_attributes() -> None:
    items, p = parse(
        '#EXTM3U url-tvg="http://e/a.xml,http://e/b.xml" x-tvg-url="http://e/x.xml" '
        'tvg-shift=2 catchup="shift" catchup-days=\'3\' url-tvg="ignored"\n'
        "#EXTINF:-1,A\nhttp://a\n"
    )
    assert p.header == {
        "url-tvg": "http://e/a.xml,http://e/b.xml",
        "x-tvg-url": "http://e/x.xml",
        "tvg-shift": "2",
        "catchup": "shift",
        "catchup-days": "3",
    }
    assert [i["name"] for i in items] == ["A"]


def test_no_header_and_bom() -> None:
    assert one("#EXTINF:-1,A\nhttp://a\n")["url"] == "http://a"
    items, p = parse(b'\xef\xbb\xbf#EXTM3U x-tvg-url="u"\n#EXTINF:-1,A\nhttp://a\n')
    assert p.header == {"x-tvg-url": "u"} and items[0]["name"] == "A"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings(eol: str) -> None:
    text = eol.join(["#EXTM3U", "#EXTINF:-1,A", "http://a", "#EXTINF:-1,B", "http://b"])
    items, _ = parse(text + eol)
    assert [(i["name"], i["url"]) for i in items] == [("A", "http://a"), ("B", "http://b")]
    items, _ = parse(text)  # no final line end
    assert [i["url"] for i in items] == ["http://a", "http://b"]


def test_blank_lines_comments_and_whitespace() -> None:
    items, p = parse(
        "#EXTM3U\n\n# a comment\n   \n  #EXTINF:-1 , Spaced  \n\n#EXT-X-VERSION:3\n   http://a   \n"
    )
    assert items == [{"name": "Spaced", "url": "http://a", "type": "live", "duration": -1}]
    assert p.stats.skipped_lines == 2


# -- #EXTINF ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "duration"),
    [("-1", -1), ("0", 0), ("3600", 3600), ("12.5", 12.5), (" -1", -1), ("abc", None)],
)
def test_durations(head: str, duration: float | None) -> None:
    item = one(f"#EXTINF:{head},T\nhttp://a\n")
    assert item.get("duration") == duration
    assert item["name"] == "T"


def test_attribute_quoting_styles_and_no_spaces() -> None:
    item = one(
        '#EXTINF:-1 tvg-name="A"tvg-id=\'a.id\' tvg-chno=7 group-title="News, World",'
        "Title\nhttp://a\n"
    )
    assert item["attrs"] == {
        "tvg-name": "A",
        "tvg-id": "a.id",
        "tvg-chno": "7",
        "group-title": "News, World",
    }
    assert item["tvg"] == {"name": "A", "id": "a.id", "chno": "7"}
    assert item["group"] == "News, World"
    assert item["name"] == "Title"


def test_duplicate_attributes_first_wins_and_case_insensitive_names() -> None:
    item = one(
        '#EXTINF:-1 TVG-ID="first" tvg-id="second" Group-Title="G" tvg-logo="L" '
        'tvg-logo="L2",T\nhttp://a\n'
    )
    assert item["attrs"] == {
        "TVG-ID": "first",
        "tvg-id": "second",
        "Group-Title": "G",
        "tvg-logo": "L",
    }
    assert item["tvg"] == {"id": "first", "logo": "L"}
    assert item["group"] == "G"


def test_all_known_attributes_are_mapped() -> None:
    attrs = {
        "tvg-id": "i",
        "tvg-name": "n",
        "tvg-logo": "l",
        "tvg-chno": "5",
        "tvg-language": "Urdu;English",
        "tvg-country": "PK",
        "tvg-url": "u",
        "tvg-rec": "3",
        "tvg-shift": "-2",
        "group-title": "g",
        "catchup": "default",
        "catchup-days": "7",
        "catchup-source": "?utc={utc}",
        "timeshift": "2",
        "user-agent": "UA, with comma",
        "http-referrer": "http://r/",
        "status": "online",
    }
    line = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    item = one(f"#EXTINF:-1 {line},T\nhttp://a\n")
    assert item["attrs"] == attrs
    assert item["tvg"] == {
        "id": "i",
        "name": "n",
        "logo": "l",
        "chno": "5",
        "language": "Urdu;English",
        "country": "PK",
        "url": "u",
        "rec": "3",
        "shift": "-2",
    }
    assert item["group"] == "g"
    assert item["catchup"] == {
        "type": "default",
        "days": "7",
        "source": "?utc={utc}",
        "timeshift": "2",
    }
    assert item["http"] == {"user_agent": "UA, with comma", "referrer": "http://r/"}


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ('#EXTINF:-1 tvg-id="a",Hello, World', "Hello, World"),
        ('#EXTINF:-1 tvg-name="A, B",Title, with "quotes" and a=b', 'Title, with "quotes" and a=b'),
        ("#EXTINF:-1 ,Name", "Name"),
        ("#EXTINF:-1,  Name  ", "Name"),
        ('#EXTINF:-1 tvg-id="x" tvg-name="Fallback",', "Fallback"),
        ('#EXTINF:-1 tvg-name="Fallback"', "Fallback"),
        ("#EXTINF:-1 My Channel", "My Channel"),
        ("#EXTINF:-1,", "stream"),
        ("#extinf:-1,lower case tag", "lower case tag"),
        ("#EXTINF -1,no colon", "no colon"),
        ('#EXTINF:-1 tvg-name="unterminated,Title', "Title"),
    ],
)
def test_titles(line: str, name: str) -> None:
    assert one(f"{line}\nhttp://host/path/stream.m3u8\n")["name"] == name


def test_empty_known_values_are_omitted_but_kept_in_attrs() -> None:
    item = one('#EXTINF:-1 tvg-id="" tvg-logo="" group-title="",A\nhttp://a\n')
    assert "tvg" not in item and "group" not in item
    assert item["attrs"] == {"tvg-id": "", "tvg-logo": "", "group-title": ""}


def test_item_shape_and_key_order() -> None:
    item = one(
        '#EXTINF:-1 tvg-id="s.id" tvg-name="Show S01 E02" tvg-logo="L" group-title="Séries",'
        "Show S01 E02\n#EXTVLCOPT:http-user-agent=UA\nhttp://h/series/u/p/1.mp4\n"
    )
    assert list(item) == [
        "name",
        "url",
        "type",
        "group",
        "duration",
        "tvg",
        "series",
        "http",
        "attrs",
    ]
    assert item["series"] == {"title": "Show", "season": 1, "episode": 2}
    assert item["http"] == {"user_agent": "UA"}


# -- URL lines ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "rtmp://h/app/stream",
        "udp://@239.0.0.1:1234",
        "rtp://@239.1.1.1:5000",
        "channels/one.ts",
        "/abs/path/two.m3u8",
        "C:\\media\\three.mp4",
        "mms://h/x",
    ],
)
def test_non_http_urls_are_kept(url: str) -> None:
    assert one(f"#EXTM3U\n#EXTINF:-1,N\n{url}\n")["url"] == url


def test_url_without_extinf_is_named_from_url() -> None:
    items, _ = parse(
        "#EXTM3U\nhttp://h/live/Channel%20One.m3u8?token=1\nudp://@239.0.0.1:1234\nhttp://h/\n"
    )
    assert [i["name"] for i in items] == ["Channel One", "239.0.0.1:1234", "h"]
    assert "duration" not in items[0] and "attrs" not in items[0]


def test_extinf_without_url_is_dropped_and_counted() -> None:
    items, p = parse("#EXTM3U\n#EXTINF:-1,Lost\n#EXTINF:-1,Kept\nhttp://k\n#EXTINF:-1,End\n")
    assert [i["name"] for i in items] == ["Kept"]
    assert p.stats.dropped_entries == 2
    assert p.stats.items == 1


def test_bad_entry_is_skipped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.m3u.parser as parser_mod

    real = parser_mod.build_general

    def flaky(extinf: str | None, url: str, extra: object) -> dict[str, Any]:
        if "boom" in url:
            raise RuntimeError("boom")
        return real(extinf, url, extra)  # type: ignore[arg-type]

    monkeypatch.setattr(parser_mod, "build_general", flaky)
    items, p = parse("#EXTM3U\n#EXTINF:-1,A\nhttp://boom\n#EXTINF:-1,B\nhttp://b\n")
    assert [i["name"] for i in items] == ["B"]
    assert p.stats.bad_entries == 1


def test_pipe_only_url_is_a_bad_entry() -> None:
    items, p = parse("#EXTM3U\n#EXTINF:-1,A\n|User-Agent=x\n#EXTINF:-1,B\nhttp://b\n")
    assert [i["name"] for i in items] == ["B"] and p.stats.bad_entries == 1


def test_parse_bytes_helper() -> None:
    assert parse_bytes(b"#EXTM3U\nhttp://a/b.ts\n")[0]["name"] == "b"


def test_feed_accepts_bytearray_and_memoryview() -> None:
    p = M3UParser()
    items = p.feed(bytearray(b"#EXTM3U\n#EXTINF:-1,A\n")) + p.feed(memoryview(b"http://a\n"))
    assert [i["name"] for i in items + p.close()] == ["A"]


def test_feed_after_close_is_an_error() -> None:
    p = M3UParser()
    p.feed(b"#EXTM3U\n")
    p.close()
    assert p.close() == []
    with pytest.raises(ValueError):
        p.feed(b"x")
