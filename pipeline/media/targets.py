"""Where a prewarm may write: the one check shared by the submit and the writer.

A destination URL is decoded once, resolved, and required to stay inside what the
operator allowed (see SECURITY.md "Prewarm destinations"):

    file://   realpath under the default directory or a `file://` allowed prefix
    s3://     a bucket/prefix of `PIPELINE_PREWARM_ALLOWED_DESTINATIONS`, never one
              of the pipeline's own buckets (source, results, broker)
    http(s):// the default destination's scheme and host, or an allowed prefix
    null://   always

The submit calls :func:`resolve` to answer 422 at once; the writer calls it again
at write time, so the two cannot disagree.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.errors import BadRequest, URLRefused

SCHEMES = ("null", "s3", "http", "https", "file")


@dataclass(frozen=True)
class Policy:
    """What the operator allows; built from settings (or given by tests)."""

    default: str
    allowed: tuple[str, ...] = ()
    protected_buckets: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        protected = {settings.results_bucket, settings.broker_bucket,
                     *settings.allowed_source_buckets}
        return cls(settings.default_destination, tuple(settings.prewarm_allowed_destinations),
                   frozenset(protected))


@dataclass(frozen=True)
class Target:
    """A destination that passed the check. `root` is the allowed directory a file
    destination's `path` lies in (the writer re-checks every step below it)."""

    scheme: str
    url: str
    path: Path | None = None
    root: Path | None = None
    bucket: str = ""
    prefix: str = ""
    sub: str = ""  # s3: the part of the event's prefix below the allowed `prefix`


def decode_path(raw: str) -> str:
    """A URL path decoded exactly once; refuses whatever could decode differently later.

    Refused: a `%` left after decoding (double encoding), bytes that are not UTF-8
    (overlong dots), characters NFKC would fold (fullwidth dots and slashes),
    backslashes, control characters, empty and dot segments.
    """
    try:
        path = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise URLRefused("`destination` path is not valid UTF-8") from None
    if "%" in path or "\\" in path or unicodedata.normalize("NFKC", path) != path:
        raise URLRefused("`destination` path has encoded or look-alike characters")
    if any(unicodedata.category(ch)[0] in ("C", "Z") and ch != " " for ch in path):
        raise URLRefused("`destination` path has control characters")
    segments = path.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash is fine
    if any(seg in ("", ".", "..") or seg.strip(". ") == "" for seg in segments):
        raise URLRefused("`destination` path has empty or dot segments")
    return path


def is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _file_target(url: str, path_text: str, policy: Policy, trusted: bool) -> Target:
    real = Path(os.path.realpath(path_text))
    roots = [urlsplit(p) for p in (policy.default, *policy.allowed)]
    for root_parts in roots:
        if root_parts.scheme.lower() != "file":
            continue
        root = Path(os.path.realpath(unquote(root_parts.path) or "/"))
        if is_under(real, root):
            return Target("file", url, path=real, root=root)
    if trusted:
        return Target("file", url, path=real, root=real)
    raise URLRefused("`destination` is outside the allowed directories")


def _prefix_of(path: str) -> str:
    return path.strip("/")


def _s3_target(url: str, bucket: str, path: str, policy: Policy, trusted: bool) -> Target:
    prefix = _prefix_of(path)
    if trusted:
        return Target("s3", url, bucket=bucket, prefix=prefix)
    if not bucket or bucket in policy.protected_buckets:
        raise URLRefused("`destination` bucket is one of the pipeline's own buckets")
    for allowed in policy.allowed:
        parts = urlsplit(allowed)
        if parts.scheme.lower() != "s3" or parts.netloc != bucket:
            continue
        base = _prefix_of(unquote(parts.path))
        if base and (prefix == base or prefix.startswith(base + "/")):
            return Target("s3", url, bucket=bucket, prefix=base,
                          sub=prefix[len(base):].strip("/"))
    raise URLRefused("`destination` is not an allowed s3 bucket/prefix "
                     "(PIPELINE_PREWARM_ALLOWED_DESTINATIONS)")


def _http_target(url: str, netloc: str, path: str, policy: Policy, trusted: bool,
                 scheme: str) -> Target:
    def same_origin(other: str) -> bool:
        o = urlsplit(other)
        return (o.scheme.lower(), o.netloc.lower()) == (scheme, netloc.lower())

    def covers(prefix: str) -> bool:
        base = unquote(urlsplit(prefix).path).rstrip("/")
        return same_origin(prefix) and (not base or path == base
                                         or path.startswith(base + "/"))

    if trusted or same_origin(policy.default) or any(covers(p) for p in policy.allowed):
        return Target(scheme, url)
    raise URLRefused("`destination` is not an allowed destination")


def resolve(url: str, policy: Policy) -> Target:
    """The checked target of a destination URL; URLRefused (422) when not allowed.

    The operator's default destination is trusted as it is.
    """
    if not isinstance(url, str) or (not url.isascii() and url != policy.default):
        raise URLRefused("`destination` must be an ASCII URL (percent-encode the rest)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise BadRequest(f"`destination` cannot be parsed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadRequest("`destination` must be null://, s3://, http(s):// or file://")
    if scheme == "null":
        return Target("null", url)
    trusted = url == policy.default
    if parts.fragment or (scheme in ("file", "s3") and parts.query):
        raise URLRefused("`destination` must not have a query or fragment")
    path = decode_path(parts.path) if not trusted else unquote(parts.path)
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise URLRefused("`destination` file:// URLs name no host")
        return _file_target(url, path, policy, trusted)
    if scheme == "s3":
        return _s3_target(url, parts.netloc, path, policy, trusted)
    return _http_target(url, parts.netloc, path, policy, trusted, scheme)


def _s3_entry(entry: str) -> tuple[str, str] | None:
    parts = urlsplit(entry)
    if parts.scheme.lower() != "s3":
        return None
    return parts.netloc, _prefix_of(unquote(parts.path))


def check_settings(allowed: Iterable[str], protected: Iterable[str], default: str = "") -> None:
    """Refuse at start an allowed s3 destination without a prefix, on a pipeline bucket,
    or nested in another s3 destination (the per-media-id layout needs the first key
    segment below a destination's prefix to be the media id, see SECURITY.md)."""
    own = set(protected)
    seen: list[tuple[str, str]] = []
    for entry in allowed:
        found = _s3_entry(entry)
        if found is None:
            continue
        bucket, prefix = found
        if not bucket or not prefix:
            raise ValueError(f"allowed destination {entry!r} needs a bucket and a prefix")
        if bucket in own:
            raise ValueError(f"allowed destination {entry!r} names a pipeline bucket")
        seen.append(found)
    default_s3 = _s3_entry(default)
    others = [*seen, default_s3] if default_s3 else seen
    for i, (bucket, prefix) in enumerate(seen):
        for j, (b2, p2) in enumerate(others):
            if i != j and bucket == b2 and (not p2 or prefix == p2
                                            or prefix.startswith(p2 + "/")
                                            or p2.startswith(prefix + "/")):
                raise ValueError(f"allowed s3 destinations overlap: s3://{bucket}/{prefix} "
                                 f"and s3://{b2}/{p2}")
