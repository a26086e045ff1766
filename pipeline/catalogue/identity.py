"""An item's identity: its URL without credentials, and the digests built on it.

Identity is what the diff matches items across runs on, and the base of the
item ``id``. It deliberately does not reuse the log redaction rules: those may
widen at any time (masking more is always safe for logs), while a changed
identity rule would report every item of the next refresh as removed and
added. So the rule lives here, frozen, and is described in docs/catalogue.md.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote, urlsplit

# Query keys that carry credentials (compared lower-cased, after unquoting).
CREDENTIAL_KEYS = frozenset(
    {"username", "user", "password", "pass", "passwd", "pwd", "token", "key", "apikey",
     "api_key", "auth", "secret", "signature", "sig", "access_token"}
)  # fmt: skip
# Xtream paths /<kind>/<user>/<pass>/<stream...>.
XTREAM_KINDS = frozenset({"live", "movie", "series", "timeshift"})
# Xtream's short live form /<user>/<pass>/<stream id>[.ext].
_SHORT_TAIL_RE = re.compile(r"\d+(?:\.[A-Za-z0-9]{1,8})?")
# Prefix (URL up to its last "/") -> stripped prefix; bounded, cleared when full.
_PREFIX_CACHE_MAX = 4096
_prefixes: dict[str, str | tuple[str, str] | None] = {}


def strip_credentials(url: str) -> str:
    """``url`` without user-info, Xtream user/password segments and credential
    query parameters; scheme and host lower-cased, fragment dropped."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2].lower()
    query = "&".join(
        pair for pair in parts.query.split("&")
        if pair and unquote(pair.partition("=")[0]).strip().lower() not in CREDENTIAL_KEYS
    )  # fmt: skip
    path = _strip_path(parts.path)
    return f"{parts.scheme.lower()}://{netloc}{path}{'?' + query if query else ''}"


def _strip_path(path: str) -> str:
    segments = path.split("/")
    if (len(segments) == 4 and not segments[0] and segments[1] and segments[2]
            and _SHORT_TAIL_RE.fullmatch(segments[3])):  # fmt: skip
        return "/" + segments[3]
    out: list[str] = []
    i = 0
    while i < len(segments):
        out.append(segments[i])
        # Only when a stream segment follows: "/live/a/b" names no stream.
        if unquote(segments[i]).lower() in XTREAM_KINDS and i + 3 < len(segments):
            i += 3
        else:
            i += 1
    return "/".join(out)


def _prefix_entry(prefix: str) -> str | tuple[str, str] | None:
    """How ``prefix + "/" + tail`` strips, for tails without ``?`` or ``#``.

    The rule reads the last segment only to tell a numeric stream id (short
    form) from anything else, so two probes cover every tail.
    """
    numeric, other = strip_credentials(prefix + "/0"), strip_credentials(prefix + "/a")
    if not (numeric.endswith("/0") and other.endswith("/a")):
        return None
    return numeric[:-2] if numeric[:-2] == other[:-2] else (numeric[:-2], other[:-2])


def identity(url: str) -> str:
    """``strip_credentials(url)``, with a per-prefix cache for the hot path (a
    playlist's URLs share a handful of ``/<kind>/<user>/<pass>`` prefixes)."""
    cut = url.rfind("/")
    if cut < 1 or "?" in url or "#" in url or url[cut - 1] in "/:" or url != url.strip():
        return strip_credentials(url)
    prefix = url[:cut]
    try:
        entry = _prefixes[prefix]
    except KeyError:
        if len(_prefixes) >= _PREFIX_CACHE_MAX:
            _prefixes.clear()
        entry = _prefixes[prefix] = _prefix_entry(prefix)
    if entry is None:
        return strip_credentials(url)
    tail = url[cut:]
    if isinstance(entry, str):
        return entry + tail
    return (entry[0] if _SHORT_TAIL_RE.fullmatch(tail, 1) else entry[1]) + tail


