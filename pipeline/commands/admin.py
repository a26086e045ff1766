"""`pipeline topics` and `pipeline reset-state`: the operator's broker and table chores."""

from __future__ import annotations

import asyncio
import fcntl
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

from pipeline.commands import kafka_admin as ka
from pipeline.commands.common import EXIT_JOB_FAILED, EXIT_USAGE, fail, quiet_kafka_logs, run
from pipeline.errors import NotReady, PipelineError
from pipeline.settings import Settings, get_settings


@click.command()
@click.option("--create", is_flag=True,
              help="Create the pipeline topics that do not exist yet, with "
                   "PIPELINE_TOPIC_PARTITIONS partitions.")
@click.option("--replication-factor", type=click.IntRange(min=1), default=1,
              show_default=True, metavar="N",
              help="Replication factor of topics made by --create (e.g. 3 on a "
                   "three-node Redpanda cluster).")
def topics(create: bool, replication_factor: int) -> None:
    """List the pipeline's topics with their partition counts and roles.

    The tables' changelog topics are listed too; workers create those
    (compacted) when they start, so --create leaves them alone. Exits 1 when
    a topic's partition count differs from PIPELINE_TOPIC_PARTITIONS (the
    agents then fail with PartitionsMismatch) or a creation failed.
    """
    quiet_kafka_logs()
    settings = get_settings()
    own = ka.pipeline_topics(settings)
    roles = own | {name: "table changelog" for name in ka.changelog_topics(settings)}
    counts, created = run(_topics(settings, list(roles), list(own), create, replication_factor))
    click.echo(f"{'TOPIC':<44} {'PARTITIONS':>10}  ROLE")
    wrong = 0
    for name, role in roles.items():
        count = counts.get(name)
        note = f"  ({created[name]})" if name in created else ""
        if count is not None and count != settings.topic_partitions:
            wrong += 1  # Faust refuses a table whose source and changelog partitions differ
            note += f"  (PIPELINE_TOPIC_PARTITIONS is {settings.topic_partitions})"
        click.echo(f"{name:<44} {'missing' if count is None else count:>10}  {role}{note}")
    if wrong or any(outcome != "created" for outcome in created.values()):
        sys.exit(EXIT_JOB_FAILED)


async def _topics(settings: Settings, names: list[str], own: list[str], create: bool,
                  replication: int) -> tuple[dict[str, int | None], dict[str, str]]:
    async with ka.admin_client(settings) as admin:
        counts = await ka.partition_counts(admin, names)
        created: dict[str, str] = {}
        if create:
            missing = [name for name in own if counts[name] is None]
            created = await ka.create_topics(admin, missing, settings.topic_partitions,
                                             replication)
            made = [name for name, outcome in created.items() if outcome == "created"]
            counts = await ka.settled_counts(admin, names, made, settings.topic_partitions)
    return counts, created


def worker_alive(settings: Settings) -> str | None:
    """Why a worker looks alive on this machine (its web port, its table locks), or None."""
    url = f"http://127.0.0.1:{settings.web_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2):
            return f"a worker answers on {url}"
    except urllib.error.HTTPError:
        return f"a worker answers on {url}"
    except (urllib.error.URLError, OSError):
        pass
    for lock in sorted(settings.table_dir.rglob("LOCK")) if settings.table_dir.exists() else []:
        if _locked(lock):
            return f"{lock} is locked by a running process (a worker's table store)"
    return None


def _locked(path: Path) -> bool:
    """Whether another process holds the RocksDB lock on `path` (a POSIX record lock)."""
    try:
        with path.open("a") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError as exc:
        return exc.errno in (11, 13)  # EAGAIN / EACCES: held elsewhere
    return False


@click.command("reset-state")
@click.option("--yes", is_flag=True,
              help="Really delete. Without it, print what would be deleted and exit 2.")
def reset_state(yes: bool) -> None:
    """Start the tables over, for a full reprocess (every worker stopped first).

    \b
    Deletes:
      - this machine's local table state: PIPELINE_DATA_DIR/tables (RocksDB);
        run it on every worker machine;
      - the tables' changelog topics <app_id>-playlist_jobs-changelog and
        <app_id>-media_jobs-changelog, and the internal run-event topics
        <requests>.events and <uploads>.events;
      - the consumer group <app_id> with its committed offsets: workers then
        read the input topics from the earliest offset again and reprocess
        every request still in the log.
    Kept: the input and result topics, the DLQs, and the parsed results in
    object storage (unreachable through the API until their jobs run again).

    Refuses while a worker answers on PIPELINE_WEB_PORT or holds the table
    files, or (on Redpanda/Kafka) while the group has members. Where the
    broker cannot delete topics or groups, it says so; then use
    `rpk topic delete` / `rpk group delete`. On the embedded broker the log
    lives in memory and goes with it: `pipeline up` starts fresh anyway.
    """
    quiet_kafka_logs()
    settings = get_settings()
    if not yes:
        for line in _plan(settings):
            click.echo(f"would delete {line}")
        click.echo("nothing deleted: add --yes to go ahead", err=True)
        sys.exit(EXIT_USAGE)
    alive = worker_alive(settings)
    if alive:
        click.echo(f"refused: {alive}; stop every worker first", err=True)
        sys.exit(EXIT_JOB_FAILED)
    ok = _reset_broker(settings)
    _reset_local(settings)
    sys.exit(0 if ok else EXIT_JOB_FAILED)


class _Busy(Exception):
    """The consumer group still has members: nothing may be deleted."""


def _plan(settings: Settings) -> list[str]:
    topic_names = ka.changelog_topics(settings) + ka.events_topics(settings)
    return [f"local table state {settings.table_dir}",
            *(f"topic {name}" for name in topic_names),
            f"consumer group {settings.app_id} (committed offsets)"]


def _reset_local(settings: Settings) -> None:
    table_dir = settings.table_dir
    if table_dir.exists():
        shutil.rmtree(table_dir)
        click.echo(f"deleted local table state {table_dir}")
    else:
        click.echo(f"local table state {table_dir}: absent")


def _reset_broker(settings: Settings) -> bool:
    """Delete changelogs, event topics and the group; False when something was left."""
    try:
        outcomes = asyncio.run(_broker_steps(settings))
    except _Busy as exc:
        click.echo(f"refused: {exc}; stop every worker first", err=True)
        sys.exit(EXIT_JOB_FAILED)
    except NotReady as exc:
        if not settings.embedded_broker:
            fail(exc)
        click.echo("embedded broker not running: its in-memory log is gone already")
        return True
    except PipelineError as exc:
        fail(exc)
    for what, outcome in outcomes:
        click.echo(f"{what}: {outcome}")
    if all(outcome in ("deleted", "absent") for _, outcome in outcomes):
        return True
    click.echo("some broker state was not deleted (see above); on Redpanda: "
               f"`rpk topic delete <topic>`, `rpk group delete {settings.app_id}`", err=True)
    return False


async def _broker_steps(settings: Settings) -> list[tuple[str, str]]:
    async with ka.admin_client(settings) as admin:
        if not settings.embedded_broker:  # Tansu keeps stopped clients listed as members
            members = await ka.group_members(admin, settings.app_id)
            if members:
                raise _Busy(f"consumer group {settings.app_id} has {members} members")
        topics = await ka.delete_topics(
            admin, ka.changelog_topics(settings) + ka.events_topics(settings))
        group = await ka.delete_group(admin, settings.app_id)
    return [*((f"topic {name}", outcome) for name, outcome in topics.items()),
            (f"consumer group {settings.app_id}", group)]
