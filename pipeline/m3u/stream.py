"""Sync and async entry points around ``M3UParser``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import IO, Any

from pipeline.m3u.limits import CHUNK_BYTES
from pipeline.m3u.parser import M3UParser
from pipeline.m3u.stats import Item, ParseStats


class _Run:
    """Shared ``parser`` / ``header`` / ``stats`` accessors of a parse run."""

    def __init__(self, parser: M3UParser | None, opts: dict[str, Any]) -> None:
        self.parser = parser if parser is not None else M3UParser(**opts)

    @property
    def header(self) -> dict[str, str]:
        """The ``#EXTM3U`` attributes seen so far."""
        return self.parser.header

    @property
    def stats(self) -> ParseStats:
        """The parser's counters (final once iteration has ended)."""
        return self.parser.stats


class ItemStream(_Run):
    """Iterable of the items of a byte-chunk iterable; see ``parse_chunks``."""

    def __init__(
        self, chunks: Iterable[bytes], parser: M3UParser | None, opts: dict[str, Any]
    ) -> None:
        super().__init__(parser, opts)
        self._chunks = chunks

    def __iter__(self) -> Iterator[Item]:
        feed = self.parser.feed
        for chunk in self._chunks:
            yield from feed(chunk)
        yield from self.parser.close()

    def batches(self) -> Iterator[list[Item]]:
        """The items as lists, one per chunk (cheaper than one by one)."""
        feed = self.parser.feed
        for chunk in self._chunks:
            items = feed(chunk)
            if items:
                yield items
        tail = self.parser.close()
        if tail:
            yield tail


class AsyncItemStream(_Run):
    """Async iterable of the items of an async byte-chunk iterable."""

    def __init__(
        self, chunks: AsyncIterable[bytes], parser: M3UParser | None, opts: dict[str, Any]
    ) -> None:
        super().__init__(parser, opts)
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._items()

    async def _items(self) -> AsyncIterator[Item]:
        feed = self.parser.feed
        async for chunk in self._chunks:
            for item in feed(chunk):
                yield item
        for item in self.parser.close():
            yield item


def parse_chunks(
    chunks: Iterable[bytes], *, parser: M3UParser | None = None, **opts: Any
) -> ItemStream:
    """Items of a playlist given as byte chunks; ``.stats``/``.header`` on the result."""
    return ItemStream(chunks, parser, opts)


def parse_stream(
    chunks: AsyncIterable[bytes], *, parser: M3UParser | None = None, **opts: Any
) -> AsyncItemStream:
    """Items of a playlist arriving as an async iterator of bytes.

    ``async for item in parse_stream(body): ...``; the returned object also
    exposes ``.stats`` and ``.header``. ``opts`` go to ``M3UParser``.
    """
    return AsyncItemStream(chunks, parser, opts)


def read_chunks(fileobj: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of a binary file object until EOF."""
    read = fileobj.read
    while True:
        chunk = read(size)
        if not chunk:
            return
        yield chunk


def _file_chunks(path: str | os.PathLike[str], size: int) -> Iterator[bytes]:
    with open(path, "rb") as fileobj:
        yield from read_chunks(fileobj, size)


def parse_file(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    chunk_bytes: int = CHUNK_BYTES,
    parser: M3UParser | None = None,
    **opts: Any,
) -> ItemStream:
    """Items of a playlist file (path or binary file object), read in chunks."""
    if isinstance(source, str | os.PathLike):
        chunks: Iterable[bytes] = _file_chunks(source, chunk_bytes)
    else:
        chunks = read_chunks(source, chunk_bytes)
    return ItemStream(chunks, parser, opts)


def parse_bytes(data: bytes, **opts: Any) -> list[Item]:
    """All items of a playlist held in memory (tests, small inputs)."""
    parser = M3UParser(**opts)
    return parser.feed(data) + parser.close()
