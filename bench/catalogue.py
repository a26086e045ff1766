"""Bench: the catalogue end to end on an 850k playlist (issue 14 targets).

One run: bare `pipeline m3u --gzip` time (-j 1 and the default); submit -> done with the
catalogue; peak RSS of the parse child and of its catalogue builder; groups,
page (first and last group) and search p95 with worker RSS growth; then a
refresh with ~1% of items added, removed and changed: exact diff counts and
the time to stream the diff.

    python bench/catalogue.py [--items 850000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_playlist import generate
from bench.pipeline_parse import bare_parser_s, follow_done, pct, wait_done
from bench.stack import WORK, bench_stack, http_json, write_results
from tests.integration.http_server import serve_dir

NL = b"\n"


def refreshed(src: Path, dst: Path) -> dict[str, int]:
    """``src`` with every 100th entry removed, renamed, or a new copy added."""
    counts = {"added": 0, "removed": 0, "changed": 0}
    with src.open(encoding="utf-8") as fin, dst.open("w", encoding="utf-8") as out:
        entry: list[str] = []
        n = 0
        for line in fin:
            if not entry and not line.startswith("#EXTINF"):
                out.write(line)  # header
                continue
            entry.append(line)
            if not line.startswith("#"):  # the URL ends the entry
                n = _emit(entry, n, out, counts)
                entry = []
        out.writelines(entry)
    return counts


def _emit(entry: list[str], n: int, out: Any, counts: dict[str, int]) -> int:
    n += 1
    if n % 100 == 1:
        counts["removed"] += 1
        return n
    if n % 100 == 2:
        entry = [entry[0].rstrip("\n") + " (new)\n", *entry[1:]]
        counts["changed"] += 1
    out.writelines(entry)
    if n % 100 == 3:
        url = entry[-1].rstrip("\n")
        out.writelines([*entry[:-1], f"{url}{'&' if '?' in url else '?'}copy={n}\n"])
        counts["added"] += 1
    return n


class ChildPeaks(threading.Thread):
    """Peak RSS of the parse child and of its catalogue builder, told apart."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop_flag = pid, threading.Event()
        self.parse = self.builder = 0.0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                for kid in psutil.Process(self.pid).children(recursive=True):
                    rss = kid.memory_info().rss / 2**20
                    if "pipeline.catalogue_builder" in " ".join(kid.cmdline()):
                        self.builder = max(self.builder, rss)
                    else:
                        self.parse = max(self.parse, rss)
            except psutil.Error:
                pass
            time.sleep(0.1)


def timed(url: str, n: int) -> tuple[list[float], Any]:
    out, body = [], None
    for _ in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as resp:
            body = resp.read()
        out.append((time.perf_counter() - start) * 1000)
    return out, body


def serve_figures(base: str, job_id: str, worker_pid: int) -> dict[str, Any]:
    api = f"{base}/api/playlist/jobs/{job_id}"
    rss0 = psutil.Process(worker_pid).memory_info().rss / 2**20
    groups_ms, raw = timed(api + "/groups", 50)
    names = [g["name"] for g in json.loads(raw)["groups"]]
    first, last = (urllib.parse.quote(names[0]), urllib.parse.quote(names[-1]))
    page_first, _ = timed(f"{api}/items?group={first}&limit=100", 50)
    page_last, _ = timed(f"{api}/items?group={last}&limit=100", 50)
    search: list[float] = []
    for q in ("sport", "acao", "zzzz no match", "s01 e02"):
        search += timed(f"{api}/items?q={urllib.parse.quote(q)}", 10)[0]
    rss1 = psutil.Process(worker_pid).memory_info().rss / 2**20
    return {"groups": len(names), "groups_p95_ms": round(pct(groups_ms, 95), 1),
            "page_first_group_p95_ms": round(pct(page_first, 95), 1),
            "page_last_group_p95_ms": round(pct(page_last, 95), 1),
            "search_p95_ms": round(pct(search, 95), 1),
            "worker_rss_growth_mb": round(rss1 - rss0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=850_000)
    args = ap.parse_args()
    www = WORK / "www-catalogue"
    www.mkdir(parents=True, exist_ok=True)
    v1, v2, live = (www / f"v1-{args.items}.m3u", www / f"v2-{args.items}.m3u", www / "list.m3u")
    if not v1.exists():
        generate(args.items, v1)
    expected = refreshed(v1, v2)
    bare, bare_default = bare_parser_s(v1), bare_parser_s(v1, "auto")
    print(f"playlist: {args.items} items; bare pipeline m3u --gzip: {bare:.2f} s (-j 1), "
          f"{bare_default:.2f} s (default -j)")
    shutil.copy(v1, live)
    with serve_dir(www) as http_base, bench_stack("catalogue") as stack:
        worker = stack.start_worker()
        assert worker.child.proc is not None
        sampler = ChildPeaks(worker.child.proc.pid)
        sampler.start()
        start = time.perf_counter()
        _, body = http_json("POST", worker.base + "/api/playlist/parse",
                            {"url": f"{http_base}/list.m3u"})
        done = follow_done(worker.base, body["job_id"])
        to_done = time.perf_counter() - start
        assert done["status"] == "done", done
        print(f"submit -> done: {to_done:.2f} s ({to_done / bare:.2f}x bare); peak RSS "
              f"parse child {sampler.parse:.0f} MB, builder {sampler.builder:.0f} MB")
        serve = serve_figures(worker.base, done["job_id"], worker.child.proc.pid)
        print(serve)
        shutil.copy(v2, live)
        start = time.perf_counter()
        http_json("POST", worker.base + "/api/playlist/parse",
                  {"url": f"{http_base}/list.m3u", "force": True})
        while (d := wait_done(worker.base, done["job_id"]))["runs"] < 2:
            time.sleep(0.1)
        refresh_s = time.perf_counter() - start
        sampler.stop_flag.set()
        diff_ms, raw = timed(worker.base + f"/api/playlist/jobs/{done['job_id']}/diff", 1)
        print(f"refresh -> done {refresh_s:.2f} s; changes {d['changes']} (expected "
              f"{expected}); diff stream {diff_ms[0]:.0f} ms, {raw.count(NL)} lines")
    doc = {"items": args.items, "bare_parser_s": round(bare, 2),
           "bare_default_j_s": round(bare_default, 2),
           "ratio_to_default_j": round(to_done / bare_default, 2),
           "submit_to_done_s": round(to_done, 2), "ratio_to_bare": round(to_done / bare, 2),
           "refresh_to_done_s": round(refresh_s, 2),
           "parse_child_peak_rss_mb": round(sampler.parse, 1),
           "builder_peak_rss_mb": round(sampler.builder, 1), **serve,
           "changes": d["changes"], "expected": expected,
           "diff_exact": all(d["changes"][k] == v for k, v in expected.items()),
           "diff_stream_ms": round(diff_ms[0]), "diff_lines": raw.count(NL)}
    print(f"wrote {write_results('catalogue', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
