"""Server-sent events (`text/event-stream`): encoding, heartbeats, resume ids, decoding.

Pure, no network. The wire format is the WHATWG HTML "server-sent events" one;
what the pipeline puts in it is in docs/events.md. Event ids are decimal
sequence numbers, so `Last-Event-ID` tells the server where to resume.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

CONTENT_TYPE = "text/event-stream"
# Headers for an SSE answer: no caching, and no proxy buffering (nginx honours the last).
HEADERS = {
    "Content-Type": f"{CONTENT_TYPE}; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
# A Last-Event-ID longer than this is not one of ours (ids are decimal sequence numbers).
MAX_ID_CHARS = 20
_FORBIDDEN = ("\n", "\r", "\0")
# The decoder refuses a line or an event larger than this (a broken or hostile server).
MAX_EVENT_BYTES = 1024 * 1024
_EOL = re.compile(rb"\r\n|\r|\n")


def _single_line(name: str, value: str) -> str:
    if any(ch in value for ch in _FORBIDDEN):
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL")
    return value


def encode_event(data: Any, *, event: str | None = None, event_id: str | int | None = None,
                 retry_ms: int | None = None) -> bytes:
    """One event: `event:`, `id:`, `retry:` and one `data:` line per line of data.

    `data` that is not a string is sent as compact JSON (one line).
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines: list[str] = []
    if event is not None:
        lines.append(f"event: {_single_line('event', event)}")
    if event_id is not None:
        lines.append(f"id: {_single_line('id', str(event_id))}")
    if retry_ms is not None:
        if retry_ms < 0:
            raise ValueError("retry must be a non-negative number of milliseconds")
        lines.append(f"retry: {int(retry_ms)}")
    # splitlines() would also split on \x0b, \x1c ...; SSE knows only CR, LF and CRLF.
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        lines.append(f"data: {line}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def heartbeat(comment: str = "") -> bytes:
    """A comment line: keeps proxies and idle timeouts from closing a quiet stream."""
    return f":{' ' + _single_line('comment', comment) if comment else ''}\n\n".encode()


def retry_hint(retry_ms: int) -> bytes:
    """Only a `retry:` field: how long a client waits before reconnecting."""
    return f"retry: {int(retry_ms)}\n\n".encode()


def parse_last_event_id(value: str | None) -> int | None:
    """The sequence number a client resumes after, or None (absent or not ours)."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_ID_CHARS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True)
class Event:
    """One dispatched event, as a browser's EventSource would see it."""

    event: str = "message"
    data: str = ""
    id: str = ""  # the last event id in force when this event was dispatched
    retry_ms: int | None = None

    def json(self) -> Any:
        """`data` parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.data)


class Decoder:
    """Incremental `text/event-stream` parser: feed bytes, get whole events."""

    def __init__(self) -> None:
        self.last_id = ""
        self.retry_ms: int | None = None
        self._buffer = b""
        self._started = False
        self._cr_pending = False
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by `chunk` (a partial event waits for more bytes).

        Raises ValueError for a line or event over MAX_EVENT_BYTES.
        """
        self._buffer += chunk
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise ValueError(f"event stream line longer than {MAX_EVENT_BYTES} bytes")
        events: list[Event] = []
        for line in self._lines():
            done = self._line(line)
            if done is not None:
                events.append(done)
        return events

    def _lines(self) -> list[str]:
        """Split off complete lines; CR, LF and CRLF all end a line."""
        raw = self._buffer
        if self._cr_pending and raw.startswith(b"\n"):
            raw = raw[1:]  # the LF of a CRLF that was split across two chunks
        self._cr_pending = False
        if not self._started and (len(raw) >= 3 or _EOL.search(raw)):
            self._started = True
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM may open the stream
        out, start = [], 0
        for match in _EOL.finditer(raw):
            out.append(raw[start:match.start()].decode("utf-8", errors="replace"))
            start = match.end()
            self._cr_pending = match.group() == b"\r" and start == len(raw)
        self._buffer = raw[start:]
        return out

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (heartbeat)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:
                raise ValueError(f"event stream event larger than {MAX_EVENT_BYTES} bytes")
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, event, retry = self._data, self._event or "message", self._retry
        self._reset()
        if not data:
            return None  # per the spec: no data, no event (a bare retry: still counts)
        return Event(event=event, data="\n".join(data), id=self.last_id, retry_ms=retry)
