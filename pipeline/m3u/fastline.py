"""NDJSON lines written straight from entry text, for the parser's NDJSON mode.

Building an item dict and then serialising it costs most of a parse. For the
exact Xtream ``m3u_plus`` shape (``entry.fast_item``) every JSON string value
is a slice of the block's text, so when the block holds no ``\\`` and no
control character (and the URL no ``"``: the ``#EXTINF`` fields cannot hold
one), those slices need no escaping and the line is one f-string. Its bytes
equal ``orjson.dumps(fast_item(...))`` (tests/unit/test_m3u_ndjson_mode.py
holds the two paths equal); every other entry goes through the item dict and
orjson.
"""

from __future__ import annotations

import re

import orjson

from pipeline.m3u.classify import classify, series_parts
from pipeline.m3u.entry import X0, X2, X4, X6
from pipeline.m3u.stats import TYPES, Item, ParseStats

# Bytes other than those JSON escapes in a string ('"' is checked per field; CR and LF
# end lines). `block.translate(None, SAFE_BYTES)` is empty for a block with none: one
# C pass, ~10x faster than a regex search.
_ESCAPED = {*range(0x20), 0x5C} - {0x0A, 0x0D}
SAFE_BYTES = bytes(b for b in range(256) if b not in _ESCAPED)
_ESCAPED_TEXT = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\\]")


def needs_escapes(block: bytes, pending: str | None) -> bool:
    """Whether a block's lines (and the ``#EXTINF`` line pending from an earlier
    block) hold a character JSON escapes, other than '"'."""
    if block.translate(None, SAFE_BYTES):
        return True
    return pending is not None and _ESCAPED_TEXT.search(pending) is not None


def _tvg(tid: str, tname: str, tlogo: str) -> str:
    """The ``"tvg"`` member of ``entry._tvg`` (its non-empty fields, in its order)."""
    if not tid and tname and tlogo:  # the common case first
        return f',"tvg":{{"name":"{tname}","logo":"{tlogo}"}}'
    fields = [f'"{key}":"{value}"' for key, value in (("id", tid), ("name", tname),
              ("logo", tlogo)) if value]  # fmt: skip
    return f',"tvg":{{{",".join(fields)}}}' if fields else ""


# Ends each catalogue field: JSON escapes it, so a fast-path field never holds it.
FIELD_END = "\x00"
# The catalogue's one-letter type codes (pipeline.catalogue.layout.TYPE_CODES; "o": other).
TYPE_CODES = {"live": "l", "movie": "m", "series": "s"}


def item_fields(item: Item) -> str:
    """An item's catalogue fields: group, name, url and type code, each ending in
    FIELD_END; all four empty when one holds FIELD_END (the catalogue writer
    then decodes the item's line)."""
    group, name, code = item.get("group") or "", item.get("name") or "", \
        TYPE_CODES.get(item["type"], "o")  # fmt: skip
    text = f"{group}\0{name}\0{item['url']}\0{code}\0"
    return text if text.count(FIELD_END) == 4 else "\0\0\0\0"


class LineWriter:
    """Formats entries as NDJSON lines and counts their types and groups.

    With ``fields``, it also keeps each line's catalogue fields for
    ``take_fields`` (what the catalogue writer needs of an item, so it does not
    parse the line again: docs/catalogue.md, "In the parse run").
    """

    __slots__ = ("fields", "groups", "kinds")

    def __init__(self, fields: bool = False) -> None:
        self.kinds = dict.fromkeys(TYPES, 0)
        self.groups: set[str] = set()
        self.fields: list[str] | None = [] if fields else None

    def fast(self, extinf: str, url: str) -> str | None:
        """The line of an Xtream-shape entry with no directives, or None."""
        parts = extinf.split('"')
        if len(parts) != 9:
            return None
        x0, tid, x2, tname, x4, tlogo, x6, group, title = parts
        if x0 != X0 or x2 != X2 or x4 != X4 or x6 != X6 or title[:1] != "," or "|" in url:
            return None
        name = title[1:].strip() or tname
        if not name or '"' in url:  # a name from the URL may hold anything
            return None
        if "/series/" in url:  # same order as classify()
            kind, series = "series", self._series(name)
        elif "/movie/" in url:
            kind, series = "movie", ""
        else:
            kind, info = classify(url, group or None, name)
            series = "" if info is None else self._series(name)
        self.kinds[kind] += 1
        if tid or not tname or not tlogo:
            tvg = _tvg(tid, tname, tlogo)
        else:  # the common case, without a call
            tvg = f',"tvg":{{"name":"{tname}","logo":"{tlogo}"}}'
        if group:
            self.groups.add(group)
            group_part = f',"group":"{group}"'
        else:
            group_part = ""
        if self.fields is not None:  # no escapes in this block: no FIELD_END either
            self.fields.append(f"{group}\0{name}\0{url}\0{TYPE_CODES[kind]}\0")
        return (
            f'{{"name":"{name}","url":"{url}","type":"{kind}"{group_part},"duration":-1{tvg}'
            f'{series},"attrs":{{"tvg-id":"{tid}","tvg-name":"{tname}","tvg-logo":"{tlogo}",'
            f'"group-title":"{group}"}}}}\n'
        )

    @staticmethod
    def _series(name: str) -> str:
        parts = series_parts(name)
        if parts is None:
            return f',"series":{{"title":"{name}"}}'
        title, season, episode = parts
        return f',"series":{{"title":"{title}","season":{season},"episode":{episode}}}'

    def item(self, item: Item) -> str:
        """The line of an item built the general way."""
        self.kinds[item["type"]] += 1
        group = item.get("group")
        if group is not None:
            self.groups.add(group)
        line = orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE).decode()
        if self.fields is not None:
            self.fields.append(item_fields(item))
        return line

    def take_fields(self) -> bytes:
        """The catalogue fields of the lines made since the last call, in line order:
        group, name, url and type code of each, every field followed by FIELD_END
        (UTF-8)."""
        if not self.fields:
            return b""
        data = "".join(self.fields).encode()
        self.fields.clear()
        return data

    def flush(self, stats: ParseStats) -> None:
        """Add the counts so far to ``stats`` and start over."""
        counts = stats.counts
        for kind, count in self.kinds.items():
            counts[kind] += count
            self.kinds[kind] = 0
        stats.group_names |= self.groups
        self.groups.clear()


def never(extinf: str, url: str) -> None:
    """The fast path of a block that needs JSON escaping: none."""
    return None
