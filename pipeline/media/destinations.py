"""Where a prewarmed object goes: `file://`, `http(s)://`, `s3://`, `null://`.

Every destination reads the cached file in chunks, so memory stays flat whatever
the object size. Failures become `DestinationError` here, transient unless the
destination refused the object (HTTP 4xx other than 408/429, missing bucket).

    file:///dir              copy to /dir/<bucket>/<key>
    http(s)://host/path      streamed PUT to <url>/<key> (or POST to <url>); the
                             URL may name {media_id}, {bucket}, {key} instead
    s3://bucket/prefix[/sub] upload to bucket/prefix/<media_id>[/sub]/<key> (same S3
                             endpoint; `prefix` is the allowed destination's)
    null://                  discard (benchmarks)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import aiohttp

from pipeline import storage
from pipeline.errors import DestinationError, ObjectNotFound, PipelineError, StorageError
from pipeline.media import targets

CHUNK = 1024 * 1024
# How much of a JSON answer we read to find the destination's id for the object.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class PushItem:
    """What a destination needs to know about the object it receives."""

    media_id: str
    bucket: str
    key: str
    content_type: str
    size: int


class Destination(Protocol):
    async def push(self, src: BinaryIO, item: PushItem) -> str:
        """Send the whole of `src`; return the destination's reference for it."""
        ...


@dataclass(frozen=True)
class HttpOptions:
    method: str
    headers: Mapping[str, str]
    timeout: aiohttp.ClientTimeout


def _relpath(bucket: str, key: str) -> Path:
    """`bucket/key` as a relative path that cannot leave the destination directory."""
    parts = [p for p in key.split("/") if p not in ("", ".", "..")]
    return Path(bucket, *(parts or ["_"]))


class NullDestination:
    async def push(self, src: BinaryIO, item: PushItem) -> str:
        return "null://"


class FileDestination:
    """Copy to `<dir>/<bucket>/<key>`, re-checking at write time that every directory
    on the way resolves inside the allowed root (a symlink planted inside the warm
    directory cannot lead the write outside)."""

    def __init__(self, path: Path, root: Path | None = None) -> None:
        self.path, self.root = path, root or path

    async def push(self, src: BinaryIO, item: PushItem) -> str:
        rel = _relpath(item.bucket, item.key)
        try:
            target = await asyncio.to_thread(_copy_file, src, self.root, self.path, rel)
        except (OSError, ValueError) as exc:  # ValueError: NUL in a name
            raise DestinationError(f"cannot write {self.path / rel}: "
                                   f"{getattr(exc, 'strerror', None) or exc}") from exc
        return f"file://{target}"


def _safe_dir(root: Path, start: Path, parts: tuple[str, ...]) -> Path:
    """Create `start/parts...` one level at a time from `root`, each resolved inside it."""
    root.mkdir(parents=True, exist_ok=True)  # the operator's directory itself
    real_root = Path(os.path.realpath(root))
    if not targets.is_under(start, root):
        raise DestinationError("destination is outside the allowed root", transient=False)
    current = real_root
    for part in (*start.relative_to(root).parts, *parts):
        if not targets.is_under(current, real_root):
            raise DestinationError("destination directory resolves outside the allowed root",
                                   transient=False)
        step = current / part
        with contextlib.suppress(FileExistsError):
            step.mkdir()  # mkdir does not follow a symlink named `part`
        current = Path(os.path.realpath(step))
        if not current.is_dir():
            raise DestinationError(f"{step} is not a directory", transient=False)
    if not targets.is_under(current, real_root):
        raise DestinationError("destination directory resolves outside the allowed root",
                               transient=False)
    return current


def _copy_file(src: BinaryIO, root: Path, start: Path, rel: Path) -> Path:
    """Copy through a temporary name so readers never see half a file; a symlink at the
    final name is replaced, never followed."""
    parent = _safe_dir(root, start, rel.parent.parts)
    target = parent / rel.name
    tmp = parent / f".{rel.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with open(fd, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


