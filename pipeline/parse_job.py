"""One parse run, executed in a child process: download, parse, upload gzip NDJSON
and the run's catalogue (built beside it, pipeline.catalogue_job).

Runs in its own process so parse CPU work never stalls the worker's event loop,
and a crash or a memory blow-up takes down only this child. It talks to the
worker through a pipe: ``("start", rss_mb)`` (its RSS before the run, the base
of the logged ``rss_delta_mb``), ``("progress", items, bytes)`` now and then,
then one ``("done", {...})`` or ``("failed", {...})``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import psutil

from pipeline import catalogue_job
from pipeline.deathsig import die_with_parent
from pipeline.errors import JobError, PipelineError, StorageError
from pipeline.fetch import FetchInfo, FetchLimits, fetch_stream, make_session
from pipeline.m3u import M3UParser
from pipeline.m3u.ndjson import GzipNDJSONEncoder
from pipeline.netguard import AddressPolicy
from pipeline.settings import Settings
from pipeline.storage import MultipartWriter, open_client

# Progress messages at most this often: the worker turns each into a table write.
PROGRESS_EVERY_S = 1.0
# gzip level 1 (ISA-L when installed): the parse, not the upload, is the bottleneck
# on loopback; level 3 made results ~10% smaller for ~30% more compression time.
GZIP_LEVEL = 1
# Scheduling priority of parse processes relative to the worker (higher = nicer).
PARSE_NICENESS = 10


@dataclass(frozen=True)
class ParseSpec:
    """What a child needs to run one parse (picklable)."""

    job_id: str
    run_id: str
    url: str
    settings: Settings
    # The run whose catalogue the job serves now: the diff compares against it.
    previous_run: str = ""

    @property
    def result_key(self) -> str:
        # Run-specific: a crashed run never leaves a half result under the live key.
        return f"results/{self.job_id}/{self.run_id}.ndjson.gz"


def result_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


class _Progress:
    def __init__(self, conn: Connection) -> None:
        self.conn, self.last = conn, 0.0

    def maybe_send(self, items: int, nbytes: int) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.conn.send(("progress", items, nbytes))


async def run_parse(spec: ParseSpec, conn: Connection) -> dict[str, Any]:
    """Stream the playlist through the parser into S3 and the catalogue builder;
    upload the catalogue, diff it against the previous run; return the outcome."""
    settings = spec.settings
    policy = AddressPolicy.from_settings(settings)
    limits = FetchLimits.from_settings(settings)
    parser = M3UParser(fields=True)  # the catalogue builder's fields of each line
    info = FetchInfo()
    progress = _Progress(conn)
    encoder = GzipNDJSONEncoder(GZIP_LEVEL)
    bucket = settings.results_bucket
    started = time.monotonic(), time.process_time()
    with catalogue_job.workdir() as tmp:
        build = await catalogue_job.CatalogueBuild(spec.run_id, tmp).start()
        try:
            async with make_session(policy, limits) as session, open_client(settings) as s3:
                writer = MultipartWriter(s3, bucket, spec.result_key, "application/x-ndjson",
                                         content_encoding="gzip")
                async with writer:
                    async for chunk in fetch_stream(session, spec.url, limits, policy, info):
                        # NDJSON mode: most entries become lines without an item dict.
                        await _write(parser, parser.feed_ndjson(chunk), encoder, writer, build)
                        progress.maybe_send(parser.stats.items, info.bytes)
                    await _write(parser, parser.close_ndjson(), encoder, writer, build)
                    await writer.write(encoder.finish())
                    await writer.complete()
                catalogue = await _catalogue(spec, s3, build, _stream(started, build))
        finally:
            await build.stop()
    stats = parser.stats
    return {
        "items": stats.items,
        "bytes": info.bytes,
        "counts": dict(stats.counts),
        "groups": stats.groups,
        "result_uri": result_uri(bucket, spec.result_key),
        "stats": stats.to_dict() if hasattr(stats, "to_dict") else {},
        "catalogue": catalogue,
    }


async def _write(parser: M3UParser, lines: bytes, encoder: GzipNDJSONEncoder,
                 writer: MultipartWriter, build: catalogue_job.CatalogueBuild) -> None:
    fields = parser.take_fields()
    if lines:
        # The builder gets the lines first: it works on the other core meanwhile.
        await build.feed(lines, fields)
        await writer.write(encoder.encode_lines(lines))


def _stream(started: tuple[float, float], build: catalogue_job.CatalogueBuild,
            ) -> dict[str, float]:  # fmt: skip
    """The stream phase's wall time and the CPU seconds the child and the builder
    spent in it (which of the two held it back)."""
    return {"stream_s": time.monotonic() - started[0],
            "stream_cpu_s": time.process_time() - started[1],
            "builder_stream_cpu_s": build.cpu_s()}  # fmt: skip


async def _catalogue(spec: ParseSpec, s3: Any, build: catalogue_job.CatalogueBuild,
                     stream: dict[str, float]) -> dict[str, Any]:
    """Finish and upload (data as it is written, then index), then diff the run's
    catalogue."""
    bucket = spec.settings.results_bucket
    marks = [time.monotonic()]
    index, finished = await catalogue_job.upload_as_built(s3, bucket, spec.job_id, build)
    marks += [finished, time.monotonic()]
    changes = None
    if spec.previous_run and spec.previous_run != spec.run_id:
        changes = await catalogue_job.diff_runs(s3, bucket, spec.job_id, spec.previous_run,
                                                build, index)
    marks.append(time.monotonic())
    # Where a run's time goes (logged with parse_end): the catalogue's cost is watched.
    # upload_s is what the upload took after the builder was done.
    timings = {**stream, "finish_s": marks[1] - marks[0],
               "upload_s": marks[2] - marks[1], "diff_s": marks[3] - marks[2]}
    return {"run_id": spec.run_id, "items": index["items"], "groups": len(index["groups"]),
            "changes": changes, "timings": {k: round(v, 2) for k, v in timings.items()}}


def run_one(spec: ParseSpec, conn: Connection) -> None:
    """Run one parse and send its outcome; never raises."""
    try:
        outcome = asyncio.run(run_parse(spec, conn))
        conn.send(("done", outcome))
    except PipelineError as exc:
        conn.send(("failed", {**exc.to_dict(), "transient": exc.transient}))
    except Exception as exc:  # unknown failure: report it typed, let the worker retry
        err: JobError = StorageError(f"unexpected {type(exc).__name__}") \
            if "botocore" in type(exc).__module__ else JobError(f"{type(exc).__name__}: {exc}")
        conn.send(("failed", {**err.to_dict(), "transient": True}))


def child_loop(conn: Connection) -> None:
    """Entry point of a pooled parse process: run the specs the worker sends, one at a time.

    A pooled process saves the ~1 s of start-up and imports per parse; the worker
    replaces it whenever it crashes, passes the memory cap or is cancelled.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when we stop
    # Parse CPU work yields to the worker's event loop (web, heartbeats) on busy cores.
    os.nice(PARSE_NICENESS)
    try:
        while True:
            spec = conn.recv()
            if spec is None:
                return
            conn.send(("start", psutil.Process().memory_info().rss / 2**20))
            run_one(spec, conn)
    except (EOFError, OSError):  # the worker went away
        return
    finally:
        conn.close()
