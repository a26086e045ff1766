"""The per-run catalogue layout: constants, record formats, object names, the index.

One data object holds three sections, each a run of independent gzip
members: identity buckets (sorted id records), item blocks (NDJSON, grouped,
playlist order inside a group) and name blocks (folded names, one line per
item, same order). A small JSON index gives every member's byte range. See
docs/catalogue.md.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson

from pipeline.catalogue.errors import BadCatalogue
from pipeline.m3u.ndjson import gzip_compressor

FORMAT = 1
# Items per block: a 100-item page reads one or two ~15 KB members.
BLOCK_ITEMS = 256
# Identity buckets (power of two): ~830 records (~12 KB gzip) each at 850k items.
BUCKETS = 1024
# One identity record: identity digest, content CRC-32, seq, group number, position.
ID_RECORD = struct.Struct("<8sIIII")
# One item's fixed part in a block: identity digest, seq, type code.
ITEM_RECORD = struct.Struct("<8sIc")
# The repeat table heading a block: count, then (item index, repeat number) pairs.
REPEAT_COUNT, REPEAT = struct.Struct("<I"), struct.Struct("<II")
TYPE_CODES = {"live": b"l", "movie": b"m", "series": b"s"}
TYPE_BITS = {b"l": 1, b"m": 2, b"s": 4, b"o": 8}
GZIP_LEVEL = 1


def _load_isal() -> Any:
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    return isal_zlib


_ISAL = _load_isal()
# zlib's interface: ISA-L's when installed (same formats and CRC values, several times faster).
ZLIB: Any = _ISAL if _ISAL is not None else zlib
crc32 = ZLIB.crc32


def gzip_member(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    comp = gzip_compressor(level)
    return comp.compress(data) + comp.flush()


def gunzip(data: bytes) -> bytes:
    if _ISAL is not None:
        return bytes(_ISAL.decompress(data, wbits=31))
    return zlib.decompress(data, 31)


def bucket_of(ident: bytes) -> int:
    return (ident[0] << 8 | ident[1]) & (BUCKETS - 1)


def type_bit(kind: str | None) -> int:
    """The block type-mask bit of an item type (None: any type)."""
    if kind is None:
        return 0xFF
    return TYPE_BITS[TYPE_CODES.get(kind, b"o")]


def object_keys(job_id: str, run_id: str) -> dict[str, str]:
    """Every object one run owns (retention deletes exactly these)."""
    base = f"results/{job_id}/{run_id}"
    return {
        "ndjson": f"{base}.ndjson.gz",
        "data": f"{base}.catalogue",
        "index": f"{base}.catalogue.json",
        "diff": f"{base}.diff.ndjson.gz",
    }


def dump_index(index: dict[str, Any]) -> bytes:
    return orjson.dumps(index)


def load_index(data: bytes) -> dict[str, Any]:
    """Parse and sanity-check an index object."""
    try:
        index = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadCatalogue(f"catalogue index is not JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise BadCatalogue("catalogue index has an unknown format")
    for key in ("run", "groups", "blocks", "ids"):
        if key not in index:
            raise BadCatalogue(f"catalogue index has no {key!r}")
    if len(index["ids"]) != BUCKETS:
        raise BadCatalogue("catalogue index has another bucket count")
    return index
