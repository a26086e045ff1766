"""The incremental M3U parser: bytes in (any chunking), item dicts out.

It holds at most one partial line (capped at ``max_line_bytes``), the first
bytes until it has decided the body is a playlist, and the pending
``#EXTINF`` line with its directives; memory does not grow with the input.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from pipeline.m3u.attrs import header_attrs
from pipeline.m3u.entry import build_general, fast_item
from pipeline.m3u.fastline import LineWriter, needs_escapes, never
from pipeline.m3u.limits import MAX_LINE_BYTES
from pipeline.m3u.options import Extra, is_location
from pipeline.m3u.sniff import BOM, SNIFF_BYTES, Sniffer, decode_line, first_end
from pipeline.m3u.stats import Item, ParseStats

_LONG_DIRECTIVE = "\n#"  # markers for over-long lines; real lines never hold "\n"
_LONG_OTHER = "\n"
_ENTRY_TAGS = frozenset(("#EXTVLCOPT", "#KODIPROP", "#EXTGRP", "#EXTHTTP"))
Fast = Callable[[str, str], Any]


class M3UParser:
    """Feed byte chunks of any size and boundary; get item dicts back.

    ``feed`` and ``close`` return lists of items; ``header`` holds the
    ``#EXTM3U`` attributes and ``stats`` the counters. A body that is not a
    playlist raises ``pipeline.errors.NotAPlaylist`` from ``feed`` or
    ``close`` within its first ``sniff_bytes``; ``sniff=False`` skips that
    check (and the BOM) for input that continues a checked body. With
    ``fields``, ``take_fields`` gives the catalogue fields of the NDJSON lines.
    """

    def __init__(
        self,
        max_line_bytes: int = MAX_LINE_BYTES,
        sniff_bytes: int = SNIFF_BYTES,
        *,
        sniff: bool = True,
        fields: bool = False,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.header: dict[str, str] = {}
        self.stats = ParseStats()
        self._quarter = max_line_bytes // 4
        self._buf = bytearray()
        self._skipping = False
        # Bytes held until the body is known to be a playlist (None: decided, or
        # sniff=False for a block that continues an already checked body).
        self._head: bytearray | None = bytearray() if sniff else None
        self._bom_checked = not sniff
        self._sniffer = Sniffer(sniff_bytes)
        self._pending: str | None = None
        self._extra: Extra | None = None
        self._closed = False
        self._lines = LineWriter(fields)
        self._writer: LineWriter | None = None  # set: feed_ndjson() is running

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Item]:
        """Parse one chunk; return the items completed by it."""
        self._writer = None
        items: list[Item] = self._feed_any(chunk)
        self.stats.add_items(items)
        return items

    def feed_ndjson(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Parse one chunk; return its items as NDJSON lines.

        The bytes equal ``encode_batch(feed(chunk))``, about twice as fast:
        most lines are written without building an item dict (``fastline``).
        """
        self._writer = self._lines
        out = self._feed_any(chunk)
        self._lines.flush(self.stats)
        return "".join(out).encode()

    def take_fields(self) -> bytes:
        """The catalogue fields of the lines ``feed_ndjson``/``close_ndjson`` returned
        since the last call (``LineWriter.take_fields``); needs ``fields=True``."""
        return self._lines.take_fields()

    def close(self) -> list[Item]:
        """Flush the last line (which may lack a line end); return its item.

        An ``#EXTINF`` still waiting for its URL is dropped and counted.
        """
        self._writer = None
        items: list[Item] = self._close_any()
        self.stats.add_items(items)
        return items

    def close_ndjson(self) -> bytes:
        """``close`` for ``feed_ndjson``: the last NDJSON lines."""
        self._writer = self._lines
        out = self._close_any()
        self._lines.flush(self.stats)
        return "".join(out).encode()

    def _feed_any(self, chunk: bytes | bytearray | memoryview) -> list[Any]:
        if not chunk:
            return []
        if self._closed:
            raise ValueError("feed() after close()")
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # bytearray / memoryview
        self.stats.bytes += len(chunk)
        # Items hold no reference cycles: pausing the cyclic GC while they are
        # built saves it from scanning every new dict (a few % of parse time).
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            if self._head is None:
                return self._feed(chunk)
            self._head += chunk
            if not self._sniff(b"\n" in chunk or b"\r" in chunk, final=False):
                return []
            return self._feed(self._release_head())
        finally:
            if paused:
                gc.enable()

    def _close_any(self) -> list[Any]:
        if self._closed:
            return []
        self._closed = True
        out: list[Any] = []
        if self._head is not None:
            self._sniff(True, final=True)
            out = self._feed(self._release_head())
        tail, self._buf = bytes(self._buf), bytearray()
        if tail and not self._skipping:
            out += self._block(tail)
        self._skipping = False
        if self._pending is not None:
            self.stats.dropped_entries += 1
            self._pending = None
        self._extra = None
        return out

    # -- start of body -------------------------------------------------------

    def _sniff(self, new_line: bool, final: bool) -> bool:
        head = self._head
        assert head is not None
        if not self._bom_checked:
            if len(head) < len(BOM) and BOM.startswith(head) and not final:
                return False
            if head.startswith(BOM):
                del head[: len(BOM)]
            self._bom_checked = True
        if not (new_line or final or len(head) >= self._sniffer.limit):
            return False
        return self._sniffer.check(head, final)

    def _release_head(self) -> bytes:
        assert self._head is not None
        data, self._head = bytes(self._head), None
        return data

    # -- lines ---------------------------------------------------------------

    def _feed(self, data: bytes) -> list[Any]:
        if self._skipping:
            end = first_end(data)
            if end < 0:
                return []
            data = data[end + 1 :]
            self._skipping = False
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        out: list[Any] = []
        if cut >= 0:
            if self._buf:
                data = bytes(self._buf) + data
                cut += len(self._buf)
                self._buf = bytearray()
            out = self._block(data[:cut])
            self._buf += data[cut + 1 :]
        else:
            self._buf += data
        if len(self._buf) > self.max_line_bytes:
            self._long_line(self._buf[:1] == b"#")
            self._skipping = True
            self._buf = bytearray()
        return out

    def _block(self, block: bytes) -> list[Any]:
        """Items (or NDJSON lines) from whole lines (``block`` holds no partial line)."""
        writer = self._writer
        fast: Fast = fast_item
        if writer is not None:
            fast = never if needs_escapes(block, self._pending) else writer.fast
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            limit = self.max_line_bytes
            lines = [
                decode_line(raw)
                if len(raw) <= limit
                else _LONG_DIRECTIVE
                if raw[:1] == b"#"
                else _LONG_OTHER
                for raw in block.splitlines()
            ]
            return self._consume(lines, never if writer is not None else fast)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return self._consume(text.split("\n"), fast)

    def _consume(self, lines: list[str], fast: Fast) -> list[Any]:
        """Items from lines; with ``feed_ndjson`` running, their NDJSON lines."""
        out: list[Any] = []
        append = out.append
        pending, extra = self._pending, self._extra
        quarter = self._quarter
        dropped = bad = 0
        for line in lines:
            if not line:
                continue
            if len(line) > quarter or line[0] <= " " or line[-1] <= " ":
                odd = self._odd(line)
                # An over-long URL line ends its entry (lost: counted), even one of
                # directives only, as block cuts after URL lines assume (parallel.py).
                if odd is None and (pending is not None or extra is not None):
                    bad += 1
                    pending = extra = None
                if not odd:
                    continue
                line = odd
            if line[0] == "#":
                if line.startswith("#EXTINF:"):
                    if pending is not None:
                        dropped += 1
                        extra = None
                    pending = line
                else:
                    pending, extra, dropped = self._directive(line, pending, extra, dropped)
                continue
            try:
                item = fast(pending, line) if pending is not None and extra is None else None
                if item is None:
                    item = self._general(pending, line, extra)
                    if item is None:  # not an entry's URL: the entry goes on
                        continue
                append(item)
            except Exception:  # one bad entry never aborts the file
                bad += 1
            pending = extra = None
        self._pending, self._extra = pending, extra
        stats = self.stats
        stats.items += len(out)
        stats.dropped_entries += dropped
        stats.bad_entries += bad
        return out

    def _odd(self, line: str) -> str | None:
        """A line that is long or has outer whitespace: stripped; "" to skip it;
        None for an over-long line that is not a directive (both counted)."""
        if (
            len(line) > self._quarter
            and len(line.encode("utf-8", "surrogatepass")) > self.max_line_bytes
        ):
            self.stats.long_lines += 1
            return "" if line[0] == "#" else None
        if line[0] == "\n":  # a marker from _block (an over-long line of undecodable bytes)
            self.stats.long_lines += 1
            return "" if line == _LONG_DIRECTIVE else None
        return line.strip()

    def _general(self, pending: str | None, line: str, extra: Extra | None) -> Any:
        """The item (or NDJSON line) of a URL line off the fast path; None when the
        line is outside an entry and looks like no URI or path (skipped, counted)."""
        if pending is None and not is_location(line):
            self.stats.skipped_lines += 1
            return None
        item = build_general(pending, line, extra)
        return item if self._writer is None else self._writer.item(item)

    def _directive(
        self, line: str, pending: str | None, extra: Extra | None, dropped: int
    ) -> tuple[str | None, Extra | None, int]:
        """Handle a ``#`` line other than a canonical ``#EXTINF:``."""
        head = line[:7].upper()
        if head == "#EXTINF":
            if pending is not None:
                dropped += 1
                extra = None
            return "#EXTINF:" + (line[8:] if line[7:8] == ":" else line[7:]), extra, dropped
        if head == "#EXTM3U":
            for name, value in header_attrs(line).items():
                self.header.setdefault(name, value)
            return pending, extra, dropped
        colon = line.find(":")
        tag = line[:colon].upper().rstrip() if colon > 0 else ""
        if tag in _ENTRY_TAGS:
            if extra is None:
                extra = Extra()
            if extra.apply(tag, line[colon + 1 :]):
                return pending, extra, dropped
        self.stats.skipped_lines += 1
        return pending, extra, dropped

    def _long_line(self, directive: bool) -> None:
        """A partial line grew past ``max_line_bytes``: skip it and count it."""
        self.stats.long_lines += 1
        if not directive and (self._pending is not None or self._extra is not None):
            self.stats.bad_entries += 1
            self._pending = self._extra = None
