"""The client commands in-process (click's CliRunner) against the scripted API."""

from __future__ import annotations

import click
from click.testing import CliRunner

from pipeline.cli import main
from tests.unit.test_client import FakeApi, _job, fake_api  # noqa: F401 - fixture

MINE = ("parse", "status", "items", "media", "replay", "topics", "reset-state")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{prefix}{name} ")
    return found


def test_every_command_and_option_has_help() -> None:
    assert main.help and all(p.help for p in main.params if isinstance(p, click.Option))
    commands = [(n, c) for n, c in _commands(main) if n.split()[0] in MINE]
    assert {n.split()[0] for n, _ in commands} == set(MINE)
    for name, command in commands:
        assert command.help and command.short_help != "", name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
        result = CliRunner().invoke(main, [*name.split(), "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_wait_timeout_exits_4(fake_api: FakeApi) -> None:  # noqa: F811
    fake_api.script["j1"] = [(200, _job("running"), {"Retry-After": "1"})]
    result = CliRunner().invoke(
        main, ["--api", fake_api.base, "parse", "http://x.example/a", "--wait", "--timeout", "0.5"]
    )
    assert result.exit_code == 4
    assert "still running after 0.5 s" in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    bad_time = runner.invoke(main, ["replay", "playlist.parse.requests", "--since", "soon"])
    assert bad_time.exit_code == 2 and "cannot read the time" in bad_time.output
    output_topic = runner.invoke(main, ["replay", "playlist.parse.results", "--since", "1h"])
    assert output_topic.exit_code == 2 and "cannot be replayed" in output_topic.output
    assert runner.invoke(main, ["replay", "media.uploads"]).exit_code == 2  # --since required
