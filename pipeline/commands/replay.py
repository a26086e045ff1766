"""`pipeline replay`: re-publish an input topic's records of a time window, marked as replays."""

from __future__ import annotations

import sys
import time

import click

from pipeline.commands.common import EXIT_USAGE, quiet_kafka_logs, run
from pipeline.replay import ReplayStats, Window, replay_kind
from pipeline.replay import replay as run_replay
from pipeline.settings import get_settings

TIME_FORMS = ("ISO-8601 (2024-05-01T12:00:00Z; local time without an offset), "
              "a relative form meaning that long ago (90s, 10m, 2h, 1d), or epoch seconds")


@click.command()
@click.argument("topic")
@click.option("--since", required=True, metavar="TIME",
              help=f"Start of the window (inclusive): {TIME_FORMS}.")
@click.option("--until", metavar="TIME",
              help="End of the window (inclusive), same forms (default: up to the end "
                   "offsets captured when the replay starts).")
@click.option("--key", metavar="KEY",
              help="Only this key: a job id (or the playlist URL itself) for parse "
                   "requests, a media id for uploads.")
@click.option("--dry-run", is_flag=True,
              help="Read and count, list what would be sent, send nothing.")
def replay(topic: str, since: str, until: str | None, key: str | None,
           dry_run: bool) -> None:
    """Reprocess TOPIC's records whose timestamps fall in a time window.

    TOPIC is an input topic: playlist.parse.requests (each job in the window is
    parsed again) or media.uploads (each object is prewarmed again). For every
    key, the latest record in the window is re-published to its partition
    with "replay": true, which dedupe lets through a done result; a job still
    queued or running is not started twice. A replayed job gets a new run id
    and its row points at the new result.

    The window start is found with offsets_for_times where the broker supports
    it; otherwise (the embedded broker) every partition is scanned from its
    earliest offset and filtered by record timestamp. Reading stops at the end
    offsets captured at start, so the replay never reads its own output.

    \b
    Examples:
      pipeline replay playlist.parse.requests --since 2h --dry-run
      pipeline replay playlist.parse.requests --since 2024-05-01T10:00Z --until 2024-05-01T11:00Z
      pipeline replay media.uploads --since 30m --key 3f9a...
    """
    quiet_kafka_logs()
    settings = get_settings()
    try:
        replay_kind(topic, settings)
        window = Window.parse(since, until, time.time())
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"replay {topic}: window {window.describe()}" + (" (dry run)" if dry_run else ""))
    stats = run(run_replay(settings, topic, window, key=key, dry_run=dry_run))
    _report(stats, dry_run)


def count(n: int, noun: str) -> str:
    """`1 replay`, `2 replays`."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _report(stats: ReplayStats, dry_run: bool) -> None:
    click.echo(f"seek: {stats.seek}; records filtered by timestamp")
    click.echo(f"read {count(stats.read, 'record')} from "
               f"{count(stats.partitions, 'partition')}; {stats.matched:,} in the window, "
               f"{count(stats.keys, 'distinct key')}")
    if stats.unreadable:
        click.echo(f"skipped {stats.unreadable:,} records whose value is not a JSON object")
    if stats.incomplete:
        click.echo(f"warning: gave up on {', '.join(stats.incomplete)}: no records below the "
                   "end offset the broker reported", err=True)
    if dry_run:
        for line in stats.samples:
            click.echo(f"  would send {line}")
        if stats.keys > len(stats.samples):
            click.echo(f"  ... and {stats.keys - len(stats.samples):,} more")
        click.echo(f"dry run: would send {count(stats.keys, 'replay')}; sent 0")
    else:
        click.echo(f"sent {count(stats.sent, 'replay')}")
