"""pipeline.catalogue_job.upload_as_built against the real embedded S3: the data
object goes up part by part while the builder writes it, the index after it."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipeline import catalogue_job, storage
from pipeline.embedded.harness import S3Server
from pipeline.errors import JobError
from pipeline.settings import Settings

BUCKET = "pipeline-results"
PART = 5 * 1024 * 1024  # the smallest part S3 takes (but the last)


class BuilderStandIn:
    """Appends to the data file in steps, as the builder process does, then answers.

    Before its last step it asks S3 how many parts of the data object are already
    up: parts that go up while the builder still writes."""

    def __init__(self, workdir: Path, steps: list[bytes], s3: Any, fail: bool = False) -> None:
        self.run_id, self.data_path = uuid.uuid4().hex[:12], str(workdir / "data")
        self.steps, self.s3, self.fail = steps, s3, fail
        self.parts_before_done = -1
        Path(self.data_path).write_bytes(b"")

    async def finish(self) -> dict[str, Any]:
        for step in self.steps:
            with open(self.data_path, "ab") as out:
                out.write(step)
            await asyncio.sleep(0.3)  # the uploader polls the file meanwhile
        self.parts_before_done = await self._parts_up()
        if self.fail:
            raise JobError("catalogue builder exited with 1")
        return {"format": 1, "run": self.run_id, "items": len(self.steps)}

    async def _parts_up(self) -> int:
        uploads = await self.s3.list_multipart_uploads(Bucket=BUCKET)
        total = 0
        for upload in uploads.get("Uploads", []):
            if self.run_id in upload["Key"]:
                parts = await self.s3.list_parts(Bucket=BUCKET, Key=upload["Key"],
                                                 UploadId=upload["UploadId"])
                total += len(parts.get("Parts", []))
        return total


def _settings(s3: S3Server) -> Settings:
    return Settings(s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,  # type: ignore[arg-type]
                    s3_secret_key=s3.secret_key)


async def _upload(s3: S3Server, tmp: Path, job: str, steps: list[bytes],
                  fail: bool = False) -> tuple[dict[str, Any], BuilderStandIn]:
    async with storage.open_client(_settings(s3)) as client:
        build = BuilderStandIn(tmp, steps, client, fail)
        index, _done_at = await catalogue_job.upload_as_built(client, BUCKET, job, build)  # type: ignore[arg-type]
        return index, build


def _get(s3: S3Server, key: str) -> bytes | None:
    try:
        return s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[no-any-return]
    except Exception as exc:
        if "NoSuchKey" in str(exc) or "404" in str(exc):
            return None
        raise


def test_data_goes_up_while_built_then_the_index(s3_server: S3Server, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "PART_SIZE", PART)
    steps = [os.urandom(n) for n in (PART - 10, PART + 20, 10, 0, PART // 3)]
    job = uuid.uuid4().hex
    index, build = asyncio.run(_upload(s3_server, tmp_path, job, steps))
    keys = catalogue_job.object_keys(job, build.run_id)
    assert _get(s3_server, keys["data"]) == b"".join(steps)
    assert _get(s3_server, keys["index"]) is not None
    assert index["items"] == len(steps)
    assert build.parts_before_done >= 1  # a part was up before the builder was done


def test_a_failed_build_leaves_no_objects(s3_server: S3Server, tmp_path: Path) -> None:
    job = uuid.uuid4().hex
    with pytest.raises(JobError):
        asyncio.run(_upload(s3_server, tmp_path, job, [b"x" * 100], fail=True))
    listed = s3_server.client().list_objects_v2(Bucket=BUCKET, Prefix=f"results/{job}/")
    assert listed.get("KeyCount", 0) == 0
