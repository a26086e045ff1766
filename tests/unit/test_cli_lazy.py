"""`pipeline` starts fast: the parser and the CLI's top module never import the heavy stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.utils import make_default_short_help

from pipeline.commands import LAZY

HEAVY = ("faust", "aiohttp", "aiobotocore", "aiokafka", "botocore", "mode", "pydantic")

_PROBE = """
import json, sys
{body}
heavy = {heavy!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))))
"""


def _heavy_after(body: str) -> list[str]:
    code = _PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "modules",
    ["pipeline.m3u", "pipeline.m3u.cli", "pipeline.m3u.parallel", "pipeline.cli"],
)
def test_module_does_not_import_the_heavy_stack(modules: str) -> None:
    assert _heavy_after(f"import {modules}") == []


@pytest.mark.parametrize("argv", [["--help"], ["m3u", "--help"], ["status", "--help"],
                                  ["parse", "--help"], ["items", "--help"]])  # fmt: skip
def test_help_does_not_import_the_heavy_stack(argv: list[str]) -> None:
    body = (
        "from pipeline.cli import main\n"
        f"try:\n    main({argv!r}, prog_name='pipeline')\nexcept SystemExit:\n    pass\n"
    )
    assert _heavy_after(body) == []


def test_lazy_table_matches_the_commands() -> None:
    from pipeline.cli import main

    for name, (_, _, line) in LAZY.items():
        command = main.commands[name]
        assert command.name == name
        for limit in (30, 45, 63, 200):
            assert make_default_short_help(line, limit) == command.get_short_help_str(limit), name


def test_group_help_lists_every_command() -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1]
    for name in [*LAZY, "up", "worker"]:
        assert f"\n  {name} " in listed, name
