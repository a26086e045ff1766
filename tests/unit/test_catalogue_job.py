"""pipeline.catalogue_job: the data object goes up while the builder writes it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline import catalogue_job, storage
from pipeline.errors import JobError


class FakeS3:
    """The calls MultipartWriter and put_bytes make, kept in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.parts: dict[str, dict[int, bytes]] = {}
        self.order: list[str] = []
        self.part_times: list[float] = []

    async def create_multipart_upload(self, Key: str, **_: Any) -> dict[str, Any]:
        self.parts[Key] = {}
        return {"UploadId": Key}

    async def upload_part(self, Key: str, PartNumber: int, Body: bytes,
                          **_: Any) -> dict[str, Any]:  # fmt: skip
        self.parts[Key][PartNumber] = Body
        self.part_times.append(time.monotonic())
        return {"ETag": str(PartNumber)}

    async def complete_multipart_upload(self, Key: str, **_: Any) -> None:
        self.objects[Key] = b"".join(body for _n, body in sorted(self.parts.pop(Key).items()))
        self.order.append(Key)

    async def abort_multipart_upload(self, Key: str, **_: Any) -> None:
        self.parts.pop(Key, None)

    async def put_object(self, Key: str, Body: bytes, **_: Any) -> None:
        self.objects[Key] = Body
        self.order.append(Key)


class FakeBuild:
    """Appends the data file in steps, as the builder's finish does, then answers."""

    def __init__(self, workdir: Path, steps: list[bytes], fail: bool = False) -> None:
        self.run_id, self.data_path = "r1", str(workdir / "data")
        self.steps, self.fail = steps, fail
        Path(self.data_path).write_bytes(b"")

    async def finish(self) -> dict[str, Any]:
        for step in self.steps:
            with open(self.data_path, "ab") as out:
                out.write(step)
            await asyncio.sleep(0.02)
        if self.fail:
            raise JobError("catalogue builder exited with 1")
        return {"format": 1, "run": self.run_id, "items": len(self.steps)}


def test_data_goes_up_as_written_then_the_index(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "PART_SIZE", 1000)
    steps = [os.urandom(n) for n in (700, 2500, 10, 0, 1800)]
    s3, build = FakeS3(), FakeBuild(tmp_path, steps)
    index, done_at = asyncio.run(catalogue_job.upload_as_built(s3, "b", "j", build))  # type: ignore[arg-type]
    keys = catalogue_job.object_keys("j", "r1")
    assert s3.objects[keys["data"]] == b"".join(steps)
    assert s3.order == [keys["data"], keys["index"]]  # the index only after the data
    assert index["items"] == len(steps)
    assert min(s3.part_times) < done_at  # parts went up before the builder was done


def test_a_failed_build_leaves_no_objects(tmp_path: Path) -> None:
    s3, build = FakeS3(), FakeBuild(tmp_path, [b"x" * 100], fail=True)
    with pytest.raises(JobError):
        asyncio.run(catalogue_job.upload_as_built(s3, "b", "j", build))  # type: ignore[arg-type]
    assert s3.objects == {} and s3.parts == {}
