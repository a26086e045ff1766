"""pipeline.sse: encoding, heartbeats, Last-Event-ID and the client-side decoder."""

from __future__ import annotations

import pytest

from pipeline.sse import (
    MAX_EVENT_BYTES,
    Decoder,
    Event,
    encode_event,
    heartbeat,
    parse_last_event_id,
    retry_hint,
)


def test_event_fields_and_json_data() -> None:
    wire = encode_event({"status": "done", "n": 1}, event="done", event_id=7, retry_ms=2000)
    assert wire == (b'event: done\nid: 7\nretry: 2000\ndata: {"status":"done","n":1}\n\n')


def test_multiline_data_is_one_data_line_per_line() -> None:
    assert encode_event("a\nb\r\nc\rd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_ids_and_names_cannot_break_the_framing(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_event("x", event_id=bad)
    with pytest.raises(ValueError):
        encode_event("x", event=bad)


def test_heartbeat_is_a_comment_and_retry_hint_has_no_data() -> None:
    assert heartbeat() == b":\n\n"
    assert heartbeat("hb") == b": hb\n\n"
    decoder = Decoder()
    assert decoder.feed(heartbeat("hb") + retry_hint(1500)) == []
    assert decoder.retry_ms == 1500


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), ("12", 12), (" 12 ", 12), ("0", 0),
    ("-1", None), ("1.5", None), ("abc", None), ("1" * 21, None), ("١٢", None),
])
def test_last_event_id(value: str | None, expected: int | None) -> None:
    assert parse_last_event_id(value) == expected


def test_round_trip_through_the_decoder() -> None:
    wire = b"".join([
        encode_event({"a": 1}, event="queued", event_id=1),
        heartbeat("keep-alive"),
        encode_event("two\nlines", event="progress", event_id=2),
        encode_event("plain"),
    ])
    events = Decoder().feed(wire)
    assert events == [
        Event("queued", '{"a":1}', "1"),
        Event("progress", "two\nlines", "2"),
        Event("message", "plain", "2"),  # the last id stays in force
    ]
    assert events[0].json() == {"a": 1}


def test_decoder_takes_any_split_and_any_line_ending() -> None:
    wire = "\ufeffevent: x\r\nid: 5\rdata: é1\r\n\r\n: c\ndata:no-space\n\n".encode()
    for size in (1, 2, 3, 7):
        decoder = Decoder()
        events = []
        for i in range(0, len(wire), size):
            events += decoder.feed(wire[i:i + size])
        assert events == [Event("x", "é1", "5"), Event("message", "no-space", "5")], size
        assert decoder.last_id == "5"


def test_decoder_follows_the_spec_on_odd_fields() -> None:
    decoder = Decoder()
    wire = (b"event: e\n\n"            # no data: nothing dispatched, event name reset
            b"data\n\n"                  # a field name alone: empty data line
            b"id: a\0b\ndata: x\n\n"     # an id with NUL is ignored
            b"retry: soon\ndata: y\n\n"  # a retry that is not digits is ignored
            b"unknown: z\ndata: w\n\n")
    events = decoder.feed(wire)
    assert [(e.event, e.data, e.id) for e in events] == [
        ("message", "", ""), ("message", "x", ""), ("message", "y", ""), ("message", "w", "")]
    assert decoder.retry_ms is None


def test_unfinished_event_waits_for_the_blank_line() -> None:
    decoder = Decoder()
    assert decoder.feed(b"data: half") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [Event(data="half")]


def test_decoder_memory_is_bounded() -> None:
    with pytest.raises(ValueError, match="line longer"):
        Decoder().feed(b"data: " + b"x" * (MAX_EVENT_BYTES + 1))
    decoder = Decoder()
    line = b"data: " + b"x" * 1000 + b"\n"
    with pytest.raises(ValueError, match="event larger"):
        for _ in range(MAX_EVENT_BYTES // 1000 + 2):
            decoder.feed(line)
