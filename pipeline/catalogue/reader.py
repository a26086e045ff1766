"""Read one run's catalogue through byte-range reads: groups, pages, search, one item.

``read_range(offset, length)`` is async because its real implementation is a
ranged S3 GET on the worker's event loop (aiobotocore); tests hand in an
async function over a local file. The index is parsed once per run and can be
cached: a run's objects never change.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson

import pipeline.catalogue.cursor as cursors
from pipeline.catalogue.errors import BadCatalogue
from pipeline.catalogue.fold import fold
from pipeline.catalogue.identity import make_id, parse_id
from pipeline.catalogue.layout import (
    BLOCK_ITEMS,
    ID_RECORD,
    ITEM_RECORD,
    REPEAT,
    REPEAT_COUNT,
    TYPE_CODES,
    bucket_of,
    gunzip,
    type_bit,
)
from pipeline.errors import BadRequest, NotFound

ReadRange = Callable[[int, int], Awaitable[bytes]]
Item = dict[str, Any]
Record = tuple[bytes, bytes, int, int, int]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_Q_CHARS = 200
# Members closer than MAX_GAP bytes are fetched in one read of at most MAX_SPAN bytes.
MAX_GAP = 256 * 2**10
MAX_SPAN = 8 * 2**20
# Blocks looked at per round: names are small, so a search looks further ahead.
FIRST_WINDOW, SEARCH_WINDOW, MAX_WINDOW = 2, 32, 512


class Catalogue:
    def __init__(self, index: dict[str, Any], read_range: ReadRange) -> None:
        self.index, self.read_range = index, read_range
        self.run: str = index["run"]
        self.blocks: list[list[int]] = index["blocks"]
        self._groups: list[dict[str, Any]] = index["groups"]
        self._by_name = {group["name"]: gno for gno, group in enumerate(self._groups)}

    def groups(self) -> list[dict[str, Any]]:
        """Groups in playlist order with their item counts by type."""
        return [{"name": g["name"], "items": g["items"], "counts": g["counts"]}
                for g in self._groups]  # fmt: skip

    async def read_members(self, spans: list[tuple[int, int]]) -> list[bytes]:
        """Decompressed members at ``(offset, length)`` spans (ascending), coalesced."""
        out: list[bytes] = []
        i = 0
        while i < len(spans):
            start, end, j = spans[i][0], sum(spans[i]), i + 1
            while j < len(spans) and spans[j][0] - end <= MAX_GAP \
                    and sum(spans[j]) - start <= MAX_SPAN:  # fmt: skip
                end, j = max(end, sum(spans[j])), j + 1
            data = await self.read_range(start, end - start)
            if len(data) != end - start:
                raise BadCatalogue("short read from the catalogue object")
            out += [gunzip(data[o - start : o - start + n]) for o, n in spans[i:j]]
            i = j
        return out

    async def lines(self, wanted: Iterable[tuple[int, list[int] | None]]) -> AsyncIterator[
            tuple[int, int, bytes, str]]:  # fmt: skip
        """``(block, line no, NDJSON line, item id)`` for the given lines (None: all)."""
        wanted = list(wanted)
        members = await self.read_members([(self.blocks[b][0], self.blocks[b][1])
                                           for b, _ in wanted])  # fmt: skip
        for (block, which), data in zip(wanted, members, strict=True):
            n = self.blocks[block][5]
            (r,) = REPEAT_COUNT.unpack_from(data)
            repeats = dict(REPEAT.iter_unpack(data[4 : 4 + 8 * r]))
            records = data[4 + 8 * r : 4 + 8 * r + ITEM_RECORD.size * n]
            lines = data[4 + 8 * r + ITEM_RECORD.size * n :].split(b"\n")
            if len(lines) != n + 1:
                raise BadCatalogue("a block holds another item count than its index entry")
            for i in range(n) if which is None else which:
                ident = records[ITEM_RECORD.size * i : ITEM_RECORD.size * i + 8]
                yield block, i, lines[i], make_id(ident, repeats.get(i, 0))

    async def _names(self, window: list[int], qf: str, code: int | None, first: tuple[int, int],
                     ) -> list[tuple[int, list[int] | None]]:  # fmt: skip
        members = await self.read_members([(self.blocks[b][2], self.blocks[b][3]) for b in window])
        needle = qf.encode("utf-8", "surrogatepass")
        found: list[tuple[int, list[int] | None]] = []
        for block, data in zip(window, members, strict=True):
            n = self.blocks[block][5]
            if needle not in data:  # most blocks: no decode at all
                continue
            text = data[n:].decode("utf-8", "surrogatepass")
            start = first[1] if block == first[0] else 0
            hits = [i for i, name in enumerate(text.split("\n"))
                    if i >= start and qf in name and (code is None or data[i] == code)]
            if hits:
                found.append((block, hits))
        return found

    async def _scan(self, block: int, line: int, end: int, kind: str | None, qf: str | None,
                    limit: int) -> AsyncGenerator[tuple[int, int, Item], None]:  # fmt: skip
        bit, first, yielded = type_bit(kind), (block, line), 0
        # With an exact type code every hit is yielded, so hits past the page need no read.
        exact = kind is None or kind in TYPE_CODES
        code = TYPE_CODES.get(kind, b"o")[0] if kind is not None else None
        size = SEARCH_WINDOW if qf else FIRST_WINDOW
        while block < end:
            window = [b for b in range(block, min(end, block + size)) if self.blocks[b][4] & bit]
            block, size = block + size, min(size * 2, MAX_WINDOW)
            if qf:
                wanted = await self._names(window, qf, code, first)
                if exact:
                    wanted = _first_hits(wanted, limit - yielded)
            else:
                wanted = [(b, list(range(line, self.blocks[b][5])) if b == first[0] else None)
                          for b in window]  # fmt: skip
            async for b, i, raw, item_id in self.lines(wanted):
                item = orjson.loads(raw)
                if kind is None or item.get("type") == kind:
                    yielded += 1
                    yield b, i, {"id": item_id, **item}

    def _range(self, group: str | None) -> tuple[int, int] | None:
        if group is None:
            return 0, len(self.blocks)
        gno = self._by_name.get(group)
        if gno is None:
            return None
        first = self._groups[gno]["first_block"]
        return first, first + self._groups[gno]["blocks"]

    async def page(self, group: str | None = None, kind: str | None = None,
                   q: str | None = None, limit: int = DEFAULT_LIMIT,
                   cursor: str | None = None) -> tuple[list[Item], str | None]:  # fmt: skip
        """Up to ``limit`` items of a group (None: all groups) in playlist order,
        optionally of one type and/or whose folded name contains folded ``q``;
        and the cursor of the next page (None when the range is exhausted)."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        q = q.strip() if q else None
        if q is not None and len(q) > MAX_Q_CHARS:
            raise BadRequest(f"q is longer than {MAX_Q_CHARS} characters")
        filters = (group, kind, q or None)
        span = self._range(group)
        if span is None:
            return [], None
        block, line = span[0], 0
        if cursor is not None:
            block, line = cursors.decode(cursor, self.run, filters)
            if not span[0] <= block <= span[1]:
                raise BadRequest("the cursor does not point into this group")
        items: list[Item] = []
        scan = self._scan(block, line, span[1], kind, fold(q) if q else None, limit)
        async for b, i, item in scan:
            items.append(item)
            if len(items) == limit:
                await scan.aclose()
                return items, self._next(b, i, span[1], filters)
        return items, None

    def _next(self, block: int, line: int, end: int, filters: cursors.Filters) -> str | None:
        line += 1
        if line >= self.blocks[block][5]:
            block, line = block + 1, 0
        return None if block >= end else cursors.encode(self.run, filters, block, line)

    async def item(self, item_id: str) -> Item:
        """The item with this id; NotFound when this run has none."""
        parsed = parse_id(item_id) if isinstance(item_id, str) else None
        if parsed is None:
            raise NotFound("no such item")
        ident, k = parsed
        records = await self.bucket(bucket_of(ident))
        j = bisect.bisect_left(records, ident, key=lambda rec: rec[0]) + k
        if j >= len(records) or records[j][0] != ident:
            raise NotFound("no such item")
        gno, pos = records[j][3], records[j][4]
        block = self._groups[gno]["first_block"] + pos // BLOCK_ITEMS
        async for _b, _i, raw, found in self.lines([(block, [pos % BLOCK_ITEMS])]):
            if found != item_id:
                raise BadCatalogue("the identity section and the block disagree")
            item: Item = {"id": found, **orjson.loads(raw)}
            return item
        raise NotFound("no such item")  # pragma: no cover - lines() always yields

    async def buckets(self, first: int, count: int) -> list[list[Record]]:
        """Identity buckets ``first .. first+count-1`` in one coalesced read."""
        spans = self.index["ids"][first : first + count]
        members = await self.read_members([(o, n) for o, n in spans if n])
        it = iter(members)
        return [list(ID_RECORD.iter_unpack(next(it))) if n else [] for _o, n in spans]

    async def bucket(self, bucket: int) -> list[Record]:
        """An identity bucket's records ``(identity, content, seq, group, position)``,
        sorted by identity digest, repeats of a URL in playlist order."""
        offset, length = self.index["ids"][bucket]
        if not length:
            return []
        (data,) = await self.read_members([(offset, length)])
        return list(ID_RECORD.iter_unpack(data))


def _first_hits(wanted: list[tuple[int, list[int] | None]], count: int,
                ) -> list[tuple[int, list[int] | None]]:  # fmt: skip
    """The first ``count`` hits of ``wanted`` (search hits: line lists, never None)."""
    out: list[tuple[int, list[int] | None]] = []
    for block, lines in wanted:
        if count <= 0:
            break
        assert lines is not None
        out.append((block, lines[:count]))
        count -= len(lines)
    return out
