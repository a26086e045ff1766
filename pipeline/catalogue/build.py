"""``CatalogueWriter.finish``: lay out the identity, item and name sections.

1. Identity buckets, one at a time: sort the bucket's records by identity
   digest (stable, so repeats of a URL stay in playlist order), number the
   repeats (the ``-k`` of their ids) and write the bucket as one member.
2. Groups in first-seen order: copy the blocks the writer sealed (rewriting
   the rare one that holds a repeated URL: its repeat table was not known
   yet), then make the group's last, open block, and write each block's item
   member; the name members go to a temporary file.
3. Append the name section.

Memory: one bucket, one group's sealed members or open block, and the repeat
list (8 bytes per repeated URL).
"""

from __future__ import annotations

import tempfile
from array import array
from bisect import bisect_left, bisect_right
from itertools import groupby
from operator import itemgetter
from typing import IO, Any

from pipeline.catalogue.blocks import NO_REPEATS, Block, make_block, repeat_table
from pipeline.catalogue.layout import (
    BLOCK_ITEMS,
    BUCKETS,
    FORMAT,
    ID_RECORD,
    ITEM_RECORD,
    gunzip,
    gzip_member,
)

# The writer calls `build(self)`; typed loosely so this module does not import it back.
CatalogueWriter = Any

_DIGEST = itemgetter(slice(0, 8))


def _seq(record: bytes) -> int:
    return int.from_bytes(record[12:16], "little")


class _Out:
    """Counts the bytes written so member offsets need no ``tell()``."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.fileobj, self.offset = fileobj, 0

    def write(self, data: bytes) -> list[int]:
        self.fileobj.write(data)
        start, self.offset = self.offset, self.offset + len(data)
        return [start, len(data)]


def _sorted_bucket(data: bytes, repeats: list[tuple[int, int]]) -> bytes:
    """A bucket's records sorted by identity digest, repeats of a URL in playlist
    order; each repeat's (seq, k) is added to ``repeats``."""
    size = ID_RECORD.size
    recs = [data[i : i + size] for i in range(0, len(data), size)]
    recs.sort()  # whole records: by digest, then content CRC (repeats reordered below)
    digests = list(map(_DIGEST, recs))
    if len(set(digests)) == len(recs):
        return b"".join(recs)
    ordered: list[bytes] = []
    for _digest, run in groupby(recs, key=_DIGEST):
        same = sorted(run, key=_seq)  # the bucket was in playlist order: so is a run now
        repeats += [(_seq(rec), k) for k, rec in enumerate(same) if k]
        ordered += same
    return b"".join(ordered)


def _id_section(writer: CatalogueWriter, out: _Out) -> tuple[list[list[int]], array, array]:
    table: list[list[int]] = []
    repeats: list[tuple[int, int]] = []
    for bucket in range(BUCKETS):
        data = b"".join(chunk[0] for chunk in writer.ids.chunks(bucket))
        writer.ids.release(bucket)
        table.append(out.write(gzip_member(_sorted_bucket(data, repeats))))
    repeats.sort()
    return table, array("I", [s for s, _ in repeats]), array("I", [k for _, k in repeats])


class _Groups:
    """Writes each group's blocks: item members to the output, name members to
    ``names`` (a temporary file appended to the output at the end)."""

    def __init__(self, writer: CatalogueWriter, out: _Out, names: IO[bytes], seqs: array,
                 ks: array) -> None:  # fmt: skip
        self.writer, self.out, self.names, self.name_offset = writer, out, names, 0
        self.seqs, self.ks = seqs, ks
        self.table: list[list[int]] = []

    def _write(self, item: bytes, names: bytes, block: Block) -> None:
        member = self.out.write(item)
        self.names.write(names)
        self.table.append([*member, self.name_offset, len(names), block.mask, block.items])
        self.name_offset += len(names)

    def _repeats_in(self, block: Block) -> bool:
        lo = bisect_left(self.seqs, block.first_seq)
        return lo < bisect_right(self.seqs, block.last_seq)

    def _sealed(self, gno: int) -> None:
        parts = self.writer.sealed.take(gno)
        items, names = b"".join([p[0] for p in parts]), b"".join([p[1] for p in parts])
        at = name_at = 0
        for block, length, name_length in self.writer.sealed_blocks[gno]:
            item = items[at : at + length]
            if self._repeats_in(block):
                body = gunzip(item)[len(NO_REPEATS) :]
                table = repeat_table(body[: block.items * ITEM_RECORD.size], self.seqs, self.ks)
                if table != NO_REPEATS:
                    item = gzip_member(table + body)
            self._write(item, names[name_at : name_at + name_length], block)
            at, name_at = at + length, name_at + name_length

    def group(self, gno: int) -> dict[str, Any]:
        writer = self.writer
        first, start = len(self.table), self.out.offset
        self._sealed(gno)
        open_block = writer.groups.take(gno)
        if open_block.records:
            table = repeat_table(open_block.records, self.seqs, self.ks)
            block = make_block(open_block, table, writer.type_counts[gno])
            self._write(block.item, block.names, block)
        return {"name": writer.group_names[gno], "items": writer.group_counts[gno],
                "counts": writer.type_counts[gno], "first_block": first,
                "blocks": len(self.table) - first, "offset": start,
                "length": self.out.offset - start}  # fmt: skip


def build(writer: CatalogueWriter) -> dict[str, Any]:
    out = _Out(writer.out)
    ids, seqs, ks = _id_section(writer, out)
    with tempfile.TemporaryFile(dir=writer.spill_dir) as names:
        blocks = _Groups(writer, out, names, seqs, ks)
        groups = [blocks.group(gno) for gno in range(len(writer.group_names))]
        names.seek(0)
        base = out.offset
        while data := names.read(1 << 20):
            out.write(data)
    for entry in blocks.table:
        entry[2] += base
    counts: dict[str, int] = {}
    for group in groups:
        for kind, n in group["counts"].items():
            counts[kind] = counts.get(kind, 0) + n
    return {"format": FORMAT, "run": writer.run_id, "items": writer.items,
            "counts": counts, "block_items": BLOCK_ITEMS, "repeats": len(seqs),
            "groups": groups, "blocks": blocks.table, "ids": ids}  # fmt: skip
