"""One block's two members: the item member and the name member.

Item member: the repeat table (count, then (index, repeat number) pairs),
one ITEM_RECORD per item, then the NDJSON lines. Name member: the type codes
(1 byte per item), then the folded names joined by line breaks.

The writer seals a block as soon as its group has BLOCK_ITEMS items, with an
empty repeat table (repeats are only known once every identity is in); the
layout (pipeline.catalogue.build) rewrites the few sealed blocks that do hold
a repeated URL.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from pipeline.catalogue.errors import BadCatalogue
from pipeline.catalogue.fold import fold
from pipeline.catalogue.layout import ITEM_RECORD, REPEAT, REPEAT_COUNT, TYPE_BITS, gzip_member
from pipeline.catalogue.members import member
from pipeline.catalogue.openblocks import OpenBlock

NO_REPEATS = REPEAT_COUNT.pack(0)
_TYPE_NAMES = {b"l": "live", b"m": "movie", b"s": "series", b"o": "other"}


class Block(NamedTuple):
    """A block's members and what the index and the layout need of it."""

    item: bytes  # the item member (gzip)
    names: bytes  # the name member (gzip)
    mask: int  # type bits present
    items: int
    first_seq: int  # playlist positions of its first and last item
    last_seq: int


def seqs(records: bytes) -> tuple[int, int]:
    """Playlist positions (seq) of a block's first and last item."""
    size = ITEM_RECORD.size
    last = len(records) - size
    return (int.from_bytes(records[8:12], "little"),
            int.from_bytes(records[last + 8 : last + 12], "little"))  # fmt: skip


def repeat_table(records: bytes, repeat_seqs: array, ks: array) -> bytes:
    """The block's (index, repeat number) pairs for repeated URLs; ``repeat_seqs``
    (sorted) and ``ks`` list every repeat of the run."""
    first, last = seqs(records)
    lo, hi = bisect_left(repeat_seqs, first), bisect_right(repeat_seqs, last)
    if lo >= hi:
        return NO_REPEATS
    where = {seq: i for i, (_d, seq, _c) in enumerate(ITEM_RECORD.iter_unpack(records))}
    pairs = [(where[repeat_seqs[j]], ks[j]) for j in range(lo, hi)
             if repeat_seqs[j] in where]  # fmt: skip
    return REPEAT_COUNT.pack(len(pairs)) + b"".join(REPEAT.pack(*p) for p in pairs)


def count_types(records: bytes, counts: dict[str, int]) -> int:
    """Add the block's items per type to ``counts``; return its type mask."""
    types = records[ITEM_RECORD.size - 1 :: ITEM_RECORD.size]
    mask = 0
    for code, bit in TYPE_BITS.items():
        n = types.count(code)
        if n:
            mask |= bit
            counts[_TYPE_NAMES[code]] = counts.get(_TYPE_NAMES[code], 0) + n
    return mask


def make_block(block: OpenBlock, table: bytes, counts: dict[str, int]) -> Block:
    """A block from an open block of the writer, with this repeat table; its
    types are added to ``counts``."""
    records = block.records
    items = len(records) // ITEM_RECORD.size
    if block.names.count(b"\n") != items:
        raise BadCatalogue("block parts do not line up (a name with a line break?)")
    mask = count_types(records, counts)
    item = member(table + records, block.segments, block.segments_crc, block.segments_len,
                  block.lines)  # fmt: skip
    text = fold(block.names[:-1].decode("utf-8", "surrogatepass"))
    types = records[ITEM_RECORD.size - 1 :: ITEM_RECORD.size]
    names = gzip_member(types + text.encode("utf-8", "surrogatepass"))
    return Block(item, names, mask, items, *seqs(records))
