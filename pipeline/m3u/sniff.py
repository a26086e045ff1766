"""Tell a playlist from an HTML error page, JSON or binary within the first bytes,
and decode lines that are not valid UTF-8."""

from __future__ import annotations

import re

from pipeline.errors import NotAPlaylist

SNIFF_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"
_URLISH = re.compile(rb"(?:[A-Za-z][A-Za-z0-9+.\-]*://|/|\\\\|[A-Za-z]:\\)\S")
_MEDIA = re.compile(rb"\S+\.(?:m3u8?|ts|mp4|mkv|avi|mp3|aac|flv|mpd|mov|webm)(?:[?#]\S*)?", re.I)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MAGIC = {
    b"\x1f\x8b": "gzip-compressed data",
    b"PK\x03\x04": "a ZIP archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xff\xfe": "UTF-16 text (only UTF-8 and Latin-1 playlists are read)",
    b"\xfe\xff": "UTF-16 text (only UTF-8 and Latin-1 playlists are read)",
}


def _preview(data: bytes | bytearray) -> str:
    return repr(data[:60].decode("utf-8", "replace"))


def _refuse(what: str, data: bytes | bytearray) -> NotAPlaylist:
    return NotAPlaylist(f"not a playlist: {what}, starts with {_preview(data)}", seen=what)


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data or len(_CONTROL.findall(data)) * 32 > len(data)


def _judge(line: bytes) -> bool:
    """True for a playlist line; False for a comment; raises for anything else."""
    head = line[:7].upper()
    if head in (b"#EXTM3U", b"#EXTINF"):
        return True
    if _is_binary(line[:SNIFF_BYTES]):
        raise _refuse("binary data", line)
    if line[:1] == b"#":
        return False
    first = line[:1]
    if first == b"<":
        kind = "an HTML page" if b"html" in line[:1024].lower() else "XML or HTML"
        raise _refuse(kind, line)
    if first in (b"{", b"["):
        raise _refuse("JSON", line)
    if _URLISH.match(line) or _MEDIA.fullmatch(line):
        return True
    raise _refuse("text that is neither #EXTM3U, #EXTINF nor a URL", line)


def first_end(data: bytes) -> int:
    """Offset of the first CR or LF of ``data`` (-1: none)."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    return lf if cr < 0 else cr if lf < 0 else min(lf, cr)


def _next_end(data: bytes | bytearray, pos: int, stop: int) -> int:
    lf, cr = data.find(b"\n", pos, stop), data.find(b"\r", pos, stop)
    return lf if cr < 0 else cr if lf < 0 else min(lf, cr)


class Sniffer:
    """Decide whether the start of a body is a playlist, from its first bytes.

    ``check`` is called with the body so far (BOM removed) and resumes where
    the previous call stopped, so feeding tiny chunks stays linear.
    """

    def __init__(self, limit: int = SNIFF_BYTES) -> None:
        self.limit = limit
        self._pos = 0

    def check(self, data: bytes | bytearray, final: bool) -> bool:
        """True once the first meaningful line says "playlist"; False when more
        bytes are needed; raises ``NotAPlaylist`` (saying what was seen) for an
        empty body, HTML, JSON, binary or plain text, or when the first
        ``limit`` bytes hold nothing but comments.
        """
        for magic, what in _MAGIC.items():
            if data.startswith(magic):
                raise _refuse(what, data)
        more = not final and len(data) < self.limit
        pos, n = self._pos, min(len(data), self.limit)
        while pos < n:
            end = _next_end(data, pos, n)
            if end < 0:
                if more:
                    return False
                end = n
            line = bytes(data[pos:end]).strip()
            pos = self._pos = end + 1
            if line and _judge(line):
                return True
        if more:
            return False
        if not data.strip():
            raise NotAPlaylist(
                "not a playlist: empty body"
                if not data
                else f"not a playlist: blank body ({len(data)} bytes of whitespace)",
                seen="empty",
            )
        raise _refuse(f"no #EXTM3U, #EXTINF or URL line in the first {n} bytes", data)


def decode_line(raw: bytes) -> str:
    """UTF-8, else the valid UTF-8 parts with U+FFFD, else Windows-1252/Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    loose = raw.decode("utf-8", "replace")
    if any(c > "\x7f" and c != "\ufffd" for c in loose):
        return loose
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
