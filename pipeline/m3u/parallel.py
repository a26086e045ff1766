"""Playlist bytes to (gzip) NDJSON on several processes, same items as one parser.

The input is cut into blocks right after a URL line: there the parser holds
no state (no pending ``#EXTINF``, no directives, no partial line), so each
block parses on its own. Each worker returns one gzip member; members are
written in input order (concatenated members are one valid gzip stream).
At most ``2 * jobs`` blocks are in flight, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO

from pipeline.m3u.ndjson import GzipNDJSONEncoder, encode_batch
from pipeline.m3u.options import is_location
from pipeline.m3u.parser import MAX_LINE_BYTES, M3UParser
from pipeline.m3u.sniff import BOM, decode_line
from pipeline.m3u.stats import ParseStats

BLOCK_BYTES = 256 * 1024
FEED_BYTES = 64 * 1024
_FORCE_CUT = 16  # blocks without any URL line are cut anyway past this many BLOCK_BYTES


@dataclass
class ParallelResult:
    """Counters and header of a parallel parse, and the peak RSS of each process."""

    stats: ParseStats = field(default_factory=ParseStats)
    header: dict[str, str] = field(default_factory=dict)
    rss_kb: dict[str, int] = field(default_factory=dict)

    def merge(self, stats: ParseStats, header: dict[str, str]) -> None:
        """Add one block's counters and header (first value of a name wins)."""
        total = self.stats
        for name in ("items", "skipped_lines", "dropped_entries", "bad_entries", "long_lines"):
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.bytes += stats.bytes
        for kind, count in stats.counts.items():
            total.counts[kind] = total.counts.get(kind, 0) + count
        total.group_names |= stats.group_names
        for name, value in header.items():
            self.header.setdefault(name, value)


def _work(
    block: bytes, first: bool, level: int | None, max_line_bytes: int
) -> tuple[bytes, ParseStats, dict[str, str], tuple[str, int]]:
    """Parse one block (in a worker): output bytes, stats, header, (worker, rss)."""
    parser = M3UParser(max_line_bytes, sniff=first)
    encoder = GzipNDJSONEncoder(level) if level is not None else None
    out = []
    for start in range(0, len(block), FEED_BYTES):
        items = parser.feed(block[start : start + FEED_BYTES])
        out.append(encoder.encode(items) if encoder else encode_batch(items))
    tail = parser.close()
    out.append(encoder.encode(tail) + encoder.finish() if encoder else encode_batch(tail))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return b"".join(out), parser.stats, parser.header, (multiprocessing.current_process().name, rss)


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


def split_blocks(chunks: Iterable[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Re-cut a byte stream into blocks that each end right after a URL line.

    Input with no URL line for ``max(16 * block_bytes, 16 MiB)`` bytes is cut at
    a line end anyway (only such input can parse differently from one parser).
    """
    force = max(_FORCE_CUT * block_bytes, 16 << 20)
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


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def write_ndjson_parallel(
    chunks: Iterable[bytes],
    out: IO[bytes],
    jobs: int = 2,
    level: int | None = 1,
    max_line_bytes: int = MAX_LINE_BYTES,
    block_bytes: int = BLOCK_BYTES,
) -> ParallelResult:
    """Parse playlist bytes on ``jobs`` processes; write NDJSON to ``out``.

    Gzip NDJSON at ``level`` (one gzip member per block), plain NDJSON when
    ``level`` is None. Raises ``NotAPlaylist`` (before writing anything) like
    ``M3UParser``.
    """
    result = ParallelResult()
    window: deque[Future[tuple[bytes, ParseStats, dict[str, str], tuple[str, int]]]] = deque()

    def collect() -> None:
        data, stats, header, (worker, rss) = window.popleft().result()
        out.write(data)
        result.merge(stats, header)
        result.rss_kb[worker] = max(result.rss_kb.get(worker, 0), rss)

    with ProcessPoolExecutor(max(1, jobs), mp_context=_context()) as pool:
        try:
            for index, block in enumerate(split_blocks(chunks, block_bytes)):
                window.append(pool.submit(_work, block, index == 0, level, max_line_bytes))
                while len(window) >= 2 * jobs or (index == 0 and window):
                    collect()  # the first block alone: a non-playlist stops everything
            while window:
                collect()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    if result.stats.bytes == 0:  # empty input: let the parser say so
        M3UParser().close()
    result.rss_kb["main"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result
