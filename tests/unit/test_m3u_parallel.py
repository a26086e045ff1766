"""Parallel (multi-process) NDJSON output: same items, same order as one parser."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.errors import NotAPlaylist
from pipeline.m3u import encode_batch, parse_bytes
from pipeline.m3u.cli import AUTO_JOBS_MAX, AUTO_MIN_BYTES, auto_jobs, m3u_command
from pipeline.m3u.parallel import find_cut, split_blocks, write_ndjson_parallel

PLAYLISTS = Path(__file__).resolve().parent.parent / "data" / "playlists"
KODI = (
    '#EXTM3U x-tvg-url="e"\n'
    + "".join(
        f'#KODIPROP:inputstream=adaptive{n}\n#EXTINF:-1 tvg-id="{n}",Ch {n}\n'
        f"#EXTVLCOPT:http-referrer=http://r/{n}\n\nhttp://h/{n}.mpd\n"
        + ("#EXTINF:-1,dropped\n" if n % 5 == 0 else "")
        + (f'#EXTM3U url-tvg="late{n}"\n' if n == 7 else "")
        for n in range(40)
    )
).encode()


def test_find_cut() -> None:
    assert find_cut(b"#EXTINF:-1,A\nhttp://a\n#EXTINF:-1,B\nhttp://b") == len(
        b"#EXTINF:-1,A\nhttp://a\n"
    )
    assert find_cut(b"#EXTINF:-1,A\nhttp://a\r\n#KODIPROP:x=y\r\n\r\n") == len(
        b"#EXTINF:-1,A\nhttp://a\r"
    )
    assert find_cut(b"#EXTM3U\n# only\n#EXTINF:-1,A\n") == 0
    assert find_cut(b"http://a\n#c\n", start=9) == 0  # lines before start are not looked at
    assert find_cut(b"http://a\nhttp://b\n#c\n", start=9) == 18
    assert find_cut(b"http://a") == 0  # no complete line


@pytest.mark.parametrize("size", [1, 50, 300, 10_000])
def test_split_blocks_cuts_after_url_lines(size: int) -> None:
    chunks = [KODI[i : i + 37] for i in range(0, len(KODI), 37)]
    blocks = list(split_blocks(chunks, size))
    assert b"".join(blocks) == KODI
    for block in blocks[:-1]:
        last = block.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        assert last.startswith(b"http://")


@pytest.mark.parametrize("level", [None, 1])
@pytest.mark.parametrize("block_bytes", [64, 1000])
def test_parallel_output_equals_sequential(level: int | None, block_bytes: int) -> None:
    for data in [
        KODI,
        KODI.replace(b"\n", b"\r\n"),
        *(p.read_bytes() for p in sorted(PLAYLISTS.glob("*.m3u"))),
    ]:
        items = parse_bytes(data)
        out = io.BytesIO()
        chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        result = write_ndjson_parallel(chunks, out, 2, level, block_bytes=block_bytes)
        raw = gzip.decompress(out.getvalue()) if level is not None else out.getvalue()
        assert raw == encode_batch(items)
        assert result.stats.items == len(items)
        assert result.stats.bytes == len(data)


def test_parallel_merges_stats_and_header() -> None:
    chunks = [KODI[i : i + 37] for i in range(0, len(KODI), 37)]
    result = write_ndjson_parallel(chunks, io.BytesIO(), 2, None, block_bytes=100)
    assert result.header == {"x-tvg-url": "e", "url-tvg": "late7"}
    assert result.stats.items == 40 and result.stats.dropped_entries == 8
    assert result.stats.counts == {"live": 40, "movie": 0, "series": 0}
    assert "main" in result.rss_kb and len(result.rss_kb) >= 2


def test_one_block_needs_no_worker() -> None:
    out = io.BytesIO()
    result = write_ndjson_parallel([KODI], out, 2, None, block_bytes=100)
    assert out.getvalue() == encode_batch(parse_bytes(KODI))
    assert list(result.rss_kb) == ["main"]  # the parent parsed the only block


@pytest.mark.parametrize("body", [b"", b"<html>nope</html>\n" * 100_000, b"\x00\x01" * 10])
def test_parallel_refuses_non_playlists_before_writing(body: bytes) -> None:
    out = io.BytesIO()
    with pytest.raises(NotAPlaylist):
        write_ndjson_parallel([body], out, 2, 1, block_bytes=1 << 16)
    assert out.getvalue() == b""


def test_cli_jobs(tmp_path: Path) -> None:
    path = tmp_path / "kodi.m3u"
    path.write_bytes(KODI)
    out = tmp_path / "out.ndjson.gz"
    result = CliRunner().invoke(m3u_command, [str(path), "-j", "2", "-o", str(out), "--summary"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["items"] == 40 and summary["peak_rss_mb"]["processes"] >= 1
    assert gzip.decompress(out.read_bytes()) == encode_batch(parse_bytes(KODI))
    plain = CliRunner().invoke(m3u_command, [str(path), "--jobs", "2"])
    assert plain.stdout.encode() == encode_batch(parse_bytes(KODI))


@pytest.mark.parametrize("level", [None, 1])
def test_workers_write_to_a_real_file_in_order(tmp_path: Path, level: int | None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from gen_playlist import generate

    generate(4000, tmp_path / "gen.m3u")
    data = (tmp_path / "gen.m3u").read_bytes() + KODI.replace(b"#EXTM3U", b"#EXTM3X")
    target = tmp_path / "out"
    with target.open("wb") as out:
        out.write(b"")  # the parent's buffer is flushed before workers write
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        result = write_ndjson_parallel(chunks, out, 3, level, block_bytes=1 << 15)
    raw = target.read_bytes()
    raw = gzip.decompress(raw) if level is not None else raw
    assert raw == encode_batch(parse_bytes(data))
    assert result.stats.items == raw.count(b"\n")
    assert len(result.rss_kb) >= 3  # the parent and the workers


def test_auto_jobs(tmp_path: Path) -> None:
    small = tmp_path / "small.m3u"
    small.write_bytes(KODI)
    with small.open("rb") as src:
        assert auto_jobs(src) == 1
    big = tmp_path / "big.m3u"
    big.write_bytes(KODI * (AUTO_MIN_BYTES // len(KODI) + 1))
    with big.open("rb") as src:
        assert 1 <= auto_jobs(src) <= AUTO_JOBS_MAX
    assert auto_jobs(io.BytesIO(KODI)) == 1
    bad = CliRunner().invoke(m3u_command, [str(small), "-j", "0"])
    assert bad.exit_code == 2 and "at least 1" in bad.output
