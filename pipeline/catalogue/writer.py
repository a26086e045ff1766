"""Catalogue writer: items in playlist order in, one data file and an index out.

    writer = CatalogueWriter(run_id, out_file, spill_dir)
    writer.add(items, encoded)      # encoded: encode_batch(items), if at hand
    index = writer.finish()         # writes the data file, returns the index

``add`` does the per-item work once (group number, position in the group,
identity digest, content digest, the NDJSON line with its id) and appends to
bounded buffers that spill to a temporary file; ``finish`` lays the sections
out (pipeline.catalogue.build).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from pathlib import Path
from typing import IO, Any

import orjson

import pipeline.catalogue.build as build
from pipeline.catalogue.identity import identity
from pipeline.catalogue.layout import BUCKETS, ID_RECORD, ITEM_RECORD, TYPE_CODES
from pipeline.catalogue.spill import ChunkSpill

# Buffered bytes before spilling: items (with names) and identity records.
ITEM_BUDGET = 24 * 2**20
ID_BUDGET = 8 * 2**20
TYPE_CODES_ANY: dict[Any, bytes] = TYPE_CODES
_BYTE_CODES = {kind.encode(): code for kind, code in TYPE_CODES.items()}
# The parser's usual line start; a field with an escape (or absent) takes the slow path.
_FAST_LINE = re.compile(
    rb'\{"name":"([^"\\]*)","url":"([^"\\]*)","type":"([a-z]*)"(?:,"group":"([^"\\]*)")?')
# (group key, name, url, url bytes, type code): what the hot loop needs of an item.
Row = tuple[bytes, bytes, str, bytes, bytes]


def _row(item: dict[str, Any]) -> Row:
    url = item["url"]
    return ((item.get("group") or "").encode("utf-8", "surrogatepass"),
            (item.get("name") or "").encode("utf-8", "surrogatepass"), url,
            url.encode("utf-8", "surrogatepass"), TYPE_CODES_ANY.get(item.get("type"), b"o"))


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
        # Per group: NDJSON lines, name lines, ITEM_RECORDs.
        self.groups = ChunkSpill(spill_dir, 3, item_budget)
        self.ids = ChunkSpill(spill_dir, 1, id_budget)
        self._id_bufs = [self.ids.add_key()[0] for _ in range(BUCKETS)]

    def _new_group(self, key: bytes) -> int:
        gno = self._group_no[key] = len(self.group_names)
        self.group_names.append(key.decode("utf-8", "surrogatepass"))
        self.group_counts.append(0)
        self.groups.add_key()
        return gno

    def add(self, items: list[dict[str, Any]], encoded: bytes | None = None) -> None:
        """Take a batch of parser items; ``encoded`` is their NDJSON if already made."""
        if encoded is not None:
            lines = encoded.split(b"\n")
            if len(lines) != len(items) + 1:
                raise ValueError("encoded batch does not match the items")
            lines.pop()
        else:
            lines = [orjson.dumps(item) for item in items]
        self._add_rows([_row(item) for item in items], lines)

    def add_encoded(self, encoded: bytes) -> None:
        """Take a batch as NDJSON only (a writer in its own process, fed the bytes
        the parse already encoded).

        Most lines start the way the parser writes them (name, url, type, group,
        no escapes): those four fields are sliced out of the bytes by one regex
        match, which costs a fraction of decoding the whole item; any other line
        is decoded in full. Both give the same row.
        """
        if not encoded:
            return
        # orjson escapes line breaks inside strings: every b"\n" ends an item.
        lines = encoded.split(b"\n")
        if lines[-1]:
            raise ValueError("an encoded batch ends with a line break")
        lines.pop()
        match, codes, rows = _FAST_LINE.match, _BYTE_CODES, []
        for line in lines:
            m = match(line)
            if m is None:
                rows.append(_row(orjson.loads(line)))
            else:
                name, url, kind, group = m.groups()
                rows.append((group or b"", name, url.decode(), url, codes.get(kind, b"o")))
        self._add_rows(rows, lines)

    def _add_rows(self, rows: list[Row], lines: list[bytes]) -> None:
        """The writer's hot path (once per item inside the builder): plain appends
        to preallocated buffers, no per-item objects kept."""
        group_no, counts, gbufs = self._group_no, self.group_counts, self.groups.buffers
        id_bufs, pack, blake, crc = self._id_bufs, ID_RECORD.pack, hashlib.blake2b, zlib.crc32
        fixed = ITEM_RECORD.pack
        seq = start = self.items
        size = 0
        for (gkey, name, url, url_b, code), enc in zip(rows, lines, strict=True):
            gno = group_no.get(gkey)
            if gno is None:
                gno = self._new_group(gkey)
            pos = counts[gno]
            counts[gno] = pos + 1
            ident = blake(identity(url).encode("utf-8", "surrogatepass"),
                          digest_size=8).digest()  # fmt: skip
            line_buf, name_buf, fixed_buf = gbufs[gno]
            line_buf += enc
            line_buf += b"\n"
            name_buf += name
            name_buf += b"\n"
            fixed_buf += fixed(ident, seq, code)
            id_bufs[(ident[0] << 8 | ident[1]) & (BUCKETS - 1)] += pack(
                # Content without the URL: new credentials alone are not a change.
                ident, crc(enc.replace(url_b, b"")), seq, gno, pos)
            seq += 1
            size += len(enc) + len(name)
        self.items = seq
        self.groups.pending += size + (ITEM_RECORD.size + 2) * (seq - start)
        self.ids.pending += ID_RECORD.size * (seq - start)
        self.groups.maybe_flush()
        self.ids.maybe_flush()

    def finish(self) -> dict[str, Any]:
        """Write the data file; return the index (see ``layout.load_index``)."""
        try:
            return build.build(self)
        finally:
            self.close()

    def close(self) -> None:
        self.groups.close()
        self.ids.close()

    def __enter__(self) -> CatalogueWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
