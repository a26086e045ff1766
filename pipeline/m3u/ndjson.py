"""NDJSON and gzip NDJSON output of items (orjson; gzip via ISA-L or zlib).

``GzipNDJSONWriter`` compresses on a helper thread: zlib and ISA-L release
the GIL, so parsing and compression overlap, and a bounded queue keeps
memory flat.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

import orjson

from pipeline.m3u.limits import DEFAULT_LEVEL
from pipeline.m3u.stats import Item


class Compressor(Protocol):
    """What ``zlib.compressobj()`` returns (and ISA-L's equivalent)."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _load_isal() -> Any:
    """ISA-L: the same gzip format, about 4x faster than zlib at levels 1-3."""
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    return isal_zlib


_ISAL = _load_isal()
GZIP_BACKEND = "isal" if _ISAL is not None else "zlib"

_OPT = orjson.OPT_APPEND_NEWLINE
_GZIP_WBITS = 31  # zlib container = gzip (header without name or mtime)
BATCH_ITEMS = 2048
_SEP, _SEP_NL = b'},{"', b'}\n{"'


def gzip_compressor(level: int = DEFAULT_LEVEL) -> Compressor:
    """A ``compressobj`` writing the gzip container (ISA-L for levels 1-3 when
    the ``isal`` package is installed, else zlib)."""
    if _ISAL is not None and 1 <= level <= 3:
        comp: Compressor = _ISAL.compressobj(level, _ISAL.DEFLATED, _GZIP_WBITS)
        return comp
    return zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)


def dumps_item(item: Item) -> bytes:
    """One item as an NDJSON line (UTF-8 JSON plus ``\\n``)."""
    return orjson.dumps(item, option=_OPT)


def encode_batch(items: Iterable[Item]) -> bytes:
    """Several items as consecutive NDJSON lines.

    One ``orjson.dumps`` of the whole list, then its top-level ``},{"``
    separators become line breaks. Inside a JSON string a ``"`` is always
    escaped, so between non-empty objects that sequence is either a top-level
    separator or part of a nested list of objects (which needs a ``[``); the
    line count check sends the latter to the per-item path.
    """
    batch = items if isinstance(items, list) else list(items)
    if not batch:
        return b""
    if all(type(item) is dict and item for item in batch):
        body = orjson.dumps(batch)[1:-1]
        lines = body.replace(_SEP, _SEP_NL)
        # orjson escapes "\n" in strings: every "\n" in `lines` is a separator.
        if b"[" not in body or lines.count(b"\n") == len(batch) - 1:
            return lines + b"\n"
    dumps, opt = orjson.dumps, _OPT
    return b"".join([dumps(item, option=opt) for item in batch])


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class GzipNDJSONEncoder:
    """Incremental gzip NDJSON encoder for callers that do their own I/O.

    ``encode(items)`` returns the compressed bytes ready so far (often
    empty), ``finish()`` the rest; the concatenation is one gzip stream. Suits
    async multipart uploads: no thread, no file object.
    """

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self.items = 0
        self.raw_bytes = 0
        self._comp = gzip_compressor(level)

    def encode(self, items: Iterable[Item]) -> bytes:
        """Compress a batch of items; return whatever output is ready."""
        return self.encode_lines(encode_batch(items))

    def encode_lines(self, data: bytes) -> bytes:
        """Compress NDJSON lines (``M3UParser.feed_ndjson``'s output)."""
        self.raw_bytes += len(data)
        self.items += data.count(b"\n")
        return self._comp.compress(data)

    def finish(self) -> bytes:
        """End the gzip stream; return its last bytes."""
        return self._comp.flush()


def iter_ndjson_gz(
    items: Iterable[Item], level: int = DEFAULT_LEVEL, batch_items: int = BATCH_ITEMS
) -> Iterator[bytes]:
    """Gzip NDJSON of ``items`` as compressed chunks (for streaming uploads)."""
    encoder = GzipNDJSONEncoder(level)
    for batch in _batches(items, batch_items):
        out = encoder.encode(batch)
        if out:
            yield out
    yield encoder.finish()


class GzipNDJSONWriter:
    """Write items as gzip NDJSON to a binary file object.

    ``write(items)`` takes a list of items; ``close()`` finishes the gzip
    stream (it does not close ``fileobj``). With ``threaded`` (the default)
    compression and writes run on a helper thread.
    """

    def __init__(
        self, fileobj: IO[bytes], level: int = DEFAULT_LEVEL, threaded: bool = True
    ) -> None:
        self.fileobj = fileobj
        self.items = 0
        self.raw_bytes = 0
        self._comp = gzip_compressor(level)
        self._error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._run, name="ndjson-gzip", daemon=True)
            self._thread.start()

    def write(self, items: list[Item]) -> None:
        """Queue (or write) a list of items."""
        if items:
            self.write_lines(encode_batch(items), len(items))

    def write_lines(self, data: bytes, items: int) -> None:
        """Queue (or write) ``items`` NDJSON lines (``M3UParser.feed_ndjson``'s output)."""
        if not data:
            return
        self.items += items
        self.raw_bytes += len(data)
        if self._queue is None:
            self._compress(data)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> None:
        """Flush everything and end the gzip stream."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = self._thread = None
        if self._error is not None:
            raise self._error
        self.fileobj.write(self._comp.flush())

    def _compress(self, data: bytes) -> None:
        out = self._comp.compress(data)
        if out:
            self.fileobj.write(out)

    def _run(self) -> None:
        assert self._queue is not None
        get = self._queue.get
        while True:
            data = get()
            if data is None:
                return
            if self._error is None:
                try:
                    self._compress(data)
                except BaseException as exc:  # surfaced by write()/close()
                    self._error = exc


def write_ndjson_gz(
    items: Iterable[Item],
    fileobj: IO[bytes],
    level: int = DEFAULT_LEVEL,
    batch_items: int = BATCH_ITEMS,
    threaded: bool = True,
) -> int:
    """Write ``items`` as gzip NDJSON to ``fileobj``; return the item count."""
    writer = GzipNDJSONWriter(fileobj, level, threaded)
    try:
        for batch in _batches(items, batch_items):
            writer.write(batch)
    finally:
        writer.close()
    return writer.items
