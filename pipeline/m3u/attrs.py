"""``#EXTINF`` and ``#EXTM3U`` attribute parsing.

Two tiers (the exact Xtream ``m3u_plus`` shape has its own in ``entry``): any
line whose attributes are all double-quoted, and a tolerant scanner for
everything else (single quotes, unquoted values, junk tokens, unterminated
quotes).
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.m3u.stats import Item

# Any duration followed only by double-quoted attributes, then the title comma.
SIMPLE = re.compile(
    r'#EXTINF:\s*(-?\d+(?:\.\d+)?)(?=[\s,])((?:\s*[^\s=,"\']+="[^"]*")*)\s*,(.*)', re.S
)
DQ_PAIR = re.compile(r'([^\s=,"\']+)="([^"]*)"')
ATTR = re.compile(r"""([^\s=,"']+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s,"']*))""")
DURATION = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))(?![^\s,])")
_WS = re.compile(r"\s+")

# Known attribute (lower-cased) -> (section, key). Section "group" is the item's group.
KNOWN: dict[str, tuple[str, str]] = {
    "tvg-id": ("tvg", "id"),
    "tvg-name": ("tvg", "name"),
    "tvg-logo": ("tvg", "logo"),
    "tvg-chno": ("tvg", "chno"),
    "tvg-language": ("tvg", "language"),
    "tvg-country": ("tvg", "country"),
    "tvg-url": ("tvg", "url"),
    "tvg-rec": ("tvg", "rec"),
    "tvg-shift": ("tvg", "shift"),
    "group-title": ("group", ""),
    "catchup": ("catchup", "type"),
    "catchup-type": ("catchup", "type"),
    "catchup-days": ("catchup", "days"),
    "catchup-source": ("catchup", "source"),
    "timeshift": ("catchup", "timeshift"),
    "user-agent": ("http", "user_agent"),
    "http-user-agent": ("http", "user_agent"),
    "http-referrer": ("http", "referrer"),
    "http-referer": ("http", "referrer"),
    "referrer": ("http", "referrer"),
}

_DURATIONS: dict[str, int | float] = {"-1": -1, "0": 0}


def parse_duration(text: str) -> int | float | None:
    """``-1``, ``0``, ``3600`` or ``12.5`` as a number; None when it is not one."""
    cached = _DURATIONS.get(text)
    if cached is not None:
        return cached
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def scan_attrs(text: str, pos: int = 0) -> tuple[dict[str, str], int, bool]:
    """Attributes from ``text[pos:]`` up to the title comma.

    Returns ``(attrs, title_start, found_comma)``: attrs keep their names as
    written and the first of duplicates; ``title_start`` is where the title
    begins (after the comma), or where the leftover text begins when there is
    no comma.
    """
    attrs: dict[str, str] = {}
    n = len(text)
    while pos < n:
        ws = _WS.match(text, pos)
        if ws is not None:
            pos = ws.end()
            continue
        if text[pos] == ",":
            return attrs, pos + 1, True
        m = ATTR.match(text, pos)
        if m is not None:
            name, dq, sq, bare = m.groups()
            value = dq if dq is not None else sq if sq is not None else bare
            if name not in attrs:
                attrs[name] = value
            pos = m.end()
            continue
        comma = text.find(",", pos)
        if comma < 0:
            return attrs, pos, False
        space = _WS.search(text, pos, comma)
        if space is None:
            return attrs, comma + 1, True
        pos = space.end()  # a junk token: skip it and go on
    return attrs, n, False


def split_extinf(line: str) -> tuple[int | float | None, dict[str, str], str]:
    """``(duration, attrs, title)`` of a normalised ``#EXTINF:`` line."""
    m = SIMPLE.match(line)
    if m is not None:
        dur, region, title = m.groups()
        pairs = DQ_PAIR.findall(region)
        attrs = dict(pairs)
        if len(attrs) != len(pairs):
            attrs = {}
            for name, value in pairs:
                attrs.setdefault(name, value)
        return parse_duration(dur), attrs, title
    body = line[8:]
    d = DURATION.match(body)
    duration = parse_duration(d.group(1)) if d is not None else None
    attrs, start, _ = scan_attrs(body, d.end() if d is not None else 0)
    return duration, attrs, body[start:]


def header_attrs(line: str) -> dict[str, str]:
    """Attributes of an ``#EXTM3U ...`` line, names as written, first wins."""
    attrs: dict[str, str] = {}
    pos = 7
    while True:
        found, pos, comma = scan_attrs(line, pos)
        for name, value in found.items():
            attrs.setdefault(name, value)
        if not comma:
            return attrs


def map_known(attrs: dict[str, str], item: Item) -> tuple[dict[str, str], dict[str, str]]:
    """Copy known, non-empty attributes into ``item`` sections.

    Sets ``item["group"]`` and returns ``(tvg, http)``; ``catchup`` fields go
    straight into ``item["catchup"]``. Names match case-insensitively; the
    first non-empty value wins.
    """
    tvg: dict[str, str] = {}
    http: dict[str, str] = {}
    catchup: dict[str, Any] = {}
    sections = {"tvg": tvg, "http": http, "catchup": catchup}
    for name, value in attrs.items():
        if not value:
            continue
        known = KNOWN.get(name) or KNOWN.get(name.lower())
        if known is None:
            continue
        section, key = known
        if section == "group":
            item.setdefault("group", value)
            continue
        target = sections[section]
        if key not in target:
            target[key] = value
    if catchup:
        item["catchup"] = catchup
    return tvg, http
