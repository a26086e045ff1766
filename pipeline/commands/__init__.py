"""The `pipeline` subcommands, imported only when one runs (`pipeline.cli` uses `LazyGroup`).

Each command pulls in heavy libraries (aiohttp, aiokafka, pydantic, ...);
importing them all before parsing the arguments made every `pipeline` call,
even `--help`, pay ~0.5 s and ~45 MB. The group lists commands from the
table below and imports a command's module when that command is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click
from click.utils import make_default_short_help

# name -> (module, attribute, first line of its help: `pipeline --help` shows it without
# importing the module; tests/unit/test_cli_lazy.py checks it against the command's own).
LAZY: dict[str, tuple[str, str, str]] = {
    "parse": ("pipeline.commands.playlist", "parse",
              "Submit the playlist URL for parsing and print its job id."),
    "status": ("pipeline.commands.playlist", "status",
               "Print the job's status document as JSON (URL redacted)."),
    "items": ("pipeline.commands.catalogue", "items",
              "Stream a done job's parsed items as NDJSON (one JSON object a line)."),
    "groups": ("pipeline.commands.catalogue", "groups",
               "Print the job's groups, one JSON object a line, with item counts by type."),
    "diff": ("pipeline.commands.catalogue", "diff",
             "Stream the changes of the job's last refresh as NDJSON (added, changed, removed)."),
    "media": ("pipeline.commands.media", "media",
              "Media prewarm: announce uploaded objects, read their prewarm status."),
    "replay": ("pipeline.commands.replay", "replay",
               "Reprocess TOPIC's records whose timestamps fall in a time window."),
    "topics": ("pipeline.commands.admin", "topics",
               "List the pipeline's topics with their partition counts and roles."),
    "reset-state": ("pipeline.commands.admin", "reset_state",
                    "Start the tables over, for a full reprocess (every worker stopped first)."),
    "cancel": ("pipeline.commands.cancel", "cancel",
               "Cancel a queued or running job and print its document (status `cancelled`)."),
    "dlq": ("pipeline.commands.dlq", "dlq",
            "List dead letters and re-publish them through the intake."),
    "m3u": ("pipeline.m3u.cli", "m3u_command",
            "Parse the M3U playlist FILE ('-' for stdin) and write its items as NDJSON."),
}  # fmt: skip


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands: the eager ones plus `LAZY` entries imported on first access."""

    def __init__(self, lazy: dict[str, tuple[str, str, str]]) -> None:
        self._lazy = dict(lazy)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            module, attr, _ = self._lazy[name]  # KeyError for an unknown name
            command = getattr(importlib.import_module(module), attr)
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._lazy.pop(name, None)

    def __delitem__(self, name: str) -> None:
        found = self._loaded.pop(name, None) is not None
        if self._lazy.pop(name, None) is None and not found:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._loaded
        yield from (name for name in self._lazy if name not in self._loaded)

    def __len__(self) -> int:
        return len(self._loaded.keys() | self._lazy.keys())

    def pending_help(self, name: str) -> str | None:
        """The short help of a command not imported yet (None once it is)."""
        entry = self._lazy.get(name)
        return entry[2] if entry is not None and name not in self._loaded else None


class LazyGroup(click.Group):
    """A `click.Group` whose `LAZY` commands are imported only when used."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = LazyCommands(LAZY)
        for name, command in self.commands.items():
            self.lazy[name] = command
        self.commands = self.lazy

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from `LAZY`'s help lines for commands not imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            pending = self.lazy.pending_help(name)
            if pending is not None:
                rows.append((name, make_default_short_help(pending, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
