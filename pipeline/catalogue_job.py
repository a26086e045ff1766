"""The catalogue side of a parse run: build beside the parse, upload, diff.

The parse child forwards the NDJSON it already produces, with the parser's
catalogue fields of each line, to a builder process (``python -m
pipeline.catalogue_builder RUN DATA SPILL``) through a pipe, so the catalogue
writer's per-item work runs on the other core while the child parses and
uploads (docs/catalogue.md, "In the parse run"). The builder writes
the data file and prints the index on stdout; the child then uploads the data
object, then the index (an index that exists always describes a complete data
object), then diffs against the previous run when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sys
import tempfile
import time
import zlib
from typing import Any

import psutil

from pipeline import storage
from pipeline.catalogue import Catalogue, diff, dump_index, load_index, object_keys
from pipeline.catalogue_builder import FRAME
from pipeline.errors import JobError, ObjectNotFound, PipelineError

log = logging.getLogger("pipeline.catalogue")

# The pipe to the builder holds about a frame (Linux F_SETPIPE_SZ; the default is
# 64 KiB), so the child can write one while the builder works on the one before.
PIPE_BYTES = 2**20
_F_SETPIPE_SZ = 1031
# How often the data file is checked for a new part while the builder lays it out.
UPLOAD_POLL_S = 0.05


class CatalogueBuild:
    """A builder process fed NDJSON lines and their fields; ``finish()`` returns the index."""

    def __init__(self, run_id: str, workdir: str) -> None:
        self.run_id, self.workdir = run_id, workdir
        self.data_path = os.path.join(workdir, "catalogue.data")
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> CatalogueBuild:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipeline.catalogue_builder", self.run_id, self.data_path,
            self.workdir, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError, AttributeError):
            pipe = self.proc.stdin.transport.get_extra_info("pipe")
            fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        return self

    async def feed(self, lines: bytes, fields: bytes) -> None:
        """Send NDJSON lines and their catalogue fields (``M3UParser.take_fields``)."""
        assert self.proc is not None and self.proc.stdin is not None
        if lines:
            self.proc.stdin.writelines((FRAME.pack(len(lines), len(fields)), lines, fields))
            await self.proc.stdin.drain()

    async def finish(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        out, _ = await self.proc.communicate()
        if self.proc.returncode != 0:
            raise JobError(f"catalogue builder exited with {self.proc.returncode}")
        return load_index(out)

    def cpu_s(self) -> float:
        """CPU seconds the builder has used so far (0 when it is gone)."""
        try:
            times = psutil.Process(self.proc.pid).cpu_times() if self.proc else None
        except psutil.Error:
            return 0.0
        return times.user + times.system if times else 0.0

    async def stop(self) -> None:
        """Kill the builder if it still runs, and reap it (a transport left to the
        garbage collector after the loop closed logs a traceback)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _file_reader(path: str) -> Any:
    fileobj = open(path, "rb")  # noqa: SIM115 - closed by the caller via .close

    async def read_range(offset: int, length: int) -> bytes:
        fileobj.seek(offset)
        return fileobj.read(length)

    read_range.close = fileobj.close  # type: ignore[attr-defined]
    return read_range


def s3_reader(client: Any, bucket: str, key: str) -> Any:
    async def read_range(offset: int, length: int) -> bytes:
        return await storage.get_range(client, bucket, key, offset, length)

    return read_range


async def upload_as_built(client: Any, bucket: str, job_id: str,
                          build: CatalogueBuild) -> tuple[dict[str, Any], float]:
    """Let the builder finish while the data file goes up as it grows (the builder
    only appends to it), then upload the index (an index that exists always
    describes a complete data object). Return the index and when the builder was
    done (``time.monotonic()``)."""
    keys = object_keys(job_id, build.run_id)
    finish = asyncio.ensure_future(build.finish())
    done_at: list[float] = []
    finish.add_done_callback(lambda _task: done_at.append(time.monotonic()))
    try:
        if not os.path.exists(build.data_path):  # the builder failed before opening it
            await finish
        writer = storage.MultipartWriter(client, bucket, keys["data"], "application/octet-stream")
        async with writer:
            with open(build.data_path, "rb") as data:
                while True:
                    done = finish.done()
                    ready = os.fstat(data.fileno()).st_size - data.tell()
                    if ready >= storage.PART_SIZE or (done and ready):
                        await writer.write(data.read(min(ready, storage.PART_SIZE)))
                    elif done:
                        break
                    else:
                        await asyncio.wait([finish], timeout=UPLOAD_POLL_S)
            index = finish.result()
            await writer.complete()
    finally:
        finish.cancel()
    await storage.put_bytes(client, bucket, keys["index"], dump_index(index), "application/json")
    return index, done_at[0]


async def load_catalogue(client: Any, bucket: str, job_id: str, run_id: str) -> Catalogue:
    keys = object_keys(job_id, run_id)
    index = load_index(await storage.get_bytes(client, bucket, keys["index"]))
    return Catalogue(index, s3_reader(client, bucket, keys["data"]))


async def diff_runs(client: Any, bucket: str, job_id: str, previous: str,
                    build: CatalogueBuild, index: dict[str, Any]) -> dict[str, Any] | None:
    """Counts of the changes since ``previous`` (uploaded as gzip NDJSON), or None
    when the previous run's catalogue is gone (deleted or never built)."""
    try:
        old = await load_catalogue(client, bucket, job_id, previous)
    except ObjectNotFound:
        return None
    new_reader = _file_reader(build.data_path)
    path = os.path.join(build.workdir, "diff.ndjson.gz")
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    try:
        with open(path, "wb") as out:
            counts = await diff(old, Catalogue(index, new_reader),
                                lambda line: out.write(comp.compress(line)), build.workdir)
            out.write(comp.flush())
    finally:
        new_reader.close()
    key = object_keys(job_id, build.run_id)["diff"]
    await storage.upload_file(client, bucket, key, path, "application/x-ndjson")
    return {"since_run": previous, **counts}


async def discard_result(s3: storage.SharedClient, uri: str) -> None:
    """Delete a cancelled run's NDJSON result (``s3://bucket/key``): the object, or the
    multipart upload its killed child left unfinished. Failures are logged."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        await storage.discard_object(await s3.get(), bucket, key)
        log.info("parse_result_discarded", extra={"key": key})
    except Exception:
        log.exception("parse_result_discard_failed", extra={"key": key})


async def delete_runs(s3: storage.SharedClient, bucket: str, job_id: str,
                      runs: list[str]) -> None:
    """Delete every object of ``runs`` (retention); failures are logged, not raised:
    a leftover object costs storage, never a wrong answer."""
    keys = [key for run in runs for key in object_keys(job_id, run).values()]
    try:
        await storage.delete_keys(await s3.get(), bucket, keys)
    except PipelineError as exc:
        log.warning("catalogue_retention_failed", extra={"job_id": job_id, "runs": runs,
                                                         "code": exc.code})
        return
    log.info("catalogue_runs_deleted", extra={"job_id": job_id, "runs": runs})


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="catalogue-")
