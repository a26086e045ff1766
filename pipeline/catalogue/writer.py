"""Catalogue writer: items in playlist order in, one data file and an index out.

    writer = CatalogueWriter(run_id, out_file, spill_dir)
    writer.add(items, encoded)      # encoded: encode_batch(items), if at hand
    writer.add_fields(lines, fields)  # or: the parser's lines and catalogue fields
    index = writer.finish()         # writes the data file, returns the index

``add*`` do the per-item work once (group number, position in the group,
identity digest, content digest, the records) in column-wise batches, append
to bounded buffers that spill to a temporary file, and seal each block
(compressed members, pipeline.catalogue.blocks) as soon as its group has
BLOCK_ITEMS items; ``finish`` lays the sections out (pipeline.catalogue.build).
"""

from __future__ import annotations

import re
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import orjson

import pipeline.catalogue.build as build
from pipeline.catalogue.blocks import NO_REPEATS, Block, make_block
from pipeline.catalogue.identity import identity_digests
from pipeline.catalogue.layout import (
    BLOCK_ITEMS,
    BUCKETS,
    ID_RECORD,
    ITEM_RECORD,
    TYPE_CODES,
    crc32,
)
from pipeline.catalogue.openblocks import ITEM_OVERHEAD, OpenBlocks
from pipeline.catalogue.spill import ChunkSpill

# Buffered bytes before spilling: open blocks (lines, names), identity records,
# sealed (compressed) blocks.
ITEM_BUDGET = 24 * 2**20
ID_BUDGET = 8 * 2**20
SEALED_BUDGET = 4 * 2**20
_CODES = {kind.encode(): code for kind, code in TYPE_CODES.items()}
_CODE_SET = frozenset((*TYPE_CODES.values(), b"o"))
# The parser's usual line start; a field with an escape (or absent) takes the slow path.
_FAST_LINE = re.compile(
    rb'\{"name":"([^"\\]*)","url":"([^"\\]*)","type":"([a-z]*)"(?:,"group":"([^"\\]*)")?')
_NL = b"\n"
# Columns of a batch: group keys, names, URLs, type codes (UTF-8 bytes each).
Columns = tuple[list[bytes], list[bytes], list[bytes], list[bytes]]


def _raw_fields(item: dict[str, Any]) -> list[bytes]:
    """An item's group, name, url and type as UTF-8 (absent group or name: empty)."""
    return [(item.get("group") or "").encode("utf-8", "surrogatepass"),
            (item.get("name") or "").encode("utf-8", "surrogatepass"),
            item["url"].encode("utf-8", "surrogatepass"),
            (item.get("type") or "").encode("utf-8", "surrogatepass")]  # fmt: skip


def _columns(rows: list[list[bytes]]) -> Columns:
    """Rows of ``_raw_fields`` as columns, types as codes."""
    groups, names, urls, kinds = (list(col) for col in zip(*rows, strict=True))
    return groups, names, urls, list(map(_CODES.get, kinds, repeat(b"o")))


