"""The ``m3u`` click command (via CliRunner) and ``python -m pipeline.m3u``."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pipeline.m3u.cli import m3u_command

ROOT = Path(__file__).resolve().parent.parent.parent
PLAYLIST = ROOT / "tests" / "data" / "playlists" / "pk-channels.m3u"


def test_items_as_ndjson_on_stdout() -> None:
    result = CliRunner().invoke(m3u_command, [str(PLAYLIST)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 32
    assert json.loads(lines[0])["tvg"]["id"] == "92News.pk"


def test_stdin_and_summary() -> None:
    data = PLAYLIST.read_bytes()
    result = CliRunner().invoke(m3u_command, ["-", "--summary"], input=data)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["items"] == 32
    assert summary["counts"] == {"live": 32, "movie": 0, "series": 0}
    assert summary["groups"] == 4
    assert summary["bytes"] == len(data)


def test_gzip_output_file_with_summary(tmp_path: Path) -> None:
    out = tmp_path / "items.ndjson.gz"
    result = CliRunner().invoke(m3u_command, [str(PLAYLIST), "-o", str(out), "--summary"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 32
    assert len(gzip.decompress(out.read_bytes()).splitlines()) == 32


def test_not_a_playlist_exits_2_with_one_line(tmp_path: Path) -> None:
    page = tmp_path / "error.html"
    page.write_text("<!DOCTYPE html><html><body>403</body></html>\n")
    result = CliRunner().invoke(m3u_command, [str(page)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "HTML" in result.stderr


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(m3u_command, [str(tmp_path / "missing.m3u")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "missing.m3u" in result.stderr
    result = CliRunner().invoke(m3u_command, [str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_help_texts() -> None:
    result = CliRunner().invoke(m3u_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--summary", "--output", "--gzip", "--level", "--max-line-bytes"):
        assert option in result.output
    assert "NDJSON" in result.output


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.m3u", "--summary", str(PLAYLIST)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"] == 32
