"""Turn one ``#EXTINF`` line (or none), its directives and its URL line into an item."""

from __future__ import annotations

from pipeline.m3u.attrs import map_known, split_extinf
from pipeline.m3u.classify import classify, series_info
from pipeline.m3u.options import Extra, name_from_url, split_pipe
from pipeline.m3u.stats import Item

# The Xtream m3u_plus shape split on '"': fixed pieces at even indexes.
X0, X2, X4, X6 = "#EXTINF:-1 tvg-id=", " tvg-name=", " tvg-logo=", " group-title="


def _tvg(tid: str, tname: str, tlogo: str) -> dict[str, str]:
    if tid:
        tvg = {"id": tid, "name": tname, "logo": tlogo}
        return tvg if tname and tlogo else {key: value for key, value in tvg.items() if value}
    if tname and tlogo:
        return {"name": tname, "logo": tlogo}
    return {"name": tname} if tname else {"logo": tlogo} if tlogo else {}


def fast_item(extinf: str, url: str) -> Item | None:
    """The item of an exact Xtream-shape ``#EXTINF`` line with no directives.

    None when the line is not in that shape (``build_item`` then does the
    general parse, which gives the same result for lines in that shape).
    """
    parts = extinf.split('"')
    if len(parts) != 9:
        return None
    x0, tid, x2, tname, x4, tlogo, x6, group, title = parts
    if x0 != X0 or x2 != X2 or x4 != X4 or x6 != X6 or title[:1] != "," or "|" in url:
        return None
    name = title[1:].strip() or tname or name_from_url(url)
    tvg = _tvg(tid, tname, tlogo)
    attrs = {"tvg-id": tid, "tvg-name": tname, "tvg-logo": tlogo, "group-title": group}
    if "/series/" in url:  # same order as classify()
        kind, series = "series", series_info(name)
    elif "/movie/" in url:
        kind, series = "movie", None
    else:
        kind, series = classify(url, group or None, name)
    if group and tvg:
        if series is None:
            return {"name": name, "url": url, "type": kind, "group": group, "duration": -1,
                    "tvg": tvg, "attrs": attrs}  # fmt: skip
        return {"name": name, "url": url, "type": kind, "group": group, "duration": -1,
                "tvg": tvg, "series": series, "attrs": attrs}  # fmt: skip
    item: Item = {"name": name, "url": url, "type": kind}
    if group:
        item["group"] = group
    item["duration"] = -1
    if tvg:
        item["tvg"] = tvg
    if series is not None:
        item["series"] = series
    item["attrs"] = attrs
    return item


def build_item(extinf: str | None, url: str, extra: Extra | None) -> Item:
    """The item for a URL line, its ``#EXTINF`` line (normalised) and directives."""
    if extinf is not None and extra is None:
        item = fast_item(extinf, url)
        if item is not None:
            return item
    return build_general(extinf, url, extra)


def build_general(extinf: str | None, url: str, extra: Extra | None) -> Item:
    """The general case of ``build_item`` (any ``#EXTINF`` shape, directives)."""
    head: Item = {}
    http: dict[str, str] = {}
    tvg: dict[str, str] = {}
    attrs: dict[str, str] = {}
    duration: int | float | None = None
    title = ""
    if extinf is not None:
        duration, attrs, title = split_extinf(extinf)
        tvg, http = map_known(attrs, head)
        title = title.strip()
    if "|" in url:
        url, pipe = split_pipe(url)
        _merge(http, pipe)
        if not url:
            raise ValueError("URL line with only a |header suffix")
    group = head.get("group")
    if extra is not None:
        _merge(http, extra.http)
        if group is None and extra.group:
            group = extra.group
    name = title or tvg.get("name") or name_from_url(url)
    kind, series = classify(url, group, name)
    item: Item = {"name": name, "url": url, "type": kind}
    optional: tuple[tuple[str, object], ...] = (
        ("group", group),
        ("duration", duration),
        ("tvg", tvg),
        ("series", series),
        ("http", http),
        ("catchup", head.get("catchup")),
        ("kodiprops", extra.kodiprops if extra is not None else None),
        ("vlcopt", extra.vlcopt if extra is not None else None),
        ("attrs", attrs),
    )
    for key, value in optional:
        if value is not None and value != {}:
            item[key] = value
    return item


def _merge(target: dict[str, str], more: dict[str, str]) -> None:
    for key, value in more.items():
        target.setdefault(key, value)
