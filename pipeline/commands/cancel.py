"""`pipeline cancel ID`: cancel a playlist job (or, with --media, a media job)."""

from __future__ import annotations

from typing import Any

import click

from pipeline.client import AsyncClient
from pipeline.commands.common import api_client, echo_json, run


@click.command()
@click.argument("job_id")
@click.option("--media", is_flag=True, help="JOB_ID is a media id (a prewarm job).")
@click.pass_context
def cancel(ctx: click.Context, job_id: str, media: bool) -> None:
    """Cancel a queued or running job and print its document (status `cancelled`).

    A queued job never starts; a running parse is stopped within 2 s and leaves
    no result. Submitting the same URL again starts a fresh job. Exits 3 with
    `job_finished` when the job had already ended.
    """
    echo_json(run(_cancel(api_client(ctx), job_id, media)))


async def _cancel(api: AsyncClient, job_id: str, media: bool) -> dict[str, Any]:
    async with api:
        return await api.cancel(job_id, media=media)
