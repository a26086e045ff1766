"""Added / removed / changed items between two runs' catalogues, memory flat.

Both runs' identity sections are bucketed by the same identity digest, so
bucket b of one run can only match bucket b of the other: the diff walks the
buckets side by side (64 at a time, one ranged read per side), keyed by
``(identity, repeat number)``. ``changed`` means the same key with another
content digest (any field: name, group, logo, ...).

The change list is spilled by block range, then each range is sorted and its
blocks read once, so the NDJSON comes out in catalogue order: the new run's
added and changed items, then the old run's removed items, one per line:

    {"change": "added" | "changed" | "removed", "id": "...", "item": {...}}

(``item`` as stored, without its ``id``: the line's ``id`` is it.)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.catalogue.layout import BLOCK_ITEMS, BUCKETS
from pipeline.catalogue.reader import Catalogue
from pipeline.catalogue.spill import ChunkSpill

_CHANGE = struct.Struct("<IHB")  # block, line, change code
_NAMES = {0: b"added", 1: b"changed", 2: b"removed"}
# Buckets read per round, and blocks per spill partition (bounds memory per side).
BUCKETS_PER_READ = 64
BLOCKS_PER_PART = 32
SPILL_BUDGET = 4 * 2**20
Record = tuple[bytes, bytes, int, int, int]


def _keyed(records: list[Record]) -> dict[bytes, Record]:
    keyed: dict[bytes, Record] = {}
    previous, k = b"", 0
    for rec in records:
        k = k + 1 if rec[0] == previous else 0
        previous = rec[0]
        keyed[rec[0] + k.to_bytes(3, "little")] = rec
    return keyed


class _Changes:
    """Change records of one run, spilled by block range."""

    def __init__(self, cat: Catalogue, spill_dir: str | Path) -> None:
        self.cat = cat
        self.parts = max(1, -(-len(cat.blocks) // BLOCKS_PER_PART))
        self.spill = ChunkSpill(spill_dir, 1, SPILL_BUDGET)
        self.bufs = [self.spill.add_key()[0] for _ in range(self.parts)]
        self.firsts = [group["first_block"] for group in cat.index["groups"]]

    def add(self, rec: Record, code: int) -> None:
        block = self.firsts[rec[3]] + rec[4] // BLOCK_ITEMS
        self.bufs[block // BLOCKS_PER_PART] += _CHANGE.pack(block, rec[4] % BLOCK_ITEMS, code)
        self.spill.pending += _CHANGE.size

    async def emit(self, write: Callable[[bytes], object]) -> None:
        for part in range(self.parts):
            data = b"".join(chunk[0] for chunk in self.spill.chunks(part))
            self.spill.release(part)
            codes: dict[tuple[int, int], int] = {}
            for block, line, code in sorted(_CHANGE.iter_unpack(data)):
                codes[block, line] = code
            wanted: dict[int, list[int]] = {}
            for block, line in codes:
                wanted.setdefault(block, []).append(line)
            async for block, line, raw, item_id in self.cat.lines(wanted.items()):
                head = b'{"change":"' + _NAMES[codes[block, line]] + b'","id":"'
                write(head + item_id.encode() + b'","item":' + raw + b"}\n")


async def _compare(old: Catalogue, new: Catalogue, gone: _Changes, fresh: _Changes,
                   counts: dict[str, int]) -> None:  # fmt: skip
    for first in range(0, BUCKETS, BUCKETS_PER_READ):
        olds, news = await old.buckets(first, BUCKETS_PER_READ), \
            await new.buckets(first, BUCKETS_PER_READ)  # fmt: skip
        for old_records, new_records in zip(olds, news, strict=True):
            before, after = _keyed(old_records), _keyed(new_records)
            for key in after.keys() - before.keys():
                fresh.add(after[key], 0)
            for key in before.keys() - after.keys():
                gone.add(before[key], 2)
            changed = [key for key in after.keys() & before.keys()
                       if after[key][1] != before[key][1]]  # fmt: skip
            for key in changed:
                fresh.add(after[key], 1)
            counts["added"] += len(after) - len(after.keys() & before.keys())
            counts["removed"] += len(before) - len(after.keys() & before.keys())
            counts["changed"] += len(changed)
        fresh.spill.maybe_flush()
        gone.spill.maybe_flush()


async def diff(old: Catalogue, new: Catalogue, write: Callable[[bytes], object],
               spill_dir: str | Path) -> dict[str, Any]:  # fmt: skip
    """Write the changes from ``old`` to ``new`` as NDJSON lines; return the counts."""
    counts = {"added": 0, "removed": 0, "changed": 0}
    gone, fresh = _Changes(old, spill_dir), _Changes(new, spill_dir)
    try:
        await _compare(old, new, gone, fresh, counts)
        await fresh.emit(write)
        await gone.emit(write)
    finally:
        gone.spill.close()
        fresh.spill.close()
    return counts
