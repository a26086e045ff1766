"""`pipeline media publish --wait`: follow a media job to its end (SSE, else polling)."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipeline.client import AsyncClient
from pipeline.commands.common import EXIT_JOB_FAILED, EXIT_TIMEOUT, fail, run
from pipeline.errors import PipelineError


def describe_media(job: dict[str, Any]) -> str:
    status = job.get("status", "?")
    if status == "queued":
        position, eta = job.get("position"), job.get("eta_s")
        where = f", position {position}" if position else ""
        about = f", about {eta:.0f} s to done (estimate)" if isinstance(eta, int | float) else ""
        return f"queued{where}{about}"
    return str(status)


def follow_media(api: AsyncClient, media_id: str, timeout: float | None) -> None:
    """Print each state change until the job ends; exit 1 when it fails, 4 on timeout."""
    shown: list[str] = []

    def on_progress(job: dict[str, Any]) -> None:
        line = describe_media(job)
        if not shown or shown[-1] != line:
            shown.append(line)
            click.echo(f"media {media_id}: {line}")

    async def follow() -> dict[str, Any] | PipelineError | None:
        async with api:
            try:
                return await api.wait_media(media_id, on_progress=on_progress, timeout=timeout)
            except TimeoutError:
                return None
            except PipelineError as exc:
                if "job" in exc.details:  # the job ended failed or cancelled
                    return exc
                raise

    job = run(follow())
    if job is None:
        click.echo(f"still going after {timeout} s: follow it with "
                   f"`pipeline media status {media_id}`", err=True)
        sys.exit(EXIT_TIMEOUT)
    if isinstance(job, PipelineError):
        fail(job, EXIT_JOB_FAILED, prefix=str(job.details["job"].get("status", "failed")))
    ref = job.get("destination_ref")
    click.echo(f"media {media_id}: done" + (f", {ref}" if ref else ""))
