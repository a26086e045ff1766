"""Per-entry directives (``#EXTGRP``, ``#EXTVLCOPT``, ``#KODIPROP``,
``#EXTHTTP``), Kodi ``url|Header=value`` suffixes and names taken from URLs."""

from __future__ import annotations

import re
from urllib.parse import unquote

import orjson

_HTTP_ALIASES = {
    "referer": "referrer",
    "http_referrer": "referrer",
    "http_referer": "referrer",
    "http_user_agent": "user_agent",
    "useragent": "user_agent",
}
_VLC_HTTP = {
    "http-user-agent": "user_agent",
    "http-referrer": "referrer",
    "http-referer": "referrer",
    "http-origin": "origin",
    "http-cookie": "cookie",
}
_MEDIA_EXT_MAX = 5
# A scheme, `//` or `/`, `./` or `../`, a UNC or Windows path, or a file name with an
# extension and no spaces (then an optional query or fragment).
_LOCATION = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:\S|[/\\]|\.\.?[/\\]|\S*\.[A-Za-z0-9]{1,5}(?:[?#]\S*)?$"
)


def unquote_value(value: str) -> str:
    """A value without the one pair of matching quotes around it (players read
    ``http-user-agent="Mozilla/5.0 (X)"`` as the bare string)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def http_key(name: str) -> str:
    """Header name as an ``http`` key: ``User-Agent`` -> ``user_agent``."""
    key = name.strip().lower().replace("-", "_")
    return _HTTP_ALIASES.get(key, key)


class Extra:
    """Directives collected for the next entry (first value of a key wins)."""

    __slots__ = ("group", "http", "kodiprops", "vlcopt")

    def __init__(self) -> None:
        self.group: str | None = None
        self.http: dict[str, str] = {}
        self.vlcopt: dict[str, str] = {}
        self.kodiprops: dict[str, str] = {}

    def apply(self, tag: str, value: str) -> bool:
        """Record one directive (tag upper-cased, value after the colon).

        Returns False when the directive is unknown or malformed.
        """
        if tag == "#EXTVLCOPT":
            return self._option(value, self.vlcopt, _VLC_HTTP)
        if tag == "#KODIPROP":
            return self._option(value, self.kodiprops, {})
        if tag == "#EXTGRP":
            value = value.strip()
            if value and self.group is None:
                self.group = value
            return bool(value)
        if tag == "#EXTHTTP":
            return self._exthttp(value)
        return False

    def _option(self, value: str, target: dict[str, str], http: dict[str, str]) -> bool:
        key, sep, val = value.partition("=")
        key = key.strip()
        if not sep or not key:
            return False
        val = unquote_value(val.strip())
        mapped = http.get(key.lower())
        if mapped is not None:
            self.http.setdefault(mapped, val)
        else:
            target.setdefault(key, val)
        return True

    def _exthttp(self, value: str) -> bool:
        try:
            headers = orjson.loads(value)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(headers, dict):
            return False
        for name, val in headers.items():
            if val is not None:
                text = unquote_value(val) if isinstance(val, str) else str(val)
                self.http.setdefault(http_key(name), text)
        return True


def split_pipe(url: str) -> tuple[str, dict[str, str]]:
    """Split a Kodi ``url|User-Agent=...&Referer=...`` into URL and headers.

    A ``|`` suffix with no ``name=value`` pair is left in the URL.
    """
    base, _, suffix = url.partition("|")
    headers: dict[str, str] = {}
    for part in suffix.split("&"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            headers.setdefault(http_key(name), unquote(value).strip())
    if not headers:
        return url, headers
    return base.strip(), headers


def is_location(line: str) -> bool:
    """Whether a line outside any entry looks like a URI or a path (then it is an item;
    a banner such as ``===== SPORTS =====`` or stray text is skipped and counted)."""
    return _LOCATION.match(line) is not None


def name_from_url(url: str) -> str:
    """A display name for an entry that has only a URL (last path segment)."""
    base = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    _, sep, rest = base.partition("://")
    if not sep:
        rest = base
    segment = rest.rsplit("/", 1)[-1] if "/" in rest else rest
    segment = unquote(segment).lstrip("@")
    stem, dot, ext = segment.rpartition(".")
    if dot and stem and len(ext) <= _MEDIA_EXT_MAX and ext.isalnum() and not ext.isdigit():
        segment = stem
    return segment or url
