"""M3U item types (live / movie / series) and series numbering."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.m3u import parse_bytes
from pipeline.m3u.classify import classify, series_info


def item(title: str, url: str = "http://h/x.ts", group: str | None = None) -> dict[str, Any]:
    attrs = f' group-title="{group}"' if group is not None else ""
    return parse_bytes(f"#EXTM3U\n#EXTINF:-1{attrs},{title}\n{url}\n".encode())[0]


@pytest.mark.parametrize(
    ("title", "season", "episode", "show"),
    [
        ("Breaking Bad S01E02", 1, 2, "Breaking Bad"),
        ("Breaking Bad S01 E02", 1, 2, "Breaking Bad"),
        ("Breaking Bad - s1e2 - Pilot", 1, 2, "Breaking Bad"),
        ("La Casa de Papel 1x02", 1, 2, "La Casa de Papel"),
        ("Dark T02E05", 2, 5, "Dark"),
        ("Sintonia Temporada 2 Episódio 5", 2, 5, "Sintonia"),
        ("Sintonia - Temporada 3, Ep. 10", 3, 10, "Sintonia"),
        ("Show Season 4 Episode 12", 4, 12, "Show"),
        ("Show S2 Ep 7", 2, 7, "Show"),
        ("S03E04", 3, 4, "S03E04"),
    ],
)
def test_episode_cues(title: str, season: int, episode: int, show: str) -> None:
    it = item(title)
    assert it["type"] == "series"
    assert it["series"] == {"title": show, "season": season, "episode": episode}


@pytest.mark.parametrize(
    "title", ["Globo SP FHD", "ESPN 2 HD", "Canal 1080x720", "Flamengo 2x1 Vasco", "BEST10E5"]
)
def test_no_false_episode_cues(title: str) -> None:
    assert item(title)["type"] == "live"


def test_xtream_paths_decide_first() -> None:
    assert item("Movie S01E02", "http://h:8080/movie/u/p/1.mp4", "Séries")["type"] == "movie"
    series = item("Any Name", "http://h:8080/series/u/p/2.mkv", "Filmes")
    assert series["type"] == "series" and series["series"] == {"title": "Any Name"}
    assert item("Show S01E02", "http://h:8080/live/u/p/3.ts", "Séries")["type"] == "live"


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("Filmes | Ação", "movie"),
        ("FILMES", "movie"),
        ("Movies 4K", "movie"),
        ("VOD", "movie"),
        ("Lançamentos 2024", "movie"),
        ("Séries | Netflix", "series"),
        ("SERIES", "series"),
        ("Novelas", "series"),
        ("TV Shows", "series"),
        ("Canais | Esportes", "live"),
        ("Serie A", "live"),
        ("News", "live"),
    ],
)
def test_group_cues(group: str, kind: str) -> None:
    assert item("Some Title", group=group)["type"] == kind


def test_title_episode_cue_beats_vod_group_but_not_series_group() -> None:
    assert item("Show S01E02", group="VOD")["type"] == "series"
    it = item("Show Without Numbers", group="Séries | HBO")
    assert it["type"] == "series" and it["series"] == {"title": "Show Without Numbers"}
    assert "series" not in item("Movie", group="Filmes")


def test_classify_and_series_info_functions() -> None:
    assert classify("http://h/series/1.mp4", None, "X S01E01")[0] == "series"
    assert classify("http://h/1.ts", None, "Channel")[0:2] == ("live", None)
    assert series_info("Nome - T01E09") == {"title": "Nome", "season": 1, "episode": 9}
