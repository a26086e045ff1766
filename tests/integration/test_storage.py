"""MultipartWriter against the real embedded S3: parts, empty objects, aborts."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

from pipeline.embedded.harness import S3Server
from pipeline.settings import Settings
from pipeline.storage import PART_SIZE, MultipartWriter, open_client

BUCKET = "pipeline-results"


def _settings(s3: S3Server) -> Settings:
    return Settings(s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,  # type: ignore[arg-type]
                    s3_secret_key=s3.secret_key)


def _get(s3: S3Server, key: str) -> bytes | None:
    try:
        return s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except Exception as exc:
        if "NoSuchKey" in str(exc) or "404" in str(exc):
            return None
        raise


async def _write(s3: S3Server, key: str, chunks: list[bytes], fail: bool = False) -> int:
    async with open_client(_settings(s3)) as client:
        writer = MultipartWriter(client, BUCKET, key, "application/octet-stream")
        async with writer:
            for chunk in chunks:
                await writer.write(chunk)
            if fail:
                raise RuntimeError("producer failed")
            await writer.complete()
        return len(writer._parts)


def test_parts_round_trip_in_order(s3_server: S3Server) -> None:
    key = f"t/{uuid.uuid4().hex}"
    # 2.5 parts in uneven chunks: parts upload while later ones are produced.
    data = os.urandom(PART_SIZE * 5 // 2)
    chunks = [data[i:i + 700_001] for i in range(0, len(data), 700_001)]
    parts = asyncio.run(_write(s3_server, key, chunks))
    assert parts == 3
    assert _get(s3_server, key) == data


def test_empty_object(s3_server: S3Server) -> None:
    key = f"t/{uuid.uuid4().hex}"
    assert asyncio.run(_write(s3_server, key, [])) == 1
    assert _get(s3_server, key) == b""


def test_error_inside_leaves_nothing_visible(s3_server: S3Server) -> None:
    key = f"t/{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError):
        asyncio.run(_write(s3_server, key, [os.urandom(PART_SIZE + 10)], fail=True))
    assert _get(s3_server, key) is None
    # The upload was aborted, not left behind (its parts would hold storage).
    uploads = s3_server.client().list_multipart_uploads(Bucket=BUCKET, Prefix=key)
    assert not uploads.get("Uploads"), uploads
