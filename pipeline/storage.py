"""S3-compatible storage (SeaweedFS, R2, MinIO, AWS) through aiobotocore.

One client per process, opened at start and closed at stop. botocore errors are
translated here, in one place, into `StorageError` / `ObjectNotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from pipeline.errors import ObjectNotFound, StorageError, StorageRefused
from pipeline.settings import Settings

# S3 multipart parts must be >= 5 MiB except the last; 8 MiB keeps memory small.
PART_SIZE = 8 * 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
# Error codes that mean S3 refused the request itself: retrying cannot help.
_PERMANENT = {
    "InvalidBucketName", "InvalidRequest", "InvalidArgument", "InvalidObjectName",
    "KeyTooLongError", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "AccountProblem", "MethodNotAllowed", "EntityTooLarge",
    "EntityTooSmall", "InvalidPart", "InvalidPartOrder", "InvalidStorageClass",
    "MalformedXML", "MetadataTooLarge", "InvalidURI", "InvalidDigest", "BadDigest",
    "MissingContentLength", "InvalidRange", "400", "403", "405", "411", "413", "414",
}
# Codes worth another attempt even though their HTTP status is 4xx.
_TRANSIENT = {"RequestTimeout", "RequestTimeTooSkewed", "SlowDown", "Throttling",
              "ThrottlingException", "TooManyRequests", "OperationAborted",
              "ExpiredToken", "408", "409", "429"}


def classify(code: str, http_status: int = 0) -> str:
    """`missing`, `permanent` or `transient` for an S3 error code (the one place)."""
    if code in _MISSING:
        return "missing"
    if code in _TRANSIENT:
        return "transient"
    if code in _PERMANENT or (400 <= http_status < 500 and http_status not in (408, 409, 429)):
        return "permanent"
    return "transient"


def client_config(settings: Settings) -> AioConfig:
    """Pool, timeouts and R2-safe checksum settings (R2 has rejected default CRC32s)."""
    return AioConfig(
        max_pool_connections=settings.s3_max_pool,
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        tcp_keepalive=True,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@contextlib.asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[Any]:
    """An aiobotocore S3 client for the configured endpoint (use as `async with`)."""
    access, secret = settings.s3_credentials()
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region if settings.s3_region != "auto" or not
        settings.embedded_s3 else "us-east-1",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=client_config(settings),
    ) as client:
        yield client


class SharedClient:
    """One S3 client, opened on first use and kept until ``close()``: making a client
    costs 0.1-0.4 s of CPU on the event loop, too much per request or per run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        async with self._lock:
            if self._client is None:
                self._client = await self._stack.enter_async_context(open_client(self.settings))
        return self._client

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()


@contextlib.contextmanager
def s3_errors(bucket: str, key: str) -> Any:
    """Translate botocore failures into the pipeline's storage errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        kind = classify(code, status)
        if kind == "missing":
            raise ObjectNotFound(f"s3://{bucket}/{key} does not exist") from exc
        if kind == "permanent":
            raise StorageRefused(f"S3 refused the request ({code or status}) on "
                                 f"s3://{bucket}/{key}") from exc
        raise StorageError(f"S3 {code or 'error'} on s3://{bucket}/{key}") from exc
    except ParamValidationError as exc:  # botocore refused it before sending
        raise StorageRefused(f"S3 request refused for s3://{bucket}/{key}: invalid "
                             "bucket or key") from exc
    except (BotoCoreError, OSError, TimeoutError) as exc:
        raise StorageError(f"S3 unreachable for s3://{bucket}/{key}: {type(exc).__name__}") \
            from exc


async def head(client: Any, bucket: str, key: str) -> dict[str, Any]:
    """Size, content type and ETag of an object."""
    with s3_errors(bucket, key):
        meta = await client.head_object(Bucket=bucket, Key=key)
    return {"size": int(meta.get("ContentLength", 0)),
            "content_type": meta.get("ContentType", ""), "etag": meta.get("ETag", "")}


async def iter_object(client: Any, bucket: str, key: str,
                      chunk_size: int = 1024 * 1024) -> AsyncGenerator[bytes, None]:
    """Stream an object's body; the body is always closed so its connection returns."""
    with s3_errors(bucket, key):
        resp = await client.get_object(Bucket=bucket, Key=key)
    body = resp["Body"]
    try:
        with s3_errors(bucket, key):
            while True:
                chunk = await body.read(chunk_size)
                if not chunk:
                    break
                yield chunk
    finally:
        body.close()


