"""``CatalogueWriter.finish``: lay out the identity, item and name sections.

1. Identity buckets, one at a time: sort the bucket's records by identity
   digest (stable, so repeats of a URL stay in playlist order), number the
   repeats (the ``-k`` of their ids) and write the bucket as one member.
2. Groups in first-seen order: read the group's spilled chunks back, give
   repeated URLs their ``-k`` suffix, cut blocks of BLOCK_ITEMS items and
   write each block and its folded names as members.
3. Append the name section (kept in a temporary file until then).

Memory: one bucket, one chunk and the repeat list (8 bytes per repeated URL).
"""

from __future__ import annotations

import tempfile
from array import array
from bisect import bisect_left, bisect_right
from typing import IO, Any

from pipeline.catalogue.errors import BadCatalogue
from pipeline.catalogue.fold import fold
from pipeline.catalogue.layout import (
    BLOCK_ITEMS,
    BUCKETS,
    FORMAT,
    ID_RECORD,
    ITEM_RECORD,
    REPEAT,
    REPEAT_COUNT,
    TYPE_BITS,
    gzip_member,
)

# The writer calls `build(self)`; typed loosely so this module does not import it back.
CatalogueWriter = Any

_TYPE_NAMES = {b"l": "live", b"m": "movie", b"s": "series", b"o": "other"}


class _Out:
    """Counts the bytes written so member offsets need no ``tell()``."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.fileobj, self.offset = fileobj, 0

    def write(self, data: bytes) -> list[int]:
        self.fileobj.write(data)
        start, self.offset = self.offset, self.offset + len(data)
        return [start, len(data)]


def _id_section(writer: CatalogueWriter, out: _Out) -> tuple[list[list[int]], array, array]:
    table: list[list[int]] = []
    repeats: list[tuple[int, int]] = []
    size = ID_RECORD.size
    for bucket in range(BUCKETS):
        data = b"".join(chunk[0] for chunk in writer.ids.chunks(bucket))
        writer.ids.release(bucket)
        recs = [data[i : i + size] for i in range(0, len(data), size)]
        digests = [rec[:8] for rec in recs]
        order = sorted(range(len(recs)), key=digests.__getitem__)
        if len(set(digests)) != len(recs):
            previous, k = b"", 0
            for i in order:
                k = k + 1 if digests[i] == previous else 0
                previous = digests[i]
                if k:
                    repeats.append((int.from_bytes(recs[i][12:16], "little"), k))
        table.append(out.write(gzip_member(b"".join([recs[i] for i in order]))))
    repeats.sort()
    return table, array("I", [s for s, _ in repeats]), array("I", [k for _, k in repeats])


class _Blocks:
    """Cuts a group's items into blocks and writes each block's two members.

    Item member: the repeat table (count, then (index, repeat number) pairs),
    one ITEM_RECORD per item, then the NDJSON lines. Name member: the type
    codes (1 byte per item), then the folded names joined by line breaks.
    """

    def __init__(self, out: _Out, names: IO[bytes], seqs: array, ks: array) -> None:
        self.out, self.names, self.name_offset = out, names, 0
        self.seqs, self.ks = seqs, ks
        self.table: list[list[int]] = []

    def repeat_table(self, records: bytes) -> bytes:
        """The block's (index, repeat number) pairs for repeated URLs."""
        size = ITEM_RECORD.size
        first = int.from_bytes(records[8:12], "little")
        last = int.from_bytes(records[len(records) - size + 8 : len(records) - size + 12], "little")
        lo, hi = bisect_left(self.seqs, first), bisect_right(self.seqs, last)
        if lo >= hi:
            return REPEAT_COUNT.pack(0)
        where = {seq: i for i, (_d, seq, _c) in enumerate(ITEM_RECORD.iter_unpack(records))}
        pairs = [(where[self.seqs[j]], self.ks[j]) for j in range(lo, hi)
                 if self.seqs[j] in where]  # fmt: skip
        return REPEAT_COUNT.pack(len(pairs)) + b"".join(REPEAT.pack(*p) for p in pairs)

    def emit(self, lines: list[bytes], names: list[bytes], records: bytes,
             counts: dict[str, int]) -> None:  # fmt: skip
        types = records[ITEM_RECORD.size - 1 :: ITEM_RECORD.size]
        mask = 0
        for code, bit in TYPE_BITS.items():
            n = types.count(code)
            if n:
                mask |= bit
                counts[_TYPE_NAMES[code]] = counts.get(_TYPE_NAMES[code], 0) + n
        body = self.repeat_table(records) + records + b"\n".join(lines) + b"\n"
        member = self.out.write(gzip_member(body))
        text = fold(b"\n".join(names).decode("utf-8", "surrogatepass"))
        folded = gzip_member(types + text.encode("utf-8", "surrogatepass"))
        self.names.write(folded)
        self.table.append([*member, self.name_offset, len(folded), mask, len(lines)])
        self.name_offset += len(folded)

    def group(self, writer: CatalogueWriter, gno: int) -> dict[str, Any]:
        first, start, size = len(self.table), self.out.offset, ITEM_RECORD.size
        counts: dict[str, int] = {}
        lines: list[bytes] = []
        names: list[bytes] = []
        records = b""
        for chunk in writer.groups.chunks(gno):
            more, more_names = chunk[0].split(b"\n")[:-1], chunk[1].split(b"\n")[:-1]
            if not len(more) == len(more_names) == len(chunk[2]) // size:
                raise BadCatalogue("group spill parts do not line up (a name with a line break?)")
            lines += more
            names += more_names
            records += chunk[2]
            cut = len(lines) - len(lines) % BLOCK_ITEMS
            for i in range(0, cut, BLOCK_ITEMS):
                self.emit(lines[i : i + BLOCK_ITEMS], names[i : i + BLOCK_ITEMS],
                          records[i * size : (i + BLOCK_ITEMS) * size], counts)  # fmt: skip
            del lines[:cut], names[:cut]
            records = records[cut * size :]
        if lines:
            self.emit(lines, names, records, counts)
        writer.groups.release(gno)
        return {"name": writer.group_names[gno], "items": writer.group_counts[gno],
                "counts": counts, "first_block": first, "blocks": len(self.table) - first,
                "offset": start, "length": self.out.offset - start}  # fmt: skip


def build(writer: CatalogueWriter) -> dict[str, Any]:
    out = _Out(writer.out)
    ids, seqs, ks = _id_section(writer, out)
    with tempfile.TemporaryFile(dir=writer.spill_dir) as names:
        blocks = _Blocks(out, names, seqs, ks)
        groups = [blocks.group(writer, gno) for gno in range(len(writer.group_names))]
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