class CatalogueWriter:
    def __init__(
        self,
        run_id: str,
        out: IO[bytes],
        spill_dir: str | Path,
        item_budget: int = ITEM_BUDGET,
        id_budget: int = ID_BUDGET,
    ) -> None:
        self.run_id = run_id
        self.out = out
        self.spill_dir = spill_dir
        self.items = 0
        self.group_names: list[str] = []
        self.group_counts: list[int] = []
        self._group_no: dict[bytes, int] = {}
        # Per group: its open block (NDJSON lines, name lines, ITEM_RECORDs), its
        # sealed blocks' members (item, name), their Block entries (members dropped)
        # with the members' lengths, and its items per type.
        self.groups = OpenBlocks(spill_dir, item_budget)
        self.sealed = ChunkSpill(spill_dir, 2, min(item_budget, SEALED_BUDGET))
        self.sealed_blocks: list[list[tuple[Block, int, int]]] = []
        self.type_counts: list[dict[str, int]] = []
        self.ids = ChunkSpill(spill_dir, 1, id_budget)
        self._id_bufs = [self.ids.add_key()[0] for _ in range(BUCKETS)]

    def _group(self, key: bytes) -> int:
        """The group number of a group key, a new one for a new key."""
        gno = self._group_no.get(key)
        if gno is not None:
            return gno
        gno = self._group_no[key] = len(self.group_names)
        self.group_names.append(key.decode("utf-8", "surrogatepass"))
        self.group_counts.append(0)
        self.groups.add_key()
        self.sealed.add_key()
        self.sealed_blocks.append([])
        self.type_counts.append({})
        return gno

    def add(self, items: list[dict[str, Any]], encoded: bytes | None = None) -> None:
        """Take a batch of parser items; ``encoded`` is their NDJSON if already made."""
        if not items:
            return
        if encoded is None:
            encoded = b"".join([orjson.dumps(item) + _NL for item in items])
        lines = encoded.split(_NL)
        if len(lines) != len(items) + 1:
            raise ValueError("encoded batch does not match the items")
        lines.pop()
        self._add_columns(encoded, lines, _columns([_raw_fields(item) for item in items]))

    def add_fields(self, encoded: bytes, fields: bytes) -> None:
        """Take a batch as NDJSON lines plus the parser's catalogue fields for them
        (``M3UParser(fields=True).take_fields()``): nothing to parse per item."""
        if not encoded:
            return
        lines = encoded.split(_NL)
        if lines.pop():
            raise ValueError("an encoded batch ends with a line break")
        parts = fields.split(b"\x00")
        if len(parts) != 4 * len(lines) + 1:
            raise ValueError("the catalogue fields do not match the lines")
        groups, names, urls, codes = parts[0:-1:4], parts[1::4], parts[2::4], parts[3::4]
        if not _CODE_SET.issuperset(codes):  # an item whose fields could not be passed on
            for i in [i for i, code in enumerate(codes) if code not in _CODE_SET]:
                groups[i], names[i], urls[i], kind = _raw_fields(orjson.loads(lines[i]))
                codes[i] = _CODES.get(kind, b"o")
        self._add_columns(encoded, lines, (groups, names, urls, codes))

    def add_encoded(self, encoded: bytes) -> None:
        """Take a batch as NDJSON only (fed the bytes the parse already encoded).

        Most lines start the way the parser writes them (name, url, type, group,
        no escapes): those four fields are sliced out of the bytes by one regex
        match; any other line is decoded in full. Both give the same columns.
        """
        if not encoded:
            return
        # orjson escapes line breaks inside strings: every b"\n" ends an item.
        lines = encoded.split(_NL)
        if lines.pop():
            raise ValueError("an encoded batch ends with a line break")
        match, rows = _FAST_LINE.match, []
        for line in lines:
            m = match(line)
            if m is None:
                rows.append(_raw_fields(orjson.loads(line)))
            else:
                name, url, kind, group = m.groups()
                rows.append([group or b"", name, url, kind])
        self._add_columns(encoded, lines, _columns(rows))

    def _add_columns(self, encoded: bytes, lines: list[bytes], columns: Columns) -> None:
        """The writer's hot path: per-item work done column by column in C where
        it can be (digests, CRCs, records), one short loop for the appends."""
        groups, names, urls, codes = columns
        gnos = list(map(self._group_no.get, groups))
        if None in gnos:  # a batch with new groups
            gnos = list(map(self._group, groups))
        start = self.items
        idents = identity_digests(urls)
        seqs = range(start, start + len(lines))
        fixed = list(map(ITEM_RECORD.pack, idents, seqs, codes))
        # Content without the URL: new credentials alone are not a change.
        crcs = map(crc32, map(bytes.replace, lines, urls, repeat(b"")))
        counts, lists, id_bufs, pack = self.group_counts, self.groups.lists, self._id_bufs, \
            ID_RECORD.pack  # fmt: skip
        size, last, mask = BLOCK_ITEMS, BLOCK_ITEMS - 1, BUCKETS - 1
        for gno, line, name, fx, ident, crc, seq in zip(gnos, lines, names, fixed, idents,
                                                        crcs, seqs, strict=True):  # fmt: skip
            pos = counts[gno]
            counts[gno] = pos + 1
            line_list, name_list, fixed_list = lists[gno]
            line_list.append(line)
            name_list.append(name)
            fixed_list.append(fx)
            id_bufs[(ident[0] << 8 | ident[1]) & mask] += pack(ident, crc, seq, gno, pos)
            if pos % size == last:
                self._seal(gno)
        self.items = start + len(lines)
        self.groups.pending += len(encoded) + sum(map(len, names)) \
            + (ITEM_OVERHEAD - 1) * len(lines)  # fmt: skip
        self.ids.pending += ID_RECORD.size * len(lines)
        self.groups.maybe_flush()
        self.ids.maybe_flush()
        self.sealed.maybe_flush()

    def _seal(self, gno: int) -> None:
        """Compress a full open block now, while the parse still runs."""
        block = make_block(self.groups.take(gno), NO_REPEATS, self.type_counts[gno])
        item_buf, name_buf = self.sealed.buffers[gno]
        item_buf += block.item
        name_buf += block.names
        self.sealed.pending += len(block.item) + len(block.names)
        self.sealed_blocks[gno].append((block._replace(item=b"", names=b""), len(block.item),
                                        len(block.names)))

    def finish(self) -> dict[str, Any]:
        """Write the data file; return the index (see ``layout.load_index``)."""
        try:
            return build.build(self)
        finally:
            self.close()

    def close(self) -> None:
        self.groups.close()
        self.sealed.close()
        self.ids.close()

    def __enter__(self) -> CatalogueWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
