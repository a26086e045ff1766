"""Benchmark of the catalogue library alone (no broker, no S3): writer, reader, diff.

Parses a generated playlist in batches as the parse child does, timing the
bare parse + NDJSON encode and, separately, the catalogue writer's share;
then pages, searches and item reads over a local file; then writes a second
version of the playlist (~1% removed, changed and added) and diffs the two.

    python bench/catalogue_lib.py [--items 850000] [--tracemalloc | --process | --builder]

Prints the figures and writes ``bench/results/catalogue_lib.json``. ``--builder``
only measures the parse child's share (NDJSON mode, with and without the
catalogue fields) and the CPU of the builder process fed those frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
RESULTS = HERE / "results" / "catalogue_lib.json"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from gen_playlist import VERSION, generate  # noqa: E402

from pipeline.catalogue import Catalogue, CatalogueWriter, diff, dump_index, load_index  # noqa: E402
from pipeline.catalogue_builder import FRAME  # noqa: E402
from pipeline.m3u import M3UParser, parse_file  # noqa: E402
from pipeline.m3u.ndjson import BATCH_ITEMS, encode_batch  # noqa: E402


def _batches(items: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH_ITEMS:
            yield batch
            batch = []
    if batch:
        yield batch


def _version2(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """~1% removed (i % 100 == 0), changed (== 1) and added (after == 2)."""
    for i, item in enumerate(items):
        if i % 100 == 0:
            continue
        if i % 100 == 1:
            item = {**item, "name": item["name"] + " (new cut)"}
        yield item
        if i % 100 == 2:
            yield {**item, "url": item["url"] + "?v=2", "name": "Extra " + item["name"]}


def write(playlist: Path, out: Path, variant: bool, spill: str) -> dict[str, Any]:
    parse_s = writer_s = 0.0
    items: Iterator[dict[str, Any]] = iter(parse_file(playlist))
    if variant:
        items = _version2(items)
    started = time.perf_counter()
    with out.open("wb") as data, CatalogueWriter(out.stem, data, spill) as writer:
        mark = time.perf_counter()
        for batch in _batches(items):
            encoded = encode_batch(batch)
            now = time.perf_counter()
            parse_s += now - mark
            writer.add(batch, encoded)
            mark = time.perf_counter()
            writer_s += mark - now
        index = writer.finish()
        finish_s = time.perf_counter() - mark
    out.with_suffix(".json").write_bytes(dump_index(index))
    return {"items": index["items"], "groups": len(index["groups"]),
            "parse_encode_s": round(parse_s, 2), "writer_add_s": round(writer_s, 2),
            "writer_finish_s": round(finish_s, 2),
            "writer_over_parse": round((writer_s + finish_s) / parse_s, 3),
            "total_s": round(time.perf_counter() - started, 2),
            "data_mb": round(out.stat().st_size / 2**20, 1),
            "index_kb": round(len(dump_index(index)) / 2**10, 1)}  # fmt: skip


def _writer_process(conn: Connection, out: str, spill: str) -> None:
    with open(out, "wb") as data, CatalogueWriter("proc", data, spill) as writer:
        while batch := conn.recv_bytes():
            writer.add_encoded(batch)
        conn.send(writer.finish()["items"])


def in_process(playlist: Path, out: Path, spill: str) -> dict[str, Any]:
    """Bare parse + encode, then the same with the writer in its own process
    (the parse only forwards the encoded batches): the wall-time ratio."""
    started = time.perf_counter()
    for batch in _batches(iter(parse_file(playlist))):
        encode_batch(batch)
    bare = time.perf_counter() - started
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_writer_process, args=(child, str(out), spill))
    started = time.perf_counter()
    proc.start()
    for batch in _batches(iter(parse_file(playlist))):
        parent.send_bytes(encode_batch(batch))
    parsed = time.perf_counter() - started
    parent.send_bytes(b"")
    items = parent.recv()
    total = time.perf_counter() - started
    proc.join()
    return {"items": items, "bare_parse_encode_s": round(bare, 2),
            "parse_with_writer_process_s": round(parsed, 2),
            "until_index_s": round(total, 2), "ratio": round(total / bare, 3)}  # fmt: skip


def _child_frames(playlist: Path, out: Any, fields: bool) -> float:
    """CPU seconds of the parse child's NDJSON mode; with ``fields``, the frames it
    sends the builder are written to ``out``."""
    parser = M3UParser(fields=fields)
    started = time.process_time()
    with playlist.open("rb") as src:
        while True:
            chunk = src.read(1 << 18)
            lines = parser.feed_ndjson(chunk) if chunk else parser.close_ndjson()
            if fields and lines:
                part = parser.take_fields()
                out.write(FRAME.pack(len(lines), len(part)) + lines + part)
            if not chunk:
                return time.process_time() - started


def builder(playlist: Path, spill: str) -> dict[str, Any]:
    """The builder process (``python -m pipeline.catalogue_builder``) on the frames of
    the playlist: its CPU seconds and peak RSS, with the parse child's share."""
    frames = Path(spill) / "frames"
    with frames.open("wb") as out:
        bare = _child_frames(playlist, out, False)
        with_fields = _child_frames(playlist, out, True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with frames.open("rb") as stdin:
        subprocess.run([sys.executable, "-m", "pipeline.catalogue_builder", "bench",
                        f"{spill}/data", spill], stdin=stdin, stdout=subprocess.DEVNULL,
                       check=True)  # fmt: skip
    wall = time.perf_counter() - started
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime
    return {"parse_ndjson_cpu_s": round(bare, 2), "parse_with_fields_cpu_s": round(with_fields, 2),
            "builder_cpu_s": round(cpu, 2), "builder_wall_s": round(wall, 2),
            "builder_peak_rss_mb": round(done.ru_maxrss / 1024, 1),
            "data_mb": round(Path(f"{spill}/data").stat().st_size / 2**20, 1)}  # fmt: skip


def _open(path: Path) -> Catalogue:
    data = path.open("rb")

    async def read_range(offset: int, length: int) -> bytes:
        data.seek(offset)
        return data.read(length)

    return Catalogue(load_index(path.with_suffix(".json").read_bytes()), read_range)


async def _p95(fn: Any, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return round(statistics.quantiles(times, n=20)[-1] * 1000, 2)


async def read(path: Path) -> dict[str, Any]:
    cat = _open(path)
    groups = cat.groups()
    first, last = groups[0]["name"], groups[-1]["name"]

    async def groups_call() -> None:
        _open(path).groups()

    figures = {"groups_ms_p95": await _p95(groups_call)}
    figures["page_first_ms_p95"] = await _p95(lambda: cat.page(first, limit=100))
    figures["page_last_ms_p95"] = await _p95(lambda: cat.page(last, limit=100))
    for q in ("acao", "coração hd", "zzzz"):
        figures[f"search_{q}_ms_p95"] = await _p95(lambda q=q: cat.page(q=q, limit=100), 5)
    page, _ = await cat.page(last, limit=5)
    figures["item_ms_p95"] = await _p95(lambda: cat.item(page[-1]["id"]))
    return figures


async def compare(old: Path, new: Path, spill: str) -> dict[str, Any]:
    lines: list[int] = []
    t = time.perf_counter()
    counts = await diff(_open(old), _open(new), lambda b: lines.append(len(b)), spill)
    return {**counts, "diff_s": round(time.perf_counter() - t, 2),
            "ndjson_mb": round(sum(lines) / 2**20, 1)}  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=850_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--process", action="store_true",
                        help="only time the writer in its own process beside the parse")
    parser.add_argument("--builder", action="store_true",
                        help="only the parse child's share and the builder process's CPU")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    playlist = WORK / f"catalogue-{args.items}-v{VERSION}.m3u"
    if not playlist.exists():
        generate(args.items, playlist)
    if args.process or args.builder:
        with tempfile.TemporaryDirectory(dir=WORK) as spill:
            figures = builder(playlist, spill) if args.builder else \
                in_process(playlist, Path(spill) / "proc.bin", spill)  # fmt: skip
            print(json.dumps(figures, indent=2))
        return 0
    if args.tracemalloc:
        tracemalloc.start()
    with tempfile.TemporaryDirectory(dir=WORK) as spill:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run1 = write(playlist, Path(spill) / "run1.bin", False, spill)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run1["peak_rss_mb"], run1["rss_before_mb"] = round(rss1, 1), round(rss0, 1)
        if args.tracemalloc:
            run1["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()
        run2 = write(playlist, Path(spill) / "run2.bin", True, spill)
        reads = asyncio.run(read(Path(spill) / "run1.bin"))
        changes = asyncio.run(compare(Path(spill) / "run1.bin", Path(spill) / "run2.bin", spill))
    expected = {"removed": -(-args.items // 100), "changed": len(range(1, args.items, 100)),
                "added": len(range(2, args.items, 100))}  # fmt: skip
    result = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"python": platform.python_version(), "platform": platform.platform()},
              "items": args.items, "write": run1, "write_v2": run2, "read": reads,
              "diff": changes, "diff_expected": expected,
              "diff_exact": all(changes[k] == v for k, v in expected.items())}  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.items >= 850_000 and not args.tracemalloc:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
