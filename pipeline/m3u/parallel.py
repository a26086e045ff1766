"""Playlist bytes to (gzip) NDJSON on several processes, same items as one parser.

The input is cut into blocks right after a URL line: there the parser holds
no state (no pending ``#EXTINF``, no directives, no partial line), so each
block parses on its own (in ``M3UParser``'s NDJSON mode). With gzip, each
block is one gzip member (concatenated members are one valid gzip stream).
When the output is an OS file (stdout, a file) and workers are forked, a
worker whose block is next in input order (a shared turn counter) writes it
to that file itself; a worker that is early hands its bytes back and the
parent writes them when their turn comes. Otherwise (a ``BytesIO``, no
``fork``) the parent writes every block.
At most ``2 * jobs`` blocks are in flight, so memory stays flat.
"""

from __future__ import annotations

import os
import resource
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pipeline.m3u.ndjson import gzip_compressor
from pipeline.m3u.options import is_location
from pipeline.m3u.parser import MAX_LINE_BYTES, M3UParser
from pipeline.m3u.sniff import BOM, decode_line
from pipeline.m3u.stats import ParseStats

if TYPE_CHECKING:
    from concurrent.futures import Future

BLOCK_BYTES = 256 * 1024
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


_Out = tuple[bytes, ParseStats, dict[str, str], tuple[str, int]]
# Set in each worker by _init: the shared turn (the index of the next block to write)
# and the output fd. Only the writer of block `turn` moves it on, so no lock is needed.
_SHARED: dict[str, Any] = {}


def _init(turn: Any, fd: int | None) -> None:
    _SHARED.update(turn=turn, fd=fd)


def _encode(block: bytes, first: bool, level: int | None, max_line_bytes: int) -> tuple:
    parser = M3UParser(max_line_bytes, sniff=first)
    data = parser.feed_ndjson(block) + parser.close_ndjson()
    if level is not None:
        comp = gzip_compressor(level)
        data = comp.compress(data) + comp.flush()
    return data, parser


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _work(block: bytes, index: int, level: int | None, max_line_bytes: int) -> _Out:
    """Parse one block (in a worker): output bytes (b"" once written), stats, header,
    (worker, peak RSS).

    On its turn (every earlier block written) the worker writes its block and
    passes the turn on; otherwise it hands the bytes to the parent rather than
    wait, since waiting for a descheduled peer idles it on a busy machine.
    """
    data, parser = _encode(block, index == 0, level, max_line_bytes)
    turn, fd = _SHARED["turn"], _SHARED["fd"]
    if fd is not None and turn.value == index:
        _write_all(fd, data)
        turn.value = index + 1
        data = b""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return data, parser.stats, parser.header, (f"worker-{os.getpid()}", rss)


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


def _direct_fd(out: Any, method: str) -> int | None:
    """The OS file descriptor forked workers can write to, or None."""
    if method != "fork":
        return None
    try:
        fd: int = out.fileno()
    except (AttributeError, OSError, ValueError):  # BytesIO, a test runner's stdout, a discard
        return None
    out.flush()
    return fd


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
    import multiprocessing  # here, not at import: `pipeline m3u` starts faster
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    fd = _direct_fd(out, method)
    result = ParallelResult()
    window: deque[Future[_Out]] = deque()

    def collect() -> None:
        data, stats, header, (worker, rss) = window.popleft().result()
        if data:  # earlier blocks are all written: this one is the parent's to write
            out.write(data)
            if fd is not None:
                out.flush()  # before the turn passes to workers writing to the fd
                turn.value += 1
        result.merge(stats, header)
        result.rss_kb[worker] = max(result.rss_kb.get(worker, 0), rss)

    turn = ctx.Value("q", 0, lock=False)
    with ProcessPoolExecutor(max(1, jobs), ctx, initializer=_init, initargs=(turn, fd)) as pool:
        try:
            for index, block in enumerate(split_blocks(chunks, block_bytes)):
                window.append(pool.submit(_work, block, index, level, max_line_bytes))
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