class MultipartWriter:
    """Write a large object in parts with flat memory; `complete()` makes it visible.

    Nothing is visible under `key` until `complete()`; `abort()` (or an error inside
    `async with`) discards the parts. One part uploads while the caller produces the
    next (at most two parts in memory), so the producer does not stall on S3.
    """

    def __init__(self, client: Any, bucket: str, key: str, content_type: str,
                 content_encoding: str | None = None) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.content_type, self.content_encoding = content_type, content_encoding
        self._buf = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._in_flight: asyncio.Task[dict[str, Any]] | None = None
        self._upload_id: str | None = None
        self.size = 0

    async def __aenter__(self) -> MultipartWriter:
        extra = {"ContentEncoding": self.content_encoding} if self.content_encoding else {}
        with s3_errors(self.bucket, self.key):
            resp = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type, **extra)
        self._upload_id = resp["UploadId"]
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            await self.abort()

    async def write(self, data: bytes) -> None:
        self._buf += data
        self.size += len(data)
        if len(self._buf) >= PART_SIZE:
            await self._send_part()

    async def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        with s3_errors(self.bucket, self.key):
            resp = await self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": resp["ETag"]}

    async def _wait_in_flight(self) -> None:
        if self._in_flight is not None:
            task, self._in_flight = self._in_flight, None
            self._parts.append(await task)

    async def _send_part(self) -> None:
        await self._wait_in_flight()
        number = len(self._parts) + 1
        body = bytes(self._buf)
        self._buf.clear()
        self._in_flight = asyncio.create_task(self._upload_part(number, body))

    async def complete(self) -> None:
        await self._wait_in_flight()
        if self._buf or not self._parts:  # an empty object still needs one part
            await self._send_part()
            await self._wait_in_flight()
        with s3_errors(self.bucket, self.key):
            await self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts})
        self._upload_id = None

    async def abort(self) -> None:
        if self._in_flight is not None:
            self._in_flight.cancel()
            await asyncio.gather(self._in_flight, return_exceptions=True)
            self._in_flight = None
        if self._upload_id is None:
            return
        with contextlib.suppress(Exception):
            await self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        self._upload_id = None


async def put_bytes(client: Any, bucket: str, key: str, body: bytes,
                    content_type: str = "application/octet-stream") -> None:
    """A small object in one PUT (a catalogue index, a summary)."""
    with s3_errors(bucket, key):
        await client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


async def get_bytes(client: Any, bucket: str, key: str) -> bytes:
    """A small object's whole body."""
    with s3_errors(bucket, key):
        resp = await client.get_object(Bucket=bucket, Key=key)
        async with resp["Body"] as body:
            return bytes(await body.read())


async def get_range(client: Any, bucket: str, key: str, offset: int, length: int) -> bytes:
    """``length`` bytes of an object from ``offset`` (one ranged GET)."""
    if length <= 0:
        return b""
    with s3_errors(bucket, key):
        resp = await client.get_object(Bucket=bucket, Key=key,
                                       Range=f"bytes={offset}-{offset + length - 1}")
        async with resp["Body"] as body:
            return bytes(await body.read())


async def upload_file(client: Any, bucket: str, key: str, path: str,
                      content_type: str = "application/octet-stream") -> int:
    """Upload a local file in parts with flat memory; return its size."""
    writer = MultipartWriter(client, bucket, key, content_type)
    async with writer:
        with open(path, "rb") as fileobj:  # a local temp file: 8 MiB reads do not block long
            while chunk := fileobj.read(PART_SIZE):
                await writer.write(chunk)
        await writer.complete()
    return writer.size


async def delete_keys(client: Any, bucket: str, keys: list[str]) -> None:
    """Delete objects one by one (every S3-compatible store has DeleteObject);
    a missing one is not an error: deletes are idempotent."""
    for key in keys:
        with s3_errors(bucket, key):
            await client.delete_object(Bucket=bucket, Key=key)


async def discard_object(client: Any, bucket: str, key: str) -> None:
    """Delete an object and abort any unfinished multipart upload of the same key
    (a writer killed mid-upload leaves one: invisible, but stored)."""
    await delete_keys(client, bucket, [key])
    with s3_errors(bucket, key):
        listed = await client.list_multipart_uploads(Bucket=bucket, Prefix=key)
        for upload in listed.get("Uploads", []):
            if upload.get("Key") == key:
                await client.abort_multipart_upload(Bucket=bucket, Key=key,
                                                    UploadId=upload["UploadId"])
