"""URL helpers: normalisation, job ids, validation and credential redaction.

Pure functions, no network. Credential redaction lives in `pipeline.redaction`
and is re-exported here (`redact`, `redact_url`, `redact_text`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

import idna

from pipeline.errors import InvalidURL, URLRefused
from pipeline.redaction import (  # noqa: F401  (re-exported: callers import them from here)
    REDACTED,
    SECRET_KEYS,
    UNPARSEABLE,
    XTREAM_KINDS,
    is_secret_key,
    redact,
    redact_text,
    redact_url,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOST_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_\-.]*[a-z0-9_])?$")


def parse_ip_literal(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None for a DNS name.

    Accepts brackets, a trailing dot and every IPv4 spelling ``inet_aton``
    accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``), since that
    is what the resolver and browsers turn them into.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".") if ":" not in text else text
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if ":" in text or not text.isascii():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _split_authority(netloc: str) -> tuple[str, str, str]:
    """``(userinfo, host, port)`` of a netloc; the host keeps no brackets."""
    userinfo, _, hostport = netloc.rpartition("@")
    if hostport.startswith("["):
        host, sep, rest = hostport[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InvalidURL("malformed IPv6 host")
        return userinfo, host, rest[1:]
    host, _, port = hostport.partition(":")
    if ":" in port:
        raise InvalidURL("malformed host: unbracketed ':'")
    return userinfo, host, port


def normalize_host(host: str) -> str:
    """Lower-cased ASCII host: IDNA for names, canonical text for IP literals.

    Raises InvalidURL for a host that is neither.
    """
    ip = parse_ip_literal(host)
    if ip is not None:
        return f"[{ip.compressed}]" if ip.version == 6 else str(ip)
    name = host.rstrip(".").lower()
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidURL(f"host is not a valid internationalised name ({exc})") from exc
    if not _HOST_RE.match(name) or ".." in name:
        raise InvalidURL("host contains characters not allowed in a host name")
    return name


def _parse_port(port: str) -> int | None:
    if not port:
        return None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidURL("port must be a number between 1 and 65535")
    return int(port)


def normalize_url(url: str) -> str:
    """The canonical form used for job ids.

    Scheme and host lower-cased (IDNA hosts as punycode, IP literals in
    canonical form), default port dropped, fragment dropped, empty path -> ``/``;
    user-info, path and query are kept byte for byte. Raises InvalidURL.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise InvalidURL(f"URL cannot be parsed ({exc})") from exc
    scheme = parts.scheme.lower()
    userinfo, host, port_text = _split_authority(parts.netloc)
    if not host:
        raise InvalidURL("URL has no host")
    netloc = normalize_host(host)
    port = _parse_port(port_text)
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def job_id_for(url: str) -> str:
    """Stable job id: sha256 hex of the normalised URL, first 32 characters."""
    return hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:32]


def validate_playlist_url(url: object, max_length: int) -> str:
    """The stripped URL if it can be fetched, else InvalidURL or URLRefused.

    InvalidURL: not a string, empty, longer than ``max_length``, whitespace or
    control characters inside, no scheme or host, bad port or host.
    URLRefused: a scheme other than http/https (``file:``, ``ftp:``, ...).
    """
    if not isinstance(url, str):
        raise InvalidURL(f"URL must be a string, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise InvalidURL("URL is empty")
    if len(text) > max_length:
        raise InvalidURL(f"URL is {len(text)} characters long; the limit is {max_length}")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        # Cf: zero-width and bidi controls, which spoof what logs and UIs show.
        raise InvalidURL("URL contains whitespace, control or invisible characters")
    match = _SCHEME_RE.match(text)
    if not match:
        raise InvalidURL("URL has no scheme; use http:// or https://")
    scheme = match.group(1).lower()
    if "." in scheme or text[len(scheme) + 1 : len(scheme) + 2].isdigit():
        # "example.com:8080/x" reads as scheme "example.com"; it has none.
        raise InvalidURL("URL has no scheme; use http:// or https://")
    if scheme not in ALLOWED_SCHEMES:
        raise URLRefused(f"scheme {scheme!r} is not allowed; use http or https")
    if not text[len(scheme) + 1 :].startswith("//"):
        raise InvalidURL("URL has no host; expected scheme://host/...")
    try:
        netloc = urlsplit(text).netloc
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise InvalidURL(f"URL cannot be parsed ({exc})") from None
    if "\\" in netloc:
        raise InvalidURL("backslash in the host part of the URL")
    normalize_url(text)  # raises InvalidURL for no host, bad port, bad host
    return text
