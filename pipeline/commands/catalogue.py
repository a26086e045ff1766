"""`pipeline groups`, `pipeline items` (with catalogue options), `pipeline diff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands import playlist
from pipeline.commands.common import api_client, run

if TYPE_CHECKING:  # annotations only: `--help` must not load aiohttp
    from pipeline.client import AsyncClient

TYPES = ("live", "movie", "series", "other")


def _line(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@click.command()
@click.argument("job_id")
@click.pass_context
def groups(ctx: click.Context, job_id: str) -> None:
    """Print the job's groups, one JSON object a line, with item counts by type."""
    for group in run(_groups(api_client(ctx), job_id)):
        click.echo(_line(group))


async def _groups(api: AsyncClient, job_id: str) -> list[dict[str, Any]]:
    async with api:
        return await api.groups(job_id)


@click.command()
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Write the items to FILE instead of stdout.")
@click.option("--group", metavar="G", help="Only the items of group G (exact name).")
@click.option("--search", "q", metavar="Q",
              help="Only items whose name contains Q (case and accents ignored).")
@click.option("--type", "kind", type=click.Choice(TYPES), help="Only items of this type.")
@click.option("--limit", type=click.IntRange(1), metavar="N", help="Stop after N items.")
@click.pass_context
def items(ctx: click.Context, job_id: str, output: Path | None, group: str | None,
          q: str | None, kind: str | None, limit: int | None) -> None:
    """Stream a done job's parsed items as NDJSON (one JSON object a line).

    Without --group, --search, --type or --limit: the full result, in
    playlist order. With any of them: the catalogue's pages, followed to the end.
    """
    if group is None and q is None and kind is None and limit is None:
        ctx.invoke(playlist.items, job_id=job_id, output=output)
        return
    if output is not None:
        raise click.UsageError("-o works only without catalogue options; redirect stdout")
    run(_pages(api_client(ctx), job_id, {"group": group, "q": q, "type": kind}, limit))


async def _pages(api: AsyncClient, job_id: str, query: dict[str, Any],
                 limit: int | None) -> None:
    left, cursor = limit, None
    async with api:
        while left is None or left > 0:
            size = 500 if left is None else min(left, 500)
            page = await api.page(job_id, limit=size, cursor=cursor, **query)
            for item in page["items"]:
                click.echo(_line(item))
            left = None if left is None else left - len(page["items"])
            cursor = page["next"]
            if cursor is None:
                return


@click.command()
@click.argument("job_id")
@click.option("--since-run", metavar="RUN", help="Fail unless the changes are since RUN.")
@click.pass_context
def diff(ctx: click.Context, job_id: str, since_run: str | None) -> None:
    """Stream the changes of the job's last refresh as NDJSON (added, changed, removed)."""
    run(_diff(api_client(ctx), job_id, since_run))


async def _diff(api: AsyncClient, job_id: str, since_run: str | None) -> None:
    async with api:
        async for change in api.diff(job_id, since_run):
            click.echo(_line(change))
