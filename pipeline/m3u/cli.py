"""``pipeline m3u FILE``: parse a playlist file (or stdin) to NDJSON items."""

from __future__ import annotations

import contextlib
import os
import resource
import stat
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click

from pipeline.errors import NotAPlaylist
from pipeline.m3u.limits import CHUNK_BYTES, DEFAULT_LEVEL, MAX_LINE_BYTES

if TYPE_CHECKING:  # the parser is imported when a file is parsed, not for --help
    from pipeline.m3u.stats import ParseStats

# `-j auto`: below this size start-up of the workers costs more than it saves.
AUTO_MIN_BYTES = 8 << 20
AUTO_JOBS_MAX = 4


@contextlib.contextmanager
def _source(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as fileobj:
        yield fileobj


@contextlib.contextmanager
def _sink(path: str | None) -> Iterator[IO[bytes]]:
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with open(path, "wb") as fileobj:
        yield fileobj


def _jobs_option(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    """``-j``: a positive count, or None for auto (decided once the input is known)."""
    if value == "auto":
        return None
    try:
        jobs = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a count nor 'auto'") from None
    if jobs < 1:
        raise click.BadParameter("must be at least 1")
    return jobs


def auto_jobs(src: IO[bytes]) -> int:
    """``-j auto``: the cores (capped) for a regular file worth splitting, else 1."""
    try:
        info = os.fstat(src.fileno())
    except (AttributeError, OSError, ValueError):
        return 1
    if not stat.S_ISREG(info.st_mode) or info.st_size < AUTO_MIN_BYTES:
        return 1
    return max(1, min(AUTO_JOBS_MAX, len(os.sched_getaffinity(0))))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class _Discard:
    """A sink for items nobody asked for (``--summary`` without ``--output``)."""

    def write(self, data: bytes) -> int:
        return len(data)


def _sequential(src: IO[bytes], args: dict[str, Any]) -> tuple[ParseStats, dict[str, str]]:
    """One process: the parser's NDJSON mode straight into the sink (or a gzip writer)."""
    from pipeline.m3u.ndjson import GzipNDJSONWriter
    from pipeline.m3u.parser import M3UParser
    from pipeline.m3u.stream import read_chunks

    parser = M3UParser(args["max_line_bytes"])
    chunks = read_chunks(src, args["chunk_bytes"])
    with contextlib.ExitStack() as stack:
        if args["summary"] and args["output"] is None:
            out: Any = _Discard()
        else:
            out = stack.enter_context(_sink(args["output"]))
        if args["gzip"]:
            writer = GzipNDJSONWriter(out, args["level"])
            stack.callback(writer.close)
            stats = parser.stats
            for chunk in chunks:
                before = stats.items
                data = parser.feed_ndjson(chunk)
                writer.write_lines(data, stats.items - before)
            before = stats.items
            writer.write_lines(parser.close_ndjson(), stats.items - before)
        else:
            write = out.write
            for chunk in chunks:
                write(parser.feed_ndjson(chunk))
            write(parser.close_ndjson())
    return parser.stats, parser.header


def _is_regular(src: IO[bytes]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(src.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def _parallel(src: IO[bytes], args: dict[str, Any]) -> tuple[ParseStats, dict[str, str]]:
    """``-j N``: a regular file is cut by offsets and each process reads its own
    blocks; a pipe is read and cut here (``pipeline.m3u.parallel``)."""
    from pipeline.m3u import parallel  # multiprocessing: only for -j
    from pipeline.m3u.stream import read_chunks

    level = args["level"] if args["gzip"] else None
    jobs, max_line, chunk = args["jobs"], args["max_line_bytes"], args["chunk_bytes"]
    with contextlib.ExitStack() as stack:
        if args["summary"] and args["output"] is None:
            # An OS file, unlike _Discard: workers drop their blocks there themselves
            # instead of sending them back to the parent.
            out: Any = stack.enter_context(open(os.devnull, "wb"))
        else:
            out = stack.enter_context(_sink(args["output"]))
        if _is_regular(src):
            path = None if args["file"] == "-" else args["file"]
            result = parallel.write_ndjson_parallel_file(
                src, out, jobs, level, max_line, chunk_bytes=chunk, path=path
            )
        else:
            chunks = read_chunks(src, chunk)
            result = parallel.write_ndjson_parallel(chunks, out, jobs, level, max_line)
    args["rss_kb"] = result.rss_kb
    return result.stats, result.header


def _summary(stats: ParseStats, header: dict[str, str], args: dict[str, Any]) -> None:
    rss_kb = args.get("rss_kb") or {"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    doc = {
        **stats.to_dict(),
        "header": header,
        "peak_rss_mb": {
            "processes": len(rss_kb),
            "max": round(max(rss_kb.values()) / 1024, 1),
            "sum": round(sum(rss_kb.values()) / 1024, 1),
        },
    }
    import orjson

    sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
    sys.stdout.buffer.flush()


@click.command("m3u")
@click.argument("file", metavar="FILE")
@click.option(
    "--summary",
    is_flag=True,
    help="Print one JSON object with counts by type, the group count and the other parse "
    "counters instead of the items (items still go to --output when it is given).",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    default=None,
    help="Write the items to PATH instead of stdout; a PATH ending in .gz is gzip NDJSON.",
)
@click.option("--gzip", "gzip_", is_flag=True, help="Write gzip NDJSON (also to stdout).")
@click.option(
    "--level",
    type=click.IntRange(0, 9),
    default=DEFAULT_LEVEL,
    show_default=True,
    help="gzip compression level (1 is fastest).",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(min=64),
    default=MAX_LINE_BYTES,
    show_default=True,
    help="Lines longer than this are skipped and counted.",
)
@click.option(
    "--chunk-bytes",
    type=click.IntRange(min=1),
    default=CHUNK_BYTES,
    show_default=True,
    help="Read the input in chunks of this many bytes.",
)
@click.option(
    "-j",
    "--jobs",
    metavar="N|auto",
    default="auto",
    show_default=True,
    callback=_jobs_option,
    help="Parse on N processes (blocks cut after URL lines; same items in the same order; "
    f"gzip output is then one gzip member per block). auto: the number of cores (at most "
    f"{AUTO_JOBS_MAX}) for a regular file over {AUTO_MIN_BYTES >> 20} MB, else 1.",
)
def m3u_command(**args: Any) -> None:
    """Parse the M3U playlist FILE ('-' for stdin) and write its items as NDJSON.

    One JSON object per line on stdout (or --output), streamed: memory stays
    flat whatever the playlist size. Exits with status 2 and a one-line
    message on stderr when FILE cannot be read or is not a playlist.
    """
    output, file = args["output"], args["file"]
    args["gzip"] = args.pop("gzip_") or (output is not None and output.endswith(".gz"))
    try:
        with _source(file) as src:
            if args["jobs"] is None:
                args["jobs"] = auto_jobs(src)
            run = _parallel if args["jobs"] > 1 else _sequential
            stats, header = run(src, args)
        if args["summary"]:
            _summary(stats, header, args)
    except NotAPlaylist as exc:
        _fail(f"{file}: {exc.message}")
    except BrokenPipeError:
        # The reader went away (``| head``): silence the final flush and stop.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        _fail(f"{exc.filename or file}: {exc.strerror or exc}")
