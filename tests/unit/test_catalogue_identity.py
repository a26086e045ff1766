"""pipeline.catalogue.identity: credential-free identities, ids, search folding."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.catalogue.fold import fold
from pipeline.catalogue.identity import (
    identity,
    identity_digest,
    identity_digests,
    make_id,
    parse_id,
    strip_credentials,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:8080/live/U/P/1.ts", "http://h:8080/live/1.ts"),
        ("http://h/movie/U/P/2.mkv", "http://h/movie/2.mkv"),
        ("http://h/series/U/P/3.mp4", "http://h/series/3.mp4"),
        ("http://h/U/P/4.ts", "http://h/4.ts"),
        ("http://h/U/P/4", "http://h/4"),
        ("http://h/timeshift/U/P/60/2024-01-01:10-00/5.ts", "http://h/timeshift/60/2024-01-01:10-00/5.ts"),
        ("http://user:pw@h/x/stream.m3u8", "http://h/x/stream.m3u8"),
        ("HTTP://H.Example/a/b/c.ts", "http://h.example/a/b/c.ts"),
        ("http://h/get.php?username=u&password=p&type=m3u", "http://h/get.php?type=m3u"),
        ("http://h/s.m3u8?token=abc&q=1#frag", "http://h/s.m3u8?q=1"),
        ("http://h/s.m3u8?Api%5FKey=1&x=2", "http://h/s.m3u8?x=2"),
        ("http://h/a/b/name.ts", "http://h/a/b/name.ts"),  # not a stream id: kept
        ("http://h/live/a/b", "http://h/live/a/b"),  # no stream after user/pass
        ("not a url", "not a url"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected
    assert identity(url) == expected


def test_same_stream_with_other_credentials_has_one_identity() -> None:
    assert identity("http://h/live/alice/pw1/7.ts") == identity("http://h/live/bob/pw2/7.ts")
    assert identity("http://h/alice/pw1/7.ts") == identity("http://h/bob/pw2/7.ts")
    assert identity("http://h/live/a/b/7.ts") != identity("http://h/live/a/b/8.ts")


ident_mod = importlib.import_module("pipeline.catalogue.identity")
_segment = st.text(alphabet="abcXYZ019._-%", min_size=0, max_size=6)


@given(
    host=st.sampled_from(["h", "H.ex", "u:p@h:81", "[::1]"]),
    segments=st.lists(st.one_of(_segment, st.sampled_from(["live", "movie", "Series"])),
                      max_size=6),
    tail=st.one_of(_segment, st.from_regex(r"\A\d{1,4}(\.[a-z0-9]{1,3})?\Z")),
)
def test_cached_fast_path_equals_the_rule(host: str, segments: list[str], tail: str) -> None:
    url = f"http://{host}/" + "/".join([*segments, tail])
    ident_mod._prefixes.clear()
    first = identity(url)
    assert first == strip_credentials(url)
    assert identity(url) == first  # second call answers from the prefix cache


# What sends a URL off the fast path: a query, a fragment, outer space, other
# scripts' digits (a str \d matches them), an empty segment, a port-like colon.
_odd = st.sampled_from(["?token=1", "#f", " ", "\u00a0", "\u0663", "//", ":", "é", "/"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(["h", "H.ex", "u:p@h:81"]))
    segments = draw(st.lists(st.one_of(_segment, st.sampled_from(["live", "movie", "u", "p"])),
                             max_size=4))  # fmt: skip
    tail = draw(st.one_of(_segment, st.from_regex(r"\A\d{1,4}(\.[a-z0-9]{1,3})?\Z")))
    url = f"http://{host}/" + "/".join([*segments, tail])
    odd, where = draw(st.one_of(st.just(""), _odd)), draw(st.sampled_from(["start", "end", "in"]))
    if where == "start":
        return odd + url
    if where == "end":
        return url + odd
    cut = draw(st.integers(0, len(url)))
    return url[:cut] + odd + url[cut:]


@given(st.lists(urls(), max_size=12))
def test_identity_digests_equal_the_rule(batch: list[str]) -> None:
    # The bytes fast path (prefix digest states) gives identity_digest's answer.
    ident_mod._byte_prefixes.clear()
    ident_mod._byte_others.clear()
    data = [url.encode() for url in [*batch, "", "x", "/x", " http://h/u/p/1"]]
    expected = [identity_digest(url.decode()) for url in data]
    assert identity_digests(data) == expected
    assert identity_digests(data) == expected  # cached prefixes


def test_ids_round_trip() -> None:
    digest = bytes(range(8))
    assert make_id(digest) == "0001020304050607"
    assert parse_id(make_id(digest)) == (digest, 0)
    assert parse_id(make_id(digest, 3)) == (digest, 3)
    for bad in ("", "xyz", "0001020304050607-0", "0001020304050607-", "00010203040506070"):
        assert parse_id(bad) is None


@pytest.mark.parametrize(
    ("text", "folded"),
    [("Ação", "acao"), ("CORAÇÃO HD", "coracao hd"), ("Straße", "strasse"),
     ("Über\nÉté", "uber\nete"), ("東京", "東京"), ("ABC", "abc")],
)  # fmt: skip
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_removes_runs_of_marks() -> None:
    assert fold("a\u0301\u0302\u0303b\u05b0\u05b1c") == "abc"
