"""Where a playlist can be cut into blocks that parse on their own.

A block ends right after a URL line: there the parser holds no state (no
pending ``#EXTINF``, no directives, no partial line), so each block parses on
its own (``parallel.py``). ``split_blocks`` re-cuts a byte stream;
``block_ranges`` finds the same cuts in a regular file as byte offsets,
reading only a few KB before each boundary, so the body is read once, by the
process that parses it (``pread_exact``, ``block_pieces``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from pipeline.m3u.limits import CHUNK_BYTES
from pipeline.m3u.options import is_location
from pipeline.m3u.sniff import BOM, decode_line, first_end

BLOCK_BYTES = 256 * 1024
_FORCE_CUT = 16  # blocks without any URL line are cut anyway past this many BLOCK_BYTES
_FORCE_MIN = 16 << 20  # and past at least this many bytes
_TAIL = 4096  # first look-behind of block_ranges; an m3u_plus entry is ~300 bytes

Read = Callable[[int, int], bytes]
"""``read(start, end)``: the bytes of the input between two offsets."""
Task = bytes | tuple[int, int]
"""A block: its bytes, or its ``(start, end)`` offsets in a regular file."""


def _is_url_line(raw: bytes) -> bool:
    """A line after which the parser holds no state, judged as ``M3UParser`` does:
    not a directive, and a URI or path (any other line ends an entry only when
    an ``#EXTINF`` is pending, which cannot be known here)."""
    line = decode_line(raw)
    if line and (line[0] <= " " or line[-1] <= " "):
        line = line.strip()
    return bool(line) and line[0] != "#" and is_location(line)


def _last_end(buf: bytes | bytearray, lo: int, hi: int, has_cr: bool) -> int:
    lf = buf.rfind(b"\n", lo, hi)
    return max(lf, buf.rfind(b"\r", lo, hi)) if has_cr else lf


def find_cut(buf: bytes | bytearray, start: int = 0) -> int:
    """Offset just after the last complete URL line of ``buf`` (0: none).

    ``start`` must be a line start; lines before it are not looked at.
    """
    has_cr = b"\r" in buf
    stop = _last_end(buf, start, len(buf), has_cr)
    while stop >= 0:
        prev = _last_end(buf, start, stop, has_cr)
        if _is_url_line(bytes(buf[prev + 1 if prev >= 0 else start : stop])):
            return stop + 1
        stop = prev
    return 0


def _force_bytes(block_bytes: int) -> int:
    return max(_FORCE_CUT * block_bytes, _FORCE_MIN)


def split_blocks(chunks: Iterable[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Re-cut a byte stream into blocks that each end right after a URL line.

    Input with no URL line for ``max(16 * block_bytes, 16 MiB)`` bytes is cut at
    a line end anyway (only such input can parse differently from one parser).
    """
    force = _force_bytes(block_bytes)
    buf = bytearray()
    scanned = 0  # a line start; no URL line ends before it
    first = True  # a BOM at the start of the body is not part of its first line
    for chunk in chunks:
        buf += chunk
        if len(buf) < block_bytes:
            continue
        if first and buf.startswith(BOM):
            scanned = max(scanned, len(BOM))
        cut = find_cut(buf, scanned)
        if cut == 0 and len(buf) > force:
            cut = _last_end(buf, 0, len(buf), True) + 1
        if cut:
            yield bytes(buf[:cut])
            del buf[:cut]
            scanned, first = 0, False
        else:
            scanned = _last_end(buf, scanned, len(buf), True) + 1 or scanned
    if buf:
        yield bytes(buf)


def _cut_before(read: Read, lo: int, hi: int) -> int:
    """``find_cut`` of the bytes ``lo:hi`` (``lo`` a line start) as an absolute
    offset, or -1, reading a growing tail: a line that ends after the tail's
    first line end lies wholly in the tail, so the last URL line found there
    is the last one of the range."""
    size = _TAIL
    while True:
        start = max(lo, hi - size)
        tail = read(start, hi)
        known = 0 if start == lo else first_end(tail) + 1  # 0: no line end yet
        cut = find_cut(tail, known) if start == lo or known else 0
        if cut:
            return start + cut
        if start == lo:
            return -1
        size *= 4


def _end_before(read: Read, lo: int, hi: int) -> int:
    """Offset of the last CR or LF in ``lo:hi`` (-1: none), read backwards."""
    size = _TAIL
    while hi > lo:
        start = max(lo, hi - size)
        end = _last_end(read(start, hi), 0, hi - start, True)
        if end >= 0:
            return start + end
        hi, size = start, size * 4
    return -1


def block_ranges(
    read: Read,
    size: int,
    start: int = 0,
    block_bytes: int = BLOCK_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` offsets of the blocks ``split_blocks`` makes of the
    bytes ``start:size`` read in chunks of ``chunk_bytes`` (as ``read_chunks``
    reads a regular file), found by reading a few KB before each boundary."""
    force = _force_bytes(block_bytes)
    prev = scanned = start  # block start; a line start before which no URL line ends
    first = True
    end = start
    while end < size:
        # The next chunk end at least block_bytes past the block start (or the end).
        need = max(end + chunk_bytes, prev + block_bytes) - start
        end = min(size, start + -(-need // chunk_bytes) * chunk_bytes)
        if end - prev < block_bytes:
            continue
        if first and read(prev, min(prev + len(BOM), end)) == BOM:
            scanned = max(scanned, prev + len(BOM))
        cut = _cut_before(read, scanned, end)
        if cut < 0 and end - prev > force:
            cut = _end_before(read, prev, end) + 1 or -1
        if cut > 0:
            yield prev, cut
            prev = scanned = cut
            first = False
        else:
            scanned = _end_before(read, scanned, end) + 1 or scanned
    if prev < size:
        yield prev, size


def pread_exact(fd: int, start: int, end: int) -> bytes:
    """The bytes ``start:end`` of the file ``fd``; OSError if it has shrunk."""
    data = os.pread(fd, end - start, start)
    while len(data) < end - start:
        more = os.pread(fd, end - start - len(data), start + len(data))
        if not more:
            raise OSError(f"the file shrank while being read (ends before byte {end})")
        data += more
    return data


def block_pieces(task: Task, read: Read | None) -> Iterator[bytes]:
    """A block (its bytes, or its range read with ``read``) in pieces of
    ``CHUNK_BYTES``: parsing a whole block at once peaks at several MB of lines
    and strings (parsed in pieces, the same items)."""
    if isinstance(task, bytes):
        for start in range(0, len(task), CHUNK_BYTES):
            yield task[start : start + CHUNK_BYTES]
        return
    assert read is not None  # byte ranges come with their reader
    start, end = task
    for at in range(start, end, CHUNK_BYTES):
        yield read(at, min(at + CHUNK_BYTES, end))
