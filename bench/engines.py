"""Bench: the same workloads on the embedded Tansu and on a 3-node Apache Kafka, in one run.

Per engine, each workload on a fresh stack (bench/stack.py): the 850k parse
bench (bench/pipeline_parse.py) and the load bench (bench/load.py: 10,000
submits over 500 URLs, then 20,000 uploads). On the 3-node cluster (topics at
replication factor 3, min.insync.replicas 2) the broker leading the request
topic is also SIGKILLed while parses run (bench/failover.py; after the parse
bench, before the load). Prints one side-by-side table and writes
bench/results/engines.json after every workload (a run stopped early keeps what
finished). Needs a JDK and Maven for Kafka (docs/production-engine.md).

    python bench/engines.py [--items 850000 --submits 10000 --urls 500 --uploads 20000]
                            [--workloads parse load failover] [--engines tansu kafka-3]
                            [--out engines]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.failover import run_failover
from bench.load import add_load_args, run_load
from bench.pipeline_parse import bare_parser_s, playlist_of, run_parse_bench
from bench.stack import ENGINES, RESULTS, BenchStack, bench_stack, write_results
from pipeline.embedded.kafka import ensure_jars
from tests.integration.http_server import serve_dir

WORKLOADS = ("parse", "load", "failover")
COLUMNS = ("engine", "workload", "parses / jobs", "lost", "submit p50 / p95 ms",
           "time to done", "worker peak RSS MB")


def attempt(engine: str, workload: str, run: Callable[[BenchStack], dict]) -> dict:
    """`run(stack)`'s document on a fresh stack of `engine`, or the error that stopped
    it (the other workloads still run)."""
    print(f"== {engine}: {workload}", flush=True)
    started = time.perf_counter()
    try:
        with bench_stack(f"engines-{engine}-{workload}", engine=engine) as stack:
            doc = run(stack)
    except Exception as exc:
        traceback.print_exc()
        doc = {"error": repr(exc)}
    doc["wall_s"] = round(time.perf_counter() - started, 1)
    return doc


def parse_row(engine: str, items: int, d: dict) -> tuple:
    return (engine, f"parse {items:,} items + 1,000 identical submits",
            f"{d['all_parses_started']} / {d['jobs']}", d["jobs"] - d["jobs_final"],
            f"{d['identical_submit_p50_ms']} / {d['identical_submit_p95_ms']}",
            f"{d['submit_to_done_s']} s ({d['ratio_to_bare']}x bare)",
            f"{d['worker_peak_rss_mb']:.0f}")


def load_rows(engine: str, d: dict) -> list[tuple]:
    p, u, rss = d["parse"], d["uploads"], f"{max(d['worker_peak_rss_mb']):.0f}"
    rows = [(engine, f"load: {p['submits']:,} submits / {p['distinct_urls']} URLs",
             f"{p['parses_started']} / {p['jobs']}", p["lost"],
             f"{p['submit_p50_ms']} / {p['submit_p95_ms']}",
             f"{p['all_final_s']} s all final", rss)]
    if u:
        rows.append((engine, f"load: {u['uploads']:,} uploads",
                     f"{u['prewarm_done_events']} / {u['accepted']}", u["lost"],
                     f"{u['publish_p50_ms']} / {u['publish_p95_ms']}",
                     f"{u['all_final_s']} s all final", rss))
    return rows


def failover_row(engine: str, d: dict) -> tuple:
    return (engine, f"leader broker SIGKILL during parses (broker {d['victim_broker']})",
            f"{d['parses_started']} / {d['jobs']}", d["lost"],
            f"{d['submit_p50_ms']} / {d['submit_p95_ms']}",
            f"after the kill: first new parse done {d['first_parse_done_after_kill_s']} s, "
            f"one on every partition {d['all_partitions_resumed_s']} s (before: "
            f"{max(t for t in d['probe_done_before_kill_s'] if t is not None)} s)",
            f"{max(d['worker_peak_rss_mb']):.0f}")


def table_rows(runs: dict[str, dict], items: int) -> list[tuple]:
    """One row per engine and workload, in workload order (engines side by side)."""
    rows: list[tuple] = []
    for workload in WORKLOADS:
        for engine, docs in runs.items():
            d = docs.get(workload)
            if d is None:
                continue
            if "error" in d:
                rows.append((engine, workload, "-", "-", "-", f"error: {d['error']}", "-"))
            elif workload == "parse":
                rows.append(parse_row(engine, items, d))
            elif workload == "load":
                rows.extend(load_rows(engine, d))
            else:
                rows.append(failover_row(engine, d))
    return rows


def markdown(rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_all(args: argparse.Namespace, save: Callable[[dict, dict], None]) -> None:
    """Each workload on each engine, engines side by side; `save(runs, meta)` after every
    workload (a run stopped early keeps what finished). The failover comes before the
    load: it is short, and the load is what may not fit in the time at hand."""
    runs: dict[str, dict[str, Any]] = {engine: {} for engine in args.engines}
    meta: dict[str, Any] = {}
    if "parse" in args.workloads:
        playlist = playlist_of(args.items)
        bare = bare_parser_s(playlist)
        meta["bare_parser_s"] = round(bare, 2)
        print(f"playlist: {args.items} items; bare parser: {bare:.2f} s", flush=True)
        with serve_dir(playlist.parent) as http_base:
            url = f"{http_base}/{playlist.name}"
            for engine in args.engines:
                runs[engine]["parse"] = attempt(engine, "parse", functools.partial(
                    run_parse_bench, url=url, bare=bare))
                save(runs, meta)
    if "kafka-3" in args.engines and "failover" in args.workloads:
        runs["kafka-3"]["failover"] = attempt("kafka-3", "failover", run_failover)
        save(runs, meta)
    for engine in args.engines if "load" in args.workloads else ():
        runs[engine]["load"] = attempt(engine, "load", functools.partial(run_load, args=args))
        save(runs, meta)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=850_000)
    add_load_args(ap)
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    ap.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    ap.add_argument("--out", default="engines", help="bench/results/<OUT>.json")
    args = ap.parse_args()
    if "kafka-3" in args.engines:
        ensure_jars()  # before any workload: without java/mvn, say so and stop at once
    started = time.perf_counter()
    state: dict[str, Any] = {}

    def save(runs: dict, meta: dict) -> None:
        rows = table_rows(runs, args.items)
        state.update(rows=rows, runs=runs)
        write_results(args.out, {
            "command": "python bench/engines.py " + " ".join(sys.argv[1:]),
            "items": args.items, "submits": args.submits, "urls": args.urls,
            "clients": args.clients, "uploads": args.uploads, **meta,
            "wall_s": round(time.perf_counter() - started, 1),
            "complete": sum(map(len, runs.values())) == sum(
                1 for e in args.engines for w in args.workloads
                if w != "failover" or e == "kafka-3"),
            "runs": runs, "table": [dict(zip(COLUMNS, row, strict=True)) for row in rows]})

    run_all(args, save)
    print(markdown(state.get("rows", [])))
    print(f"wrote {RESULTS / args.out}.json in {time.perf_counter() - started:.0f} s")
    return 0 if all("error" not in d for docs in state.get("runs", {}).values()
                    for d in docs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
