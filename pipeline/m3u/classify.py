"""Item type (``live`` / ``movie`` / ``series``) and series numbering.

Xtream paths decide first (``/movie/``, ``/series/``, ``/live/``), then group
cues for series, then episode cues in the title (``S01E02``, ``S01 E02``,
``1x02``, ``T02E05``, ``Temporada 2 Episódio 5``), then group cues for movies
(``Filmes``, ``Movies``, ``VOD``, ...); anything else is live.
"""

from __future__ import annotations

import re
from typing import Any

# S01E02, S01 E02, s1e2, T02E05, S01 Ep. 2 (the look-behind wants no letter or digit before).
EP_SE = re.compile(r"[STst](?<![^\W_][STst])(\d{1,3})[\s._-]?[EeÉé][Pp]?\.?\s?(\d{1,4})(?!\d)")
EP_X = re.compile(r"(?<![^\W_])(\d{1,2})[xX](\d{2,3})(?!\d)")
EP_WORDS = re.compile(
    r"(?<![^\W_])(?:temporada|season|temp\.?|saison|staffel)\s*(\d{1,3})[\s,.:|-]*"
    r"(?:epis[oó]dio|[ée]pisode|episodio|ep\.?|cap[ií]tulo|cap\.?|folge)\s*(\d{1,4})(?!\d)",
    re.I,
)
SERIES_GROUP = re.compile(
    r"s[ée]ries?\b(?! ?[ab]\b)|seriados?|novelas?|tv[ ._-]?shows?|temporadas?|doramas?|\bseason",
    re.I,
)
MOVIE_GROUP = re.compile(
    r"filmes?|movies?|\bvod\b|cinema|\bfilms?\b|pel[ií]culas?|lan[çc]amentos?|\bkino\b", re.I
)
_TRIM = " \t-–—_:|.([{#,"
_TAIL = 16
_DIGIT = re.compile(r"\d")
_GROUP_KINDS: dict[str, str] = {}
_GROUP_CACHE_MAX = 4096


def find_episode(name: str) -> re.Match[str] | None:
    """The episode cue of a title (groups 1 and 2: season, episode).

    A ``S01E02``-style cue in the last 16 characters wins (checked first: it is
    where nearly every title has it), else the first cue anywhere.
    """
    tail = len(name) - _TAIL
    if tail > 0:
        m = EP_SE.search(name, tail)
        if m is not None:
            return m
    return EP_SE.search(name) or EP_X.search(name) or EP_WORDS.search(name)


_NUMBERS = {f"{n:0{width}d}": n for n in range(100) for width in (1, 2, 3)}


def series_parts(name: str, m: re.Match[str] | None = None) -> tuple[str, int, int] | None:
    """``(title, season, episode)`` of a series title; None when it has no cue.

    A ``S01E02``-style cue in the last 16 characters wins (where nearly every
    title has it), else the first cue anywhere.
    """
    if m is None:
        tail = len(name) - _TAIL
        m = EP_SE.search(name, tail) if tail > 0 else None
        if m is None:
            m = EP_SE.search(name) or EP_X.search(name) or EP_WORDS.search(name)
            if m is None:
                return None
    start = m.start()
    season, episode = m.groups()
    return (
        (name[:start].strip(_TRIM) or name) if start else name,
        _NUMBERS[season] if season in _NUMBERS else int(season),
        _NUMBERS[episode] if episode in _NUMBERS else int(episode),
    )


def series_info(name: str, m: re.Match[str] | None = None) -> dict[str, Any]:
    """``{"title", "season", "episode"}`` of a series title (numbers when found)."""
    parts = series_parts(name, m)
    if parts is None:
        return {"title": name}
    title, season, episode = parts
    return {"title": title, "season": season, "episode": episode}


def group_kind(group: str) -> str:
    """``"series"``, ``"movie"`` or ``""`` from group cues (cached: groups repeat)."""
    kind = _GROUP_KINDS.get(group)
    if kind is None:
        kind = (
            "series" if SERIES_GROUP.search(group) else "movie" if MOVIE_GROUP.search(group) else ""
        )
        if len(_GROUP_KINDS) >= _GROUP_CACHE_MAX:
            _GROUP_KINDS.clear()
        _GROUP_KINDS[group] = kind
    return kind


def classify(url: str, group: str | None, name: str) -> tuple[str, dict[str, Any] | None]:
    """``(type, series)`` of one entry; ``series`` is None unless the type is series."""
    if "/series/" in url:
        return "series", series_info(name)
    if "/movie/" in url:
        return "movie", None
    if "/live/" in url:
        return "live", None
    kind = group_kind(group) if group else ""
    if kind == "series":
        return "series", series_info(name)
    m = find_episode(name) if _DIGIT.search(name) else None  # every cue has a digit
    if m is not None:
        return "series", series_info(name, m)
    if kind == "movie":
        return "movie", None
    return "live", None
