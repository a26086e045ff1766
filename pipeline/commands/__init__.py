"""The `pipeline` subcommands (client, replay, admin); `pipeline.cli` registers them."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add every subcommand of this package to `group`."""
    from pipeline.commands.admin import reset_state, topics
    from pipeline.commands.media import media
    from pipeline.commands.playlist import items, parse, status
    from pipeline.commands.replay import replay

    for command in (parse, status, items, media, replay, topics, reset_state):
        group.add_command(command)
