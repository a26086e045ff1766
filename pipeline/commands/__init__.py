"""The `pipeline` subcommands (client, replay, admin); `pipeline.cli` registers them."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add every subcommand of this package to `group`."""
    from pipeline.commands.admin import reset_state, topics
    from pipeline.commands.cancel import cancel
    from pipeline.commands.dlq import dlq
    from pipeline.commands.jobs import items, parse, status
    from pipeline.commands.media import media
    from pipeline.commands.replay import replay

    for command in (parse, status, items, media, replay, topics, reset_state, cancel, dlq):
        group.add_command(command)
