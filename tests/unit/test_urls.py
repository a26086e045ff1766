"""pipeline.urls: normalisation, job ids, validation, redaction."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pipeline.errors import InvalidURL, URLRefused
from pipeline.urls import (
    job_id_for,
    normalize_url,
    parse_ip_literal,
    redact_text,
    redact_url,
    validate_playlist_url,
)

# --- normalize_url / job_id_for


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/List.m3u", "http://example.com/List.m3u"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com:8443", "https://example.com:8443/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a#frag", "http://example.com/a"),
        ("http://example.com/get.php?B=2&a=1", "http://example.com/get.php?B=2&a=1"),
        ("http://example.com/?x=%7E#y", "http://example.com/?x=%7E"),
        ("http://example.com./a", "http://example.com/a"),
        ("http://BÜCHER.de/x", "http://xn--bcher-kva.de/x"),
        ("http://xn--bcher-kva.de/x", "http://xn--bcher-kva.de/x"),
        ("http://u:P@Example.com:80/", "http://u:P@example.com/"),
        ("http://[::FFFF:127.0.0.1]:80/", "http://[::ffff:7f00:1]/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("  http://example.com/a  ", "http://example.com/a"),
    ],
)
def test_normalize_url(raw: str, expected: str) -> None:
    assert normalize_url(raw) == expected


@pytest.mark.parametrize(
    "bad", ["http://", "http://host:99999/", "http://host:abc/", "http://[::1"]
)
def test_normalize_url_rejects_garbage(bad: str) -> None:
    with pytest.raises(InvalidURL):
        normalize_url(bad)


def test_job_id_is_stable_and_shaped() -> None:
    job_id = job_id_for("http://example.com/get.php?username=a&password=b")
    assert len(job_id) == 32
    assert all(ch in string.hexdigits for ch in job_id)
    assert job_id == job_id_for("HTTP://EXAMPLE.com:80/get.php?username=a&password=b#x")


def test_job_id_differs_by_query_and_credentials() -> None:
    base = job_id_for("http://example.com/get.php?username=a&password=b")
    assert base != job_id_for("http://example.com/get.php?username=a&password=c")
    assert base != job_id_for("http://example.com/get.php?password=b&username=a")
    assert job_id_for("http://a@h/") != job_id_for("http://b@h/")


def test_job_id_pinned_value() -> None:
    import hashlib

    expected = hashlib.sha256(b"http://example.com/list.m3u").hexdigest()[:32]
    assert job_id_for("http://EXAMPLE.com:80/list.m3u#top") == expected


# --- validate_playlist_url


@pytest.mark.parametrize(
    "good",
    [
        "http://example.com/get.php?username=a&password=b&type=m3u_plus",
        "https://example.com:8443/list.m3u",
        "http://192.0.2.1:25461/x",
        "http://[2001:db8::1]:8080/x",
        "http://bücher.de/x",
        "http://ex_ample.com/",
    ],
)
def test_validate_accepts(good: str) -> None:
    assert validate_playlist_url(f"  {good}\n", 4096) == good


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (None, "string"),
        (42, "string"),
        (b"http://x/", "string"),
        ("", "empty"),
        ("   ", "empty"),
        ("http://a.com/" + "x" * 100, "limit"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\x00", "control"),
        ("http://example.com/a\tb", "whitespace"),
        ("http://example.com/\u202egnp.m3u", "invisible"),
        ("http://exa\u200bmple.com/", "invisible"),
        ("example.com/list.m3u", "no scheme"),
        ("example.com:8080/list.m3u", "no scheme"),
        ("http:/example.com", "no host"),
        ("http://", "no host"),
        ("http://:80/", "no host"),
        ("http://host:0/", "port"),
        ("http://host:70000/", "port"),
        ("http://a\\@b/", "backslash"),
        ("http://bad..host/", "host"),
        ("http://[::1/", "IPv6"),
    ],
)
def test_validate_rejects_invalid(bad: object, words: str) -> None:
    with pytest.raises(InvalidURL) as info:
        validate_playlist_url(bad, 64)
    assert words in info.value.message
    assert info.value.code == "invalid_url"


@pytest.mark.parametrize(
    "refused", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "FILE://x/y", "data:,x"]
)
def test_validate_refuses_schemes(refused: str) -> None:
    with pytest.raises(URLRefused) as info:
        validate_playlist_url(refused, 4096)
    assert "scheme" in info.value.message
    assert info.value.http_status == 422


# --- redaction


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "http://host/get.php?username=joe&password=s3cret&type=m3u_plus",
            "http://host/get.php?username=***&password=***&type=m3u_plus",
        ),
        ("http://joe:s3cret@host/x", "http://***:***@host/x"),
        ("http://joe@host/x", "http://***@host/x"),
        ("http://host/live/joe/s3cret/123.ts", "http://host/live/***/***/123.ts"),
        ("http://host/movie/joe/s3cret/9.mkv", "http://host/movie/***/***/9.mkv"),
        ("http://host/series/joe/s3cret/9.mp4", "http://host/series/***/***/9.mp4"),
        (
            "http://host/timeshift/joe/s3cret/60/2024/1.ts",
            "http://host/timeshift/***/***/60/2024/1.ts",
        ),
        (
            "http://host/a?PassWord=x&Token=y&sig=z;api_key=k",
            "http://host/a?PassWord=***&Token=***&sig=***;api_key=***",
        ),
        ("http://host/a?pass%77ord=x", "http://host/a?pass%77ord=***"),
        ("http://host/a?x=1&keep=2", "http://host/a?x=1&keep=2"),
        ("http://host/list.m3u", "http://host/list.m3u"),
        ("http://host:8080/joe/s3cret/1234", "http://host:8080/***/***/1234"),
        ("http://host:8080/joe/s3cret/1234.m3u8", "http://host:8080/***/***/1234.m3u8"),
        ("http://host:8080/joe/s3cret/", "http://host:8080/***/***/"),
        ("http://host/lists/2024/list.m3u", "http://host/lists/2024/list.m3u"),
        ("joe:s3cret@host/x", "***:***@host/x"),
        ("/live/joe/s3cret/1.ts", "/live/***/***/1.ts"),
        ("http://host/#password=x", "http://host/#password=***"),
    ],
)
def test_redact_url(raw: str, expected: str) -> None:
    assert redact_url(raw) == expected


@pytest.mark.parametrize("garbage", ["http://[::1", "", "::::", "http://%%%/", "\x00\xff", None, 3])
def test_redact_url_never_raises(garbage: object) -> None:
    out = redact_url(garbage)  # type: ignore[arg-type]
    assert isinstance(out, str)


def test_redact_text_finds_urls_and_pairs() -> None:
    text = (
        "fetch of http://joe:pw1@h/x failed (see https://h/get.php?username=joe&password=pw2). "
        "Retry with password=pw3 user=joe; also GET /live/joe/pw4/1.ts"
    )
    out = redact_text(text)
    for secret in ("pw1", "pw2", "pw3", "pw4", "joe"):
        assert secret not in out
    assert out.startswith("fetch of http://***:***@h/x failed (see https://h/get.php?")
    assert out.endswith("/live/***/***/1.ts")
    assert "). Retry" in out


def test_redact_text_keeps_harmless_text() -> None:
    text = "parse_end items=12 see http://example.com/list.m3u."
    assert redact_text(text) == text


_URL_TEMPLATES = [
    "http://joe:{pw}@iptv.example.net:8080/get.php",
    "http://iptv.example.net/get.php?username=joe&password={pw}&type=m3u_plus",
    "http://iptv.example.net/get.php?username={pw}&password=x",
    "https://iptv.example.net/live/joe/{pw}/1234.ts",
    "http://iptv.example.net:8080/joe/{pw}/1234",
    "http://iptv.example.net:8080/{pw}/joe/",
    "https://iptv.example.net/movie/{pw}/joe/1234.mkv",
    "https://iptv.example.net/timeshift/joe/{pw}/60/2024-01-01:10-00/1.ts",
    "http://iptv.example.net/x?a=1&API_KEY={pw}#f",
    "{pw}:{pw}@iptv.example.net/x",
]


@given(
    pw=st.text(min_size=4, max_size=40).filter(lambda s: "*" not in s),
    template=st.sampled_from(_URL_TEMPLATES),
)
def test_password_never_survives_redaction(pw: str, template: str) -> None:
    encoded = quote(pw, safe="")
    skeleton = template.format(pw="")
    assume(pw not in skeleton and encoded not in skeleton)
    url = template.format(pw=encoded)
    for out in (redact_url(url), redact_text(f"error fetching {url} now")):
        assert encoded not in out
        assert pw not in out


@given(st.text(max_size=200))
def test_redaction_total_on_any_text(text: str) -> None:
    assert isinstance(redact_url(text), str)
    assert isinstance(redact_text(text), str)


# --- parse_ip_literal


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("1e100.net", None),
        ("", None),
    ],
)
def test_parse_ip_literal(host: str, expected: str | None) -> None:
    ip = parse_ip_literal(host)
    assert (str(ip) if ip is not None else None) == expected
