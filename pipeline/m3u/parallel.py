"""Playlist bytes to (gzip) NDJSON on several processes, same items as one parser.

The input is cut into blocks right after URL lines (``blocks.py``), where the
parser holds no state, so each block parses on its own (in ``M3UParser``'s
NDJSON mode). With gzip, each block is one gzip member (concatenated members
are one valid gzip stream).

With ``jobs`` = J, J - 1 pool workers parse blocks and so does the parent:
whenever the workers have enough queued and the block due next is not done,
the parent parses the next block itself rather than wait. It parses block 0
before any worker starts, so a body that is not a playlist is refused before
anything is written. A regular file is not read by the parent beyond a few KB
at each block boundary: blocks are byte ranges and each process reads its own
(``os.pread``). A stream is read and cut by the parent, and blocks are sent.

Output is written in input order. When it is an OS file (stdout, a file) and
workers are forked, a worker whose block is next (a shared turn counter)
writes it to that file itself; an early worker hands its bytes back and the
parent writes them in turn. Otherwise (a ``BytesIO``, no ``fork``) the parent
writes every block. At most ``2 * jobs`` blocks are in flight or waiting for
their turn, so memory stays flat.
"""

from __future__ import annotations

import functools
import os
import resource
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pipeline.m3u.blocks import (
    BLOCK_BYTES,
    Read,
    Task,
    block_pieces,
    block_ranges,
    find_cut,
    pread_exact,
    split_blocks,
)
from pipeline.m3u.blockwork import (
    BlockOut,
    encode_block,
    init_worker,
    keep_freed_memory,
    parse_block,
    shared_turn,
)
from pipeline.m3u.limits import CHUNK_BYTES
from pipeline.m3u.parser import MAX_LINE_BYTES, M3UParser
from pipeline.m3u.stats import ParseStats

__all__ = [
    "BLOCK_BYTES",
    "ParallelResult",
    "find_cut",
    "split_blocks",
    "write_ndjson_parallel",
    "write_ndjson_parallel_file",
]


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


if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from typing import TypeAlias

    Entry: TypeAlias = Future[BlockOut] | BlockOut  # a worker's block, or one the parent parsed

class _Ordered:
    """The parent's end: writes blocks in input order and merges their counters."""

    def __init__(
        self, out: IO[bytes], fd: int | None, turn: memoryview | None, result: ParallelResult
    ):
        self.out, self.fd, self.turn, self.result = out, fd, turn, result

    def take(self, entry: Entry) -> None:
        """Write (unless its worker did) and count the block due next."""
        data, stats, header, proc = entry if isinstance(entry, tuple) else entry.result()
        if data is not None:
            self.out.write(data)
            if self.fd is not None and self.turn is not None:
                self.out.flush()  # before the turn passes to workers writing to the fd
                self.turn[0] += 1
        self.result.merge(stats, header)
        if proc is not None:
            rss = self.result.rss_kb
            rss[proc[0]] = max(rss.get(proc[0], 0), proc[1])


def _busy(pending: deque[Entry]) -> int:
    return sum(1 for entry in pending if not isinstance(entry, tuple) and not entry.done())


def _drive(
    todo: Iterator[tuple[int, Task]],
    pool: ProcessPoolExecutor | None,
    sink: _Ordered,
    parse: Callable[[Task, int], BlockOut],
    args: tuple[int, int | None, int],
) -> None:
    """Feed the workers (``2 * (jobs - 1)`` blocks queued), parse the next block
    here when they have enough, and write each block when its turn comes."""
    jobs, level, max_line_bytes = args
    pending: deque[Entry] = deque()
    depth = 2 * (jobs - 1) if pool is not None else 0
    item = next(todo, None)
    while item is not None or pending:
        while pending and (isinstance(pending[0], tuple) or pending[0].done()):
            sink.take(pending.popleft())
        if item is not None and len(pending) < 2 * jobs:
            index, task = item
            if pool is not None and _busy(pending) < depth:
                pending.append(pool.submit(parse_block, task, index, level, max_line_bytes))
            else:
                pending.append(parse(task, index))
            item = next(todo, None)
        elif pending:
            sink.take(pending.popleft())  # wait for the block due next


def _start_method() -> str:
    import multiprocessing

    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


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


def _with_pool(
    todo: Iterator[tuple[int, Task]],
    sink: _Ordered,
    parse: Callable[[Task, int], BlockOut],
    opts: tuple[int, int | None, int],
    source: int | str | None,
) -> None:
    """``_drive`` with ``jobs - 1`` worker processes."""
    import multiprocessing  # here, not at import: `pipeline m3u` starts faster
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context(_start_method())
    initargs = (sink.turn, sink.fd, source)
    with ProcessPoolExecutor(opts[0] - 1, ctx, initializer=init_worker, initargs=initargs) as pool:
        try:
            _drive(todo, pool, sink, parse, opts)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _run(
    tasks: Iterable[Task],
    out: IO[bytes],
    opts: tuple[int, int | None, int],
    read: Read | None,
    source: int | str | None,
) -> ParallelResult:
    """Parse ``tasks`` (blocks, or byte ranges the parent reads with ``read`` and
    the workers from ``source``, see ``init_worker``) on ``jobs`` processes."""
    jobs, level, max_line_bytes = opts
    fd = _direct_fd(out, _start_method())
    turn = shared_turn() if fd is not None else None  # only forked workers write
    result = ParallelResult()
    sink = _Ordered(out, fd, turn, result)

    def parse(task: Task, index: int) -> BlockOut:
        data, parser = encode_block(block_pieces(task, read), index == 0, level, max_line_bytes)
        return data, parser.stats, parser.header, None

    keep_freed_memory()
    todo = enumerate(tasks)
    first = next(todo, None)
    if first is None:  # empty input: let the parser say so
        M3UParser().close()
    else:  # block 0 here first: a non-playlist is refused before any worker starts
        sink.take(parse(first[1], 0))
        if jobs > 1:
            _with_pool(todo, sink, parse, opts, source)
        else:
            _drive(todo, None, sink, parse, opts)
    result.rss_kb["main"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


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
    opts = (max(1, jobs), level, max_line_bytes)
    return _run(split_blocks(chunks, block_bytes), out, opts, None, None)


def write_ndjson_parallel_file(
    src: IO[bytes],
    out: IO[bytes],
    jobs: int = 2,
    level: int | None = 1,
    max_line_bytes: int = MAX_LINE_BYTES,
    *,
    block_bytes: int = BLOCK_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    path: str | None = None,
) -> ParallelResult:
    """``write_ndjson_parallel`` of a regular file ``src`` from its position on,
    with the blocks of ``read_chunks(src, chunk_bytes)``: every process reads
    its own blocks. Without ``fork`` the workers open ``path``; with neither,
    the parent reads the file as a stream.
    """
    opts = (max(1, jobs), level, max_line_bytes)
    fork = _start_method() == "fork"
    if path is None and not fork:
        chunks = iter(lambda: src.read(chunk_bytes), b"")
        return _run(split_blocks(chunks, block_bytes), out, opts, None, None)
    fd = src.fileno()

    read = functools.partial(pread_exact, fd)
    ranges = block_ranges(read, os.fstat(fd).st_size, src.tell(), block_bytes, chunk_bytes)
    return _run(ranges, out, opts, read, fd if fork else path)
