"""The writer's open blocks: per group, the items of the block being filled.

In memory, a group's open block is three lists: NDJSON lines and names
(without line breaks) and ITEM_RECORDs (appending a reference costs less than
copying into a buffer). Past the memory budget, the groups with the most
items move out until half the budget is left: their lines as a deflate
segment (compressed once, now rather than at the seal: pipeline.catalogue.members;
the largest make the fewest, best compressed segments), their names and
records as they are, into a ``ChunkSpill`` that keeps them in memory up to its
own, smaller budget and on disk beyond. ``take`` returns a group's open block
and starts a new one.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipeline.catalogue.layout import ITEM_RECORD, crc32
from pipeline.catalogue.members import deflate
from pipeline.catalogue.spill import ChunkSpill

_NL = b"\n"
# What an item costs in memory beyond its line and name: two line breaks, a record.
ITEM_OVERHEAD = 2 + ITEM_RECORD.size
# The spill of compressed segments, names and records keeps this share of the budget.
SPILL_SHARE = 8

Lists = tuple[list[bytes], list[bytes], list[bytes]]


class OpenBlock(NamedTuple):
    """A group's open block: its lines (``segments``, deflated, with their CRC-32
    and length, then ``lines``), names and lines each ending in a line break."""

    segments: bytes
    segments_crc: int
    segments_len: int
    lines: bytes
    names: bytes
    records: bytes


class OpenBlocks:
    def __init__(self, spill_dir: str | Path, budget: int) -> None:
        self.budget = budget
        self.pending = 0  # bytes in the lists: callers add ITEM_OVERHEAD + line + name per item
        self.lists: list[Lists] = []
        # Per group: deflated lines, names, records moved out of the lists.
        self.spill = ChunkSpill(spill_dir, 3, budget // SPILL_SHARE)
        self._crc: list[int] = []  # CRC-32 and length of each group's deflated lines
        self._len: list[int] = []
        self.deflated = 0  # bytes of lines deflated early (a measure of memory pressure)

    def add_key(self) -> Lists:
        lists: Lists = ([], [], [])
        self.lists.append(lists)
        self.spill.add_key()
        self._crc.append(0)
        self._len.append(0)
        return lists

    def _pop(self, key: int) -> tuple[bytes, bytes, bytes]:
        """The key's lists joined (lines, names each with a line break), then emptied."""
        lines, names, records = self.lists[key]
        if not lines:
            return b"", b"", b""
        joined = _NL.join(lines) + _NL, _NL.join(names) + _NL, b"".join(records)
        self.pending -= len(joined[0]) + len(joined[1]) + len(joined[2])
        for part in self.lists[key]:
            part.clear()
        return joined

    def maybe_flush(self) -> None:
        if self.pending <= self.budget:
            return
        sizes = sorted([(len(lists[0]), key) for key, lists in enumerate(self.lists)
                        if lists[0]], reverse=True)  # fmt: skip
        for _items, key in sizes:
            if self.pending <= self.budget // 2:
                break
            lines, names, records = self._pop(key)
            self._crc[key] = crc32(lines, self._crc[key])
            self._len[key] += len(lines)
            self.deflated += len(lines)
            segment = deflate(lines, final=False)
            segments, spilled_names, spilled_records = self.spill.buffers[key]
            segments += segment
            spilled_names += names
            spilled_records += records
            self.spill.pending += len(segment) + len(names) + len(records)
        self.spill.maybe_flush()

    def take(self, key: int) -> OpenBlock:
        """The group's open block; the group then starts a new, empty one."""
        lines, names, records = self._pop(key)
        parts = self.spill.take(key)
        crc, length = self._crc[key], self._len[key]
        self._crc[key] = self._len[key] = 0
        if not parts:
            return OpenBlock(b"", 0, 0, lines, names, records)
        return OpenBlock(b"".join([part[0] for part in parts]), crc, length, lines,
                         b"".join([part[1] for part in parts]) + names,
                         b"".join([part[2] for part in parts]) + records)  # fmt: skip

    def close(self) -> None:
        self.spill.close()
