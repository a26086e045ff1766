"""What each process of a parallel parse runs on one block (``parallel.py``):
parse it in the parser's NDJSON mode, and write it to the output itself when it
is the block due next. Worker state is set once per process by ``init_worker``."""

from __future__ import annotations

import functools
import os
import resource
from collections.abc import Iterable
from typing import Any

from pipeline.m3u.blocks import Task, block_pieces, pread_exact
from pipeline.m3u.ndjson import gzip_compressor
from pipeline.m3u.parser import M3UParser
from pipeline.m3u.stats import ParseStats

# Output bytes (None: the worker wrote them), stats, header, (process, peak RSS KB).
BlockOut = tuple[bytes | None, ParseStats, dict[str, str], tuple[str, int] | None]
_HEAP_HINT = 4 << 20  # see keep_freed_memory
# Set in each worker by init_worker: the shared turn (the index of the next block to
# write), the output fd and the input reader. Only the writer of block `turn` moves it on.
_SHARED: dict[str, Any] = {}


def shared_turn() -> memoryview:
    """One int64 in memory shared with forked workers (an anonymous shared map:
    no ``ctypes``, whose import alone costs each process ~0.4 MB of RSS)."""
    import mmap

    return memoryview(mmap.mmap(-1, 8)).cast("q")


def keep_freed_memory() -> None:
    """Let glibc keep the few MB each block's parse allocates and frees.

    Freeing an mmap'd block raises malloc's mmap and trim thresholds to its
    size and twice that (mallopt(3)); below them, a block's memory went back
    to the OS and was faulted in again by the next block: ~350 page faults a
    block, ~0.7 s of system time over 850k items. ``bytes(n)`` is calloc'd, so
    no page is touched (no RSS); elsewhere than glibc this is a no-op.
    """
    bytes(_HEAP_HINT)


def init_worker(turn: memoryview | None, fd: int | None, source: int | str | None) -> None:
    """Worker start: ``source`` is None (blocks are sent), the input file's
    descriptor (inherited through ``fork``) or its path (``spawn``)."""
    keep_freed_memory()
    src = os.open(source, os.O_RDONLY) if isinstance(source, str) else source
    read = None if src is None else functools.partial(pread_exact, src)
    _SHARED.update(turn=turn, fd=fd, read=read)


def encode_block(
    pieces: Iterable[bytes], first: bool, level: int | None, max_line_bytes: int
) -> tuple[bytes, M3UParser]:
    """One block's NDJSON (one gzip member when ``level`` is set) and its parser."""
    parser = M3UParser(max_line_bytes, sniff=first)
    feed = parser.feed_ndjson
    parts = [feed(piece) for piece in pieces]
    parts.append(parser.close_ndjson())
    if level is None:
        return b"".join(parts), parser
    comp = gzip_compressor(level)
    parts = [comp.compress(part) for part in parts]
    parts.append(comp.flush())
    return b"".join(parts), parser


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def parse_block(task: Task, index: int, level: int | None, max_line_bytes: int) -> BlockOut:
    """Parse one block in a worker (reading its range when given one).

    On its turn (every earlier block written) the worker writes its block and
    passes the turn on; otherwise it hands the bytes to the parent rather than
    wait, since waiting for a descheduled peer idles it on a busy machine.
    """
    pieces = block_pieces(task, _SHARED["read"])
    data, parser = encode_block(pieces, index == 0, level, max_line_bytes)
    turn, fd = _SHARED["turn"], _SHARED["fd"]
    out: bytes | None = data
    if fd is not None and turn[0] == index:
        _write_all(fd, data)
        turn[0] = index + 1
        out = None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out, parser.stats, parser.header, (f"worker-{os.getpid()}", rss)
