"""`pipeline parse`, `pipeline status`, `pipeline items`: playlist jobs over the HTTP API."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from pipeline.commands.common import (
    EXIT_JOB_FAILED,
    EXIT_TIMEOUT,
    api_client,
    echo_json,
    fail,
    run,
)
from pipeline.commands.progress import ProgressDisplay, describe, summary
from pipeline.errors import JobError, PipelineError
from pipeline.urls import redact_text

if TYPE_CHECKING:  # annotations only: `pipeline status --help` must not load aiohttp
    from pipeline.client import AsyncClient


def _accepted_line(answer: dict[str, Any]) -> str:
    note = ""
    if answer.get("deduplicated"):
        note = (" (a fresh result exists; --force parses again)" if answer.get("status") == "done"
                else " (deduplicated: this job is already queued or running)")
    return f"job {answer.get('job_id')}: {describe(answer)}{note}"


@click.command()
@click.argument("url")
@click.option("--force", is_flag=True,
              help="Parse again even when a fresh result exists (a job already queued or "
                   "running is never started twice).")
@click.option("--wait", "wait_", is_flag=True,
              help="Follow the job until it ends (server-sent events, else polling): queue "
                   "position and ETA while queued, items and MB while running, then a "
                   "summary with counts by type. Exits 1 with the error code when the job "
                   "fails or is cancelled.")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --wait: stop waiting after this many seconds (exit 4; the job "
                   "goes on).")
@click.option("--callback-url", metavar="URL",
              help="POST the signed outcome to URL when the job ends (a webhook).")
@click.pass_context
def parse(ctx: click.Context, url: str, force: bool, wait_: bool,
          timeout: float | None, callback_url: str | None) -> None:
    """Submit the playlist URL for parsing and print its job id.

    The job id is the same for the same URL every time: a second submit while
    the job is queued or running returns that job instead of starting another.
    Without --wait, follow it with `pipeline status JOB_ID`.
    """
    run(_parse(api_client(ctx), url, force, wait_, timeout, callback_url))


async def _parse(api: AsyncClient, url: str, force: bool, wait_: bool,
                 timeout: float | None, callback_url: str | None = None) -> None:
    async with api:
        answer = await api.submit(url, force, callback_url)
        click.echo(_accepted_line(answer))
        if wait_:
            await _follow(api, answer, timeout)


async def _follow(api: AsyncClient, answer: dict[str, Any], timeout: float | None) -> None:
    job_id = answer["job_id"]
    display = ProgressDisplay()
    display.seen(answer)
    try:
        job = await api.wait(job_id, on_progress=display, timeout=timeout)
    except JobError as exc:
        display.close()
        fail(exc, EXIT_JOB_FAILED, prefix="failed")
    except TimeoutError:
        display.close()
        click.echo(f"still running after {timeout} s: follow it with "
                   f"`pipeline status {job_id}`", err=True)
        sys.exit(EXIT_TIMEOUT)
    except PipelineError:
        display.close()
        raise
    display.close()
    click.echo(summary(job))


@click.command()
@click.argument("job_id")
@click.pass_context
def status(ctx: click.Context, job_id: str) -> None:
    """Print the job's status document as JSON (URL redacted).

    Fields: status (queued, running, done, failed), position in the queue,
    progress (items, bytes), runs, timestamps, error {code, message} and
    result {items, counts by type, groups}. Exits 1 when the job failed.
    """
    job = run(_status(api_client(ctx), job_id))
    echo_json(job)
    if job.get("status") == "failed":
        err = job.get("error") or {}
        click.echo(f"failed: {err.get('code')}: {redact_text(str(err.get('message')))}",
                   err=True)
        sys.exit(EXIT_JOB_FAILED)


async def _status(api: AsyncClient, job_id: str) -> dict[str, Any]:
    async with api:
        return await api.status(job_id)


@click.command()
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Write the items to FILE instead of stdout.")
@click.pass_context
def items(ctx: click.Context, job_id: str, output: Path | None) -> None:
    """Stream a done job's parsed items as NDJSON (one JSON object a line).

    Memory stays flat whatever the playlist size. With -o, the count is printed
    on stderr and a partial file is removed if the stream breaks.
    """
    api = api_client(ctx)
    if output is None:
        count = run(_write_items(api, job_id, click.get_text_stream("stdout")))
    else:
        try:
            with output.open("w", encoding="utf-8") as out:
                count = run(_write_items(api, job_id, out))
        except SystemExit:
            with contextlib.suppress(OSError):
                output.unlink()
            raise
        click.echo(f"wrote {count:,} items to {output}", err=True)


async def _write_items(api: AsyncClient, job_id: str, out: TextIO) -> int:
    count = 0
    async with api:
        async for item in api.items(job_id):
            out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count

