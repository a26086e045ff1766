"""Credential redaction: the one function for logs, API answers, error messages,
metrics and dead letters (see SECURITY.md "Redaction").

Playlist URLs routinely carry credentials (Xtream ``get.php?username=..&password=..``,
``/live/<user>/<pass>/..``, user-info), so anything that may reach a log, a metric or
an API answer goes through :func:`redact` / :func:`redact_url` / :func:`redact_text`.
Pure functions, no network, never raising.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit

REDACTED = "***"
# How deep URLs nested in query values / paths are followed.
MAX_DEPTH = 4
# Characters left as they are when a redacted nested value is written back.
_NESTED_SAFE = "/:@*?=&;,+"
UNPARSEABLE = "<unparseable url>"

# Query keys whose values are secrets (compared lower-cased, after unquoting).
SECRET_KEYS = frozenset(
    {
        "username",
        "user",
        "password",
        "pass",
        "passwd",
        "pwd",
        "token",
        "key",
        "apikey",
        "api_key",
        "auth",
        "secret",
        "signature",
        "sig",
        "access_token",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
# Xtream paths: /<kind>/<user>/<pass>/<stream>.
XTREAM_KINDS = frozenset({"live", "movie", "series", "timeshift"})
# Xtream's short live form /<user>/<pass>/<stream id>[.ext] (or a bare /<user>/<pass>/).
_XTREAM_SHORT_TAIL_RE = re.compile(r"^(?:\d+(?:\.[A-Za-z0-9]{1,8})?)?$")

_PAIR_SPLIT_RE = re.compile(r"([&;])")
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_TRAILING_PUNCT = ".,;:!?)]}"
_XTREAM_IN_TEXT_RE = re.compile(
    r"(?i)(/(?:" + "|".join(sorted(XTREAM_KINDS)) + r")/)[^/\s?#\"'<>]+/[^/\s?#\"'<>]+(?=/)"
)
# key=value outside URLs; the value stops before trailing punctuation of the sentence.
_PAIR_IN_TEXT_RE = re.compile(
    r"(?i)(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(SECRET_KEYS)) + r")="
    r"[^\s&;,\"'<>()\[\]{}]*[^\s&;,\"'<>()\[\]{}.:!?]"
)
# "user:pass@host" without a scheme, in free text.
_USERINFO_IN_TEXT_RE = re.compile(r"(?<![\w/:.*%-])[^\s:/@\"'<>]+:[^\s/@\"'<>]*@(?=[\w\[])")


def _redact_userinfo(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    if not at:
        return netloc
    masked = f"{REDACTED}:{REDACTED}" if ":" in userinfo else REDACTED
    return f"{masked}@{hostport}"


def _decoded(text: str) -> str:
    """`text` percent/plus-decoded until stable (at most three layers)."""
    for _ in range(3):
        nxt = unquote_plus(text)
        if nxt == text:
            break
        text = nxt
    return text


def is_secret_key(key: str) -> bool:
    """True for a secret query key in any case or encoding, array forms included
    (`password[]`, `auth[token]`, `PassWord`, `pass%77ord`)."""
    name = _decoded(key).strip().lower()
    base, _, rest = name.partition("[")
    inner = re.findall(r"([^\[\]]+)\]", rest)
    return base.strip() in SECRET_KEYS or any(part.strip() in SECRET_KEYS for part in inner)


def _redact_pairs(query: str, depth: int) -> str:
    """Mask secret values in `a=b&c=d`; values that hold a URL or pairs are redacted
    recursively (decoded as needed) and kept only when nothing was masked in them."""
    pieces = _PAIR_SPLIT_RE.split(query)
    for i in range(0, len(pieces), 2):
        key, eq, value = pieces[i].partition("=")
        if not eq:
            if depth < MAX_DEPTH and _redact_text(_decoded(key), depth + 1) != _decoded(key):
                pieces[i] = REDACTED
            continue
        if is_secret_key(key):
            pieces[i] = f"{key}={REDACTED}"
        elif depth < MAX_DEPTH and value:
            plain = _decoded(value)
            masked = _redact_text(plain, depth + 1)
            if masked != plain:
                pieces[i] = f"{key}={quote(masked, safe=_NESTED_SAFE)}"
    return "".join(pieces)


def _redact_path(path: str, depth: int) -> str:
    """Mask Xtream user/password segments (empty segments are skipped, as servers do)
    and URLs or user-info nested in the path."""
    segments = path.split("/")
    filled = [i for i, seg in enumerate(segments) if seg]
    names = [_decoded(segments[i]).lower() for i in filled]
    if (len(filled) == 3 and _XTREAM_SHORT_TAIL_RE.match(names[2])) or (
            len(filled) == 2 and path.endswith("/")):
        segments[filled[0]] = segments[filled[1]] = REDACTED
    for n, name in enumerate(names):
        if name in XTREAM_KINDS and n + 2 < len(filled):
            segments[filled[n + 1]] = segments[filled[n + 2]] = REDACTED
    out = "/".join(segments)
    if depth < MAX_DEPTH and ("@" in out or ":" in out or "=" in out):
        out = _redact_text(out, depth + 1)
    return out


def _redact_url(url: str, depth: int) -> str:
    # Without "://", urlsplit would read "user:pass@host" as scheme "user";
    # parsing it as a network-path reference keeps the user-info visible.
    schemeless = "://" not in url
    parts = urlsplit("//" + url if schemeless else url)
    rebuilt = parts._replace(
        netloc=_redact_userinfo(parts.netloc),
        path=_redact_path(parts.path, depth),
        query=_redact_pairs(parts.query, depth),
        fragment=_redact_pairs(parts.fragment, depth),
    ).geturl()
    return rebuilt.removeprefix("//") if schemeless else rebuilt


def _text_passes(text: str) -> str:
    """Credentials outside URL structure: `user:pass@`, Xtream paths, `key=value`."""
    out = _USERINFO_IN_TEXT_RE.sub(f"{REDACTED}:{REDACTED}@", text)
    out = _XTREAM_IN_TEXT_RE.sub(lambda m: f"{m.group(1)}{REDACTED}/{REDACTED}", out)
    return _PAIR_IN_TEXT_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", out)


def _redact_text(text: str, depth: int) -> str:
    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        core = found.rstrip(_TRAILING_PUNCT)
        return _redact_url(core, depth) + found[len(core):]

    return _text_passes(_URL_IN_TEXT_RE.sub(one, text))


def redact_url(url: str) -> str:
    """``url`` with credentials masked: user-info, secret query values, Xtream path,
    and the same inside URLs nested in query values or the path.

    Never raises; input that cannot be handled becomes a placeholder.
    """
    try:
        return _text_passes(_redact_url(str(url), 0))
    except Exception:  # redaction must never be the thing that fails
        return UNPARSEABLE


def redact_text(text: str) -> str:
    """``text`` with every URL redacted and loose ``password=...`` pairs masked."""
    try:
        return _redact_text(str(text), 0)
    except Exception:  # see redact_url
        return "<unredactable text>"


def redact(value: Any) -> Any:
    """The one redaction for logs, answers, errors, metrics and dead letters: strings
    via :func:`redact_text`, containers recursively. Mapping keys are kept: field
    names like `key` or `user` are not secrets in our own records."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
