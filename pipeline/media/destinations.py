"""Where a prewarmed object goes: `file://`, `http(s)://`, `s3://`, `null://`.

Every destination reads the cached file in chunks, so memory stays flat whatever
the object size. Failures become `DestinationError` here, transient unless the
destination refused the object (HTTP 4xx other than 408/429, missing bucket).

    file:///dir              copy to /dir/<bucket>/<key>
    http(s)://host/path      streamed PUT to <url>/<key> (or POST to <url>); the
                             URL may name {media_id}, {bucket}, {key} instead
    s3://bucket/prefix       upload to bucket/prefix/<key> (same S3 endpoint)
    null://                  discard (benchmarks)
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from pipeline import storage
from pipeline.errors import DestinationError, ObjectNotFound, StorageError

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
    def __init__(self, root: Path) -> None:
        self.root = root

    async def push(self, src: BinaryIO, item: PushItem) -> str:
        target = self.root / _relpath(item.bucket, item.key)
        try:
            await asyncio.to_thread(_copy_file, src, target)
        except OSError as exc:
            raise DestinationError(f"cannot write {target}: {exc.strerror}") from exc
        return f"file://{target}"


def _copy_file(src: BinaryIO, target: Path) -> None:
    """Copy through a temporary name so readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    async def push(self, src: BinaryIO, item: PushItem) -> str:
        key = f"{self.prefix}/{item.key}" if self.prefix else item.key
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
            raise DestinationError(exc.message) from exc
        return f"s3://{self.bucket}/{key}"


def open_destination(url: str, *, s3: Any, session: aiohttp.ClientSession | None,
                     http: HttpOptions) -> Destination:
    """The destination for a URL (operator default or an allowed per-event override)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "null":
        return NullDestination()
    if scheme == "file":
        return FileDestination(Path(unquote(parts.path)))
    if scheme in ("http", "https") and session is not None:
        return HttpDestination(url, session, http)
    if scheme == "s3" and parts.netloc:
        return S3Destination(s3, parts.netloc, unquote(parts.path))
    raise DestinationError(f"unsupported destination {scheme}://", transient=False)
