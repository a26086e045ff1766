"""One redaction for logs, answers, errors and dead letters; the secret never shows."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import FetchRefused, TooManyRedirects
from pipeline.logs import PipelineJsonFormatter, RedactFilter
from pipeline.media.rules import dead_letter_payload
from pipeline.urls import SECRET_KEYS, XTREAM_KINDS, redact, redact_text, redact_url
from pipeline.web.errors import error_answer

U, P = "SeCrEtUsEr", "SeCrEtPaSs"


@pytest.mark.parametrize("url", [
    f"http://h/get.php?username[]={U}&password[]={P}",
    f"http://h/get.php?username[0]={U}&auth[password]={P}",
    f"http://h/live//{U}/{P}/1.ts",
    f"http://h//live///{U}//{P}/1.ts",
    f"http://h/{U}//{P}/1.ts",
    f"http://h/x?to=http://host/get.php%3Fusername%3D{U}%26password%3D{P}",
    f"http://h/x?to=http%253A%252F%252Fhost%252Fget.php%253Fusername%253D{U}%2526password%253D{P}",
    f"http://h/x?to=http://{U}:{P}@host/",
    f"http://h/x?to=http%3A%2F%2F{U}%3A{P}%40host%2F",
    f"http://h/redirect/http://{U}:{P}@evil/",
    f"http://{U}:{P}@h/",
    f"http://h/?PASSWORD={P}&UserName={U}",
    f"http://h/?pass%77ord={P}&%75sername={U}",
    f"http://h/#access_token={P}&token_type=bearer&user={U}",
    f"{U}:{P}@h/path",
])
def test_known_gaps_are_masked(url: str) -> None:
    for out in (redact_url(url), redact_text(f"failed: {url}."), json.dumps(redact({"u": [url]}))):
        assert U not in out and P not in out, out


def test_url_and_text_redaction_agree() -> None:
    url = f"http://h/get.php?username[]={U}&password[]={P}&x=1"
    assert redact_url(url) == redact_text(url)


def test_redirect_error_messages_are_redacted() -> None:
    hop = f"http://h/next?to=http%3A%2F%2Fh2%2F%3Fpassword%3D{P}"
    for exc in (TooManyRedirects(f"more than 5 redirects (last: {hop})"),
                FetchRefused(f"redirect refused: {hop}")):
        _, body, _ = error_answer(exc)
        assert P not in json.dumps(body)


# -- property: credential-bearing shapes, any case and encoding, nested

secret_st = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=10, max_size=16).map(lambda s: "Zq" + s)


@st.composite
def key_st(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(sorted(SECRET_KEYS)))
    key = "".join(c.upper() if draw(st.booleans()) else c for c in key)
    if draw(st.booleans()):
        i = draw(st.integers(0, len(key) - 1))
        key = key[:i] + quote(key[i], safe="") .replace(key[i], f"%{ord(key[i]):02X}") + key[i + 1:]
    return key + draw(st.sampled_from(["", "[]", "[0]"]))


@st.composite
def url_st(draw: st.DrawFn, secret: str, depth: int = 0) -> str:
    shape = draw(st.sampled_from(["query", "xtream", "short", "userinfo", "fragment", "nest"]
                                 if depth < 2 else ["query", "xtream", "userinfo"]))
    gap = draw(st.sampled_from(["/", "//"]))
    if shape == "query":
        return f"http://h.example/get.php?a=1&{draw(key_st())}={secret}&type=m3u"
    if shape == "fragment":
        return f"http://h.example/p#{draw(key_st())}={secret}"
    if shape == "xtream":
        kind = draw(st.sampled_from(sorted(XTREAM_KINDS)))
        kind = kind.upper() if draw(st.booleans()) else kind
        user_first = draw(st.booleans())
        a, b = (secret, "u") if user_first else ("u", secret)
        return f"http://h.example/{kind}{gap}{a}{gap}{b}/1.ts"
    if shape == "short":
        return f"http://h.example{gap}u{gap}{secret}/123.ts"
    if shape == "userinfo":
        return f"http://u:{secret}@h.example/x"
    inner = draw(url_st(secret, depth + 1))
    encoded = draw(st.sampled_from([inner, quote(inner, safe=""), quote(quote(inner, safe=""),
                                                                        safe="")]))
    return f"http://outer.example/r?next={encoded}&x=1"


def _log_line(url: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PipelineJsonFormatter())
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("fetch_failed %s", url, extra={"url": url, "detail": {"to": [url]}})
        try:
            raise ValueError(url)
        except ValueError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


class _Row:
    media_id, bucket, key, size, kind, content_type, uploaded_at = "m", "b", "k", 1, "photo", "", 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), secret=secret_st)
def test_secret_never_appears(data: st.DataObject, secret: str) -> None:
    url = data.draw(url_st(secret))
    row = _Row()
    row.destination = url  # type: ignore[attr-defined]
    outputs = [
        redact_url(url), redact_text(f"GET {url}, then"), json.dumps(redact({"a": [url]})),
        json.dumps(error_answer(FetchRefused(f"redirect refused: {url}"))[1]),
        json.dumps(dead_letter_payload(row)), _log_line(url),
    ]
    for out in outputs:
        assert secret not in out, (url, out)
