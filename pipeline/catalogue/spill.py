"""Bounded per-key byte buffers that spill to one temporary file.

Each key (a group, an identity bucket) owns ``parts`` parallel bytearrays.
When the buffered total passes the budget, the largest keys are written out
as chunks (all parts of a key back to back) until half the budget is left.
Reading a key back yields its chunks in write order, then what is still in
memory, so order is preserved and memory stays within the budget whatever the
item count.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


class ChunkSpill:
    def __init__(self, spill_dir: str | Path, parts: int, budget: int) -> None:
        self.parts = parts
        self.budget = budget
        self.pending = 0  # bytes buffered; callers add to it as they append
        self.buffers: list[tuple[bytearray, ...]] = []
        self._chunks: list[list[tuple[int, tuple[int, ...]]]] = []
        # Lives as long as the spill; close() ends it.
        self._file = tempfile.TemporaryFile(dir=spill_dir)  # noqa: SIM115
        self._end = 0
        self.spilled = 0

    def add_key(self) -> tuple[bytearray, ...]:
        bufs = tuple(bytearray() for _ in range(self.parts))
        self.buffers.append(bufs)
        self._chunks.append([])
        return bufs

    def maybe_flush(self) -> None:
        if self.pending <= self.budget:
            return
        sizes = sorted(
            ((sum(map(len, bufs)), key) for key, bufs in enumerate(self.buffers)),
            reverse=True,
        )
        for size, key in sizes:
            if self.pending <= self.budget // 2 or not size:
                break
            bufs = self.buffers[key]
            self.write_chunk(key, bufs)
            self.pending -= size
            for buf in bufs:
                del buf[:]

    def write_chunk(self, key: int, parts: Sequence[bytes | bytearray]) -> None:
        """Append a chunk of ``key`` to the file (its parts back to back)."""
        self._file.seek(self._end)
        for part in parts:
            self._file.write(part)
        lengths = tuple(len(part) for part in parts)
        self._chunks[key].append((self._end, lengths))
        self._end += sum(lengths)
        self.spilled += sum(lengths)

    def chunks(self, key: int) -> Iterator[tuple[bytes, ...]]:
        """The key's data in write order, as ``parts``-tuples (spilled, then buffered)."""
        for offset, lengths in self._chunks[key]:
            self._file.seek(offset)
            yield tuple(self._file.read(length) for length in lengths)
        bufs = self.buffers[key]
        if any(bufs):
            yield tuple(bytes(b) for b in bufs)

    def take(self, key: int) -> list[tuple[bytes, ...]]:
        """The key's data so far (as ``chunks``); the key then starts over empty."""
        out = list(self.chunks(key))
        self.release(key)
        self._chunks[key] = []
        return out

    def release(self, key: int) -> None:
        """Drop a key's memory once it has been read back."""
        self.pending -= sum(map(len, self.buffers[key]))
        for buf in self.buffers[key]:
            del buf[:]

    def close(self) -> None:
        self._file.close()

