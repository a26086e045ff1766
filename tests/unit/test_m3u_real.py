"""The real iptv-org playlists in tests/data/playlists: counts match their README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.m3u import parse_file

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
ROW = re.compile(r"^\| `([^`]+)` \| `[^`]+` \| `[0-9a-f]{40}` \| (\d+) \| (\d+) \| (\d+) \|$", re.M)
TABLE = {
    name: (int(size), int(items), int(vlc))
    for name, size, items, vlc in ROW.findall((PLAYLISTS / "README.md").read_text())
}


def test_readme_lists_every_playlist() -> None:
    assert sorted(TABLE) == sorted(p.name for p in PLAYLISTS.glob("*.m3u"))
    assert len(TABLE) == 8


@pytest.mark.parametrize("name", sorted(TABLE))
def test_counts_match_readme(name: str) -> None:
    size, count, _ = TABLE[name]
    run = parse_file(PLAYLISTS / name)
    items = list(run)
    assert len(items) == count == run.stats.items
    assert run.stats.bytes == size
    assert run.stats.dropped_entries == run.stats.bad_entries == run.stats.long_lines == 0
    assert all(i["url"] and i["name"] and "duration" in i for i in items)
    assert sum(run.stats.counts.values()) == count


def test_user_agents_with_commas_and_referrer_only_entries() -> None:
    items = list(parse_file(PLAYLISTS / "pt-channels.m3u"))
    sport = next(i for i in items if i["name"].startswith("Sport TV 1 "))
    assert sport["http"]["user_agent"].endswith(
        "KHTML, like Gecko Chrome/96.0.3809.25 Safari/537.36"
    )
    assert sport["attrs"]["user-agent"] == sport["http"]["user_agent"]
    referrer_only = [i for i in parse_file(PLAYLISTS / "in.m3u") if "referrer" in i.get("http", {})]
    assert len(referrer_only) == 2
    assert all("user_agent" not in i["http"] for i in referrer_only)


def test_channels_style_attributes() -> None:
    items = list(parse_file(PLAYLISTS / "pk-channels.m3u"))
    first = items[0]
    assert first["tvg"] == {
        "id": "92News.pk",
        "country": "PK",
        "language": "Urdu",
        "logo": "https://i.imgur.com/OifwcrE.png",
    }
    assert first["group"] == "News"
    assert any(i["tvg"].get("language") == "Urdu;English" for i in items)
    empty_group = [i for i in items if i["attrs"].get("group-title") == ""]
    assert empty_group and all("group" not in i for i in empty_group)
    only_referrer = [i for i in items if i.get("http", {}).keys() == {"referrer"}]
    assert only_referrer


def test_italian_names_and_pluto_placeholders() -> None:
    items = list(parse_file(PLAYLISTS / "it.m3u"))
    assert all(set(i["attrs"]) == {"tvg-id"} for i in items)
    assert any("{PSID}" in i["url"] for i in items)
    pluto = [i for i in items if i.get("http", {}).get("referrer")]
    assert pluto
    names = " ".join(i["name"] for i in items)
    assert all(ch in names for ch in "&/@'")


def test_empty_tvg_id_is_kept_in_attrs_only() -> None:
    items = list(parse_file(PLAYLISTS / "ar.m3u")) + list(parse_file(PLAYLISTS / "pt.m3u"))
    blank = [i for i in items if i["attrs"].get("tvg-id") == ""]
    assert blank and all("id" not in i.get("tvg", {}) for i in blank)
    assert all(i["attrs"]["status"] for i in items)