async def _chunks(src: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := src.read(CHUNK):
        yield chunk


class HttpDestination:
    def __init__(self, url: str, session: aiohttp.ClientSession, options: HttpOptions) -> None:
        self.url, self.session, self.options = url, session, options

    def target(self, item: PushItem) -> str:
        if "{" in self.url:
            return self.url.format(media_id=quote(item.media_id, safe=""),
                                   bucket=quote(item.bucket, safe=""), key=quote(item.key))
        if self.options.method == "PUT":
            return f"{self.url.rstrip('/')}/{quote(item.key)}"
        return self.url

    async def push(self, src: BinaryIO, item: PushItem) -> str:
        headers = {
            "Content-Type": item.content_type or "application/octet-stream",
            "Content-Length": str(item.size), "X-Media-Id": item.media_id,
            "X-Media-Bucket": item.bucket, "X-Media-Key": item.key,
            **self.options.headers,
        }
        try:
            async with self.session.request(
                self.options.method, self.target(item), data=_chunks(src), headers=headers,
                timeout=self.options.timeout, allow_redirects=False,
            ) as resp:
                if resp.status >= 300:
                    raise DestinationError(
                        f"destination answered HTTP {resp.status}",
                        transient=resp.status >= 500 or resp.status in (408, 429))
                ident = await _answer_id(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DestinationError(f"destination unreachable: {type(exc).__name__}") from exc
        return f"{resp.status} {ident}".strip()


async def _answer_id(resp: aiohttp.ClientResponse) -> str:
    """The object's id in the destination's answer: JSON `id`/`etag`, else the ETag header."""
    if resp.content_type == "application/json":
        raw = await resp.content.read(MAX_ANSWER_BYTES)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for name in ("id", "etag", "ETag"):
                if doc.get(name) not in (None, ""):
                    return str(doc[name])
    return resp.headers.get("ETag", "")


class S3Destination:
    def __init__(self, client: Any, bucket: str, prefix: str, sub: str = "") -> None:
        self.client, self.bucket = client, bucket
        self.prefix, self.sub = prefix.strip("/"), sub.strip("/")

    def object_key(self, item: PushItem) -> str:
        """`<prefix>/<media_id>/<sub>/<key>`: the first segment below an allowed prefix
        is always the media id (media ids have no `/`; allowed prefixes never nest), so
        an event cannot replace an object written for another media id."""
        rel = _relpath(item.media_id, "/".join((self.sub, item.key))).as_posix()
        return f"{self.prefix}/{rel}" if self.prefix else rel

    async def push(self, src: BinaryIO, item: PushItem) -> str:
        key = self.object_key(item)
        content_type = item.content_type or "application/octet-stream"
        try:
            if item.size <= storage.PART_SIZE:
                with storage.s3_errors(self.bucket, key):
                    await self.client.put_object(Bucket=self.bucket, Key=key, Body=src.read(),
                                                 ContentType=content_type)
            else:
                async with storage.MultipartWriter(self.client, self.bucket, key,
                                                   content_type) as writer:
                    while chunk := src.read(CHUNK):
                        await writer.write(chunk)
                    await writer.complete()
        except ObjectNotFound as exc:
            raise DestinationError(f"destination bucket {self.bucket} does not exist",
                                   transient=False) from exc
        except StorageError as exc:
            if not exc.transient:
                raise  # a permanent S3 refusal keeps its specific code
            raise DestinationError(exc.message) from exc
        return f"s3://{self.bucket}/{key}"


def open_destination(url: str, *, s3: Any, session: aiohttp.ClientSession | None,
                     http: HttpOptions, policy: targets.Policy | None = None) -> Destination:
    """The destination for a URL, checked again by `targets.resolve` (the submit's rule)."""
    if policy is None:
        from pipeline.settings import get_settings

        policy = targets.Policy.from_settings(get_settings())
    try:
        target = targets.resolve(url, policy)
    except PipelineError as exc:
        raise DestinationError(f"destination refused: {exc.message}", transient=False) from exc
    if target.scheme == "null":
        return NullDestination()
    if target.scheme == "file" and target.path is not None:
        return FileDestination(target.path, target.root)
    if target.scheme in ("http", "https") and session is not None:
        return HttpDestination(url, session, http)
    if target.scheme == "s3" and target.bucket:
        return S3Destination(s3, target.bucket, target.prefix, target.sub)
    raise DestinationError(f"unsupported destination {target.scheme}://", transient=False)
