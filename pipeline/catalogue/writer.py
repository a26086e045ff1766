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
import zlib
from pathlib import Path
from typing import IO, Any

import orjson

from pipeline.catalogue import build
from pipeline.catalogue.identity import identity
from pipeline.catalogue.layout import BUCKETS, ID_RECORD, ITEM_RECORD, TYPE_CODES
from pipeline.catalogue.spill import ChunkSpill

# Buffered bytes before spilling: items (with names) and identity records.
ITEM_BUDGET = 24 * 2**20
ID_BUDGET = 8 * 2**20
TYPE_CODES_ANY: dict[Any, bytes] = TYPE_CODES


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
        self._group_no: dict[str, int] = {}
        # Per group: NDJSON lines, name lines, ITEM_RECORDs.
        self.groups = ChunkSpill(spill_dir, 3, item_budget)
        self.ids = ChunkSpill(spill_dir, 1, id_budget)
        self._id_bufs = [self.ids.add_key()[0] for _ in range(BUCKETS)]

    def _new_group(self, name: str) -> int:
        gno = self._group_no[name] = len(self.group_names)
        self.group_names.append(name)
        self.group_counts.append(0)
        self.groups.add_key()
        return gno

    def add(self, items: list[dict[str, Any]], encoded: bytes | None = None) -> None:
        """Take a batch of parser items; ``encoded`` is their NDJSON if already made.

        The loop is the writer's hot path (it runs once per item inside the parse
        child): plain appends to preallocated buffers, no per-item objects kept.
        """
        if encoded is not None:
            lines = encoded.split(b"\n")
            if len(lines) != len(items) + 1:
                raise ValueError("encoded batch does not match the items")
        else:
            lines = [orjson.dumps(item) for item in items]
        group_no, counts, gbufs = self._group_no, self.group_counts, self.groups.buffers
        id_bufs, pack, blake, crc = self._id_bufs, ID_RECORD.pack, hashlib.blake2b, zlib.crc32
        fixed, codes = ITEM_RECORD.pack, TYPE_CODES_ANY
        seq = start = self.items
        names = 0
        for item, enc in zip(items, lines, strict=False):
            group = item.get("group") or ""
            gno = group_no.get(group)
            if gno is None:
                gno = self._new_group(group)
            pos = counts[gno]
            counts[gno] = pos + 1
            url = item["url"]
            ident = blake(identity(url).encode("utf-8", "surrogatepass"),
                          digest_size=8).digest()  # fmt: skip
            name = (item.get("name") or "").encode("utf-8", "surrogatepass")
            line_buf, name_buf, fixed_buf = gbufs[gno]
            line_buf += enc
            line_buf += b"\n"
            name_buf += name
            name_buf += b"\n"
            fixed_buf += fixed(ident, seq, codes.get(item.get("type"), b"o"))
            id_bufs[(ident[0] << 8 | ident[1]) & (BUCKETS - 1)] += pack(
                # Content without the URL: new credentials alone are not a change.
                ident, crc(enc.replace(url.encode("utf-8", "surrogatepass"), b"")), seq, gno, pos)
            seq += 1
            names += len(name)
        self.items = seq
        self.groups.pending += len(encoded or b"") + sum(map(len, lines)) * (encoded is None) \
            + names + (ITEM_RECORD.size + 2) * (seq - start)  # fmt: skip
        self.ids.pending += ID_RECORD.size * (seq - start)
        self.groups.maybe_flush()
        self.ids.maybe_flush()

    def add_encoded(self, encoded: bytes) -> None:
        """Take a batch as NDJSON only (a writer in its own process, fed the bytes
        the parse already encoded, decodes them here in one call)."""
        if encoded:
            # orjson escapes line breaks inside strings: every b"\n" ends an item.
            self.add(orjson.loads(b"[" + encoded[:-1].replace(b"\n", b",") + b"]"), encoded)

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
