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
from array import array
from pathlib import Path
from typing import IO, Any

import orjson

from pipeline.catalogue import build
from pipeline.catalogue.identity import identity
from pipeline.catalogue.layout import BUCKETS, ID_RECORD, TYPE_CODES
from pipeline.catalogue.spill import ChunkSpill

# Buffered bytes before spilling: items (with names) and identity records.
ITEM_BUDGET = 24 * 2**20
ID_BUDGET = 8 * 2**20


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
        # Per group: NDJSON lines, name lines, type codes, identity digests, seqs.
        self.groups = ChunkSpill(spill_dir, 5, item_budget)
        self.ids = ChunkSpill(spill_dir, 1, id_budget)
        self._id_bufs = [self.ids.add_key()[0] for _ in range(BUCKETS)]

    def _new_group(self, name: str) -> int:
        gno = self._group_no[name] = len(self.group_names)
        self.group_names.append(name)
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
        id_bufs, pack, blake, crc = self._id_bufs, ID_RECORD.pack, hashlib.blake2b, zlib.crc32
        codes: dict[Any, bytes] = TYPE_CODES
        digests: list[bytes] = []
        types: list[bytes] = []
        seq, run_start, run_group, gno, pos = self.items, 0, None, 0, 0
        for i, (item, enc) in enumerate(zip(items, lines, strict=True)):
            group = item.get("group") or ""
            if group != run_group:
                if i:
                    self._append_run(gno, items, lines, digests, types, run_start, i)
                run_start, run_group = i, group
                gno = self._gno(group)
                pos = self.group_counts[gno]
            ident = blake(identity(item["url"]).encode("utf-8", "surrogatepass"),
                          digest_size=8).digest()  # fmt: skip
            digests.append(ident)
            types.append(codes.get(item.get("type"), b"o"))
            id_bufs[(ident[0] << 8 | ident[1]) & (BUCKETS - 1)] += pack(
                ident, crc(enc), seq + i, gno, pos + i - run_start)
        if items:
            self._append_run(gno, items, lines, digests, types, run_start, len(items))
        self.items = seq + len(items)
        self.ids.pending += ID_RECORD.size * len(items)
        self.groups.maybe_flush()
        self.ids.maybe_flush()

    def _gno(self, group: str) -> int:
        gno = self._group_no.get(group)
        return self._new_group(group) if gno is None else gno

    def _append_run(self, gno: int, items: list[dict[str, Any]], lines: list[bytes],
                    digests: list[bytes], types: list[bytes], start: int, end: int,
                    ) -> None:  # fmt: skip
        """Append consecutive items of one group (playlists are mostly grouped)."""
        names = [item.get("name") or "" for item in items[start:end]]
        text = "\n".join(names)
        if text.count("\n") != end - start - 1:  # a name with a line break
            text = "\n".join(name.replace("\n", " ") for name in names)
        first = self.items + start
        data = (b"\n".join(lines[start:end]) + b"\n",
                text.encode("utf-8", "surrogatepass") + b"\n",
                b"".join(types[start:end]),
                b"".join(digests[start:end]),
                array("I", range(first, first + end - start)).tobytes())  # fmt: skip
        for buf, part in zip(self.groups.buffers[gno], data, strict=True):
            buf += part
        self.group_counts[gno] += end - start
        self.groups.pending += sum(len(part) for part in data)

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
