"""`pipeline dlq list|redrive`: dead letters of an input topic, over the HTTP API."""

from __future__ import annotations

import time
from typing import Any

import click

from pipeline.client import AsyncClient
from pipeline.commands.common import api_client, echo_json, run
from pipeline.replay import parse_time


def _filters(reason: str | None, since: str | None, until: str | None,
             key: str | None) -> dict[str, Any]:
    now = time.time()
    try:
        return {"reason": reason, "key": key,
                "since": parse_time(since, now) if since else None,
                "until": parse_time(until, now) if until else None}
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _filter_options(command: Any) -> Any:
    for option in reversed((
            click.option("--reason", help="Only letters with this reason code (not_json, "
                                          "missing_field, ... or a job's error code)."),
            click.option("--since", help="Only letters from this time (ISO-8601, epoch "
                                         "seconds, or an age such as 2h)."),
            click.option("--until", help="Only letters before this time."),
            click.option("--key", help="Only letters whose record key (or job id) is KEY."))):
        command = option(command)
    return command


@click.group()
def dlq() -> None:
    """List dead letters and re-publish them through the intake."""


@dlq.command("list")
@click.argument("topic", default="playlist", metavar="TOPIC")
@_filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Letters per page.")
@click.option("--start", type=click.IntRange(min=0), default=0,
              help="Skip this many (the `next` of the previous page).")
@click.pass_context
def list_(ctx: click.Context, topic: str, reason: str | None, since: str | None,
          until: str | None, key: str | None, limit: int, start: int) -> None:
    """Print dead letters of TOPIC (playlist, media, an input topic or its .dlq) as
    JSON, oldest first: reason, time, redacted payload."""
    filters = {**_filters(reason, since, until, key), "limit": limit, "start": start}
    echo_json(run(_call(api_client(ctx), "dead_letters", topic, filters)))


@dlq.command()
@click.argument("topic", default="playlist", metavar="TOPIC")
@_filter_options
@click.option("--dry-run", is_flag=True, help="Count what would be re-published.")
@click.pass_context
def redrive(ctx: click.Context, topic: str, reason: str | None, since: str | None,
            until: str | None, key: str | None, dry_run: bool) -> None:
    """Re-publish the matching dead letters of TOPIC to its input topic.

    They pass the intake again (a letter still invalid goes back to the DLQ) and
    dedupe like any request: a job already queued, running or fresh is not
    started twice.
    """
    filters = {**_filters(reason, since, until, key), "dry_run": dry_run}
    echo_json(run(_call(api_client(ctx), "redrive", topic, filters)))


async def _call(api: AsyncClient, method: str, topic: str,
                filters: dict[str, Any]) -> dict[str, Any]:
    async with api:
        result: dict[str, Any] = await getattr(api, method)(topic, **filters)
        return result