# The same cache for UTF-8 URLs: prefix -> the digest state of the stripped prefix
# and "/" when every tail follows it; the short form's pair of them (by tail) and
# None (not cacheable) are kept apart, off the hot path.
_byte_prefixes: dict[bytes, hashlib.blake2b] = {}
_byte_others: dict[bytes, tuple[hashlib.blake2b, hashlib.blake2b] | None] = {}
_SHORT_TAIL_BYTES = re.compile(rb"\d+(?:\.[A-Za-z0-9]{1,8})?")


def _state(stripped: str) -> hashlib.blake2b:
    return hashlib.blake2b((stripped + "/").encode("utf-8", "surrogatepass"), digest_size=8)


def _cache_prefix(prefix: bytes) -> None:
    """``_prefix_entry`` for ``identity_digests``, only for prefixes the fast path
    of ``identity`` takes whatever the tail: non-empty, no ``?`` or ``#``, no
    leading space, not ending in ``/`` or ``:``."""
    if len(_byte_prefixes) + len(_byte_others) >= _PREFIX_CACHE_MAX:
        _byte_prefixes.clear()
        _byte_others.clear()
    text = prefix.decode("utf-8", "surrogatepass")
    entry = None
    if text and text[-1] not in "/:" and "?" not in text and "#" not in text \
            and text == text.lstrip():  # fmt: skip
        entry = _prefix_entry(text)
    if isinstance(entry, str):
        _byte_prefixes[prefix] = _state(entry)
    else:
        _byte_others[prefix] = None if entry is None else (_state(entry[0]), _state(entry[1]))


def _other_digest(url: bytes, prefix: bytes, tail: bytes) -> bytes:
    """``identity_digest`` of a URL whose prefix is not in ``_byte_prefixes``."""
    if prefix not in _byte_others and prefix not in _byte_prefixes:
        _cache_prefix(prefix)
    state = _byte_prefixes.get(prefix)
    pair = _byte_others.get(prefix)
    # A str \d also takes other scripts' digits: the short form's tails must be ASCII.
    if pair is not None and tail.isascii():
        state = pair[0] if _SHORT_TAIL_BYTES.fullmatch(tail) else pair[1]
    if state is None or b"?" in tail or b"#" in tail or (tail and not 32 < tail[-1] < 127):
        return identity_digest(url.decode("utf-8", "surrogatepass"))
    state = state.copy()
    state.update(tail)
    return state.digest()


def identity_digests(urls: list[bytes]) -> list[bytes]:
    """``identity_digest`` of each UTF-8 URL (the catalogue writer's hot loop).

    A URL whose prefix is cached and whose last segment has no ``?``/``#`` and
    ends in a printable ASCII character (``strip`` would keep it) is its stripped
    prefix plus that segment, as in ``identity``: its digest continues a copy of
    the prefix's digest state. Any other URL takes ``identity``.
    """
    out: list[bytes] = []
    append, get = out.append, _byte_prefixes.get
    for url in urls:
        prefix, _, tail = url.rpartition(b"/")
        state = get(prefix)
        if state is not None and b"?" not in tail and b"#" not in tail \
                and (not tail or 32 < tail[-1] < 127):  # fmt: skip
            state = state.copy()
            state.update(tail)
            append(state.digest())
        else:
            append(_other_digest(url, prefix, tail))
    return out


def digest(data: bytes) -> bytes:
    """8-byte digest used for identities and contents (collisions ~1e-8 at 850k)."""
    return hashlib.blake2b(data, digest_size=8).digest()


def identity_digest(url: str) -> bytes:
    return digest(identity(url).encode("utf-8", "surrogatepass"))


def make_id(ident: bytes, occurrence: int = 0) -> str:
    """The item id: hex identity digest, ``-k`` for the k-th repeat of a URL."""
    return ident.hex() + (f"-{occurrence}" if occurrence else "")


_ID_RE = re.compile(r"([0-9a-f]{16})(?:-([1-9][0-9]{0,4}))?")


def parse_id(item_id: str) -> tuple[bytes, int] | None:
    """``(identity digest, occurrence)`` of an id, or None when malformed."""
    match = _ID_RE.fullmatch(item_id)
    if match is None:
        return None
    return bytes.fromhex(match.group(1)), int(match.group(2) or 0)
