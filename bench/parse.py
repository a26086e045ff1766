"""Benchmark: the user-facing ``pipeline m3u`` against a line-count floor and popular peers.

Every runner is a separate process; wall time and peak RSS come from
``os.wait4``. Our runs are the console script itself (start-up included), with
the default ``-j`` (auto) and with ``-j 1``; they print ``--summary``, whose
``peak_rss_mb.sum`` adds up the peak RSS of every process of the run (parent
and workers), and that sum is what the table shows. Playlists are
generated deterministically into ``bench/.work/``; peers are installed there
too (npm: ``m3u-parser-generator``, ``iptv-playlist-parser``; PyPI:
``m3u-ipytv`` in a scratch venv). Peers are never project dependencies; one
that fails to install is reported, not fatal.

    python bench/parse.py [--sizes 85000,850000] [--repeat 3] [--no-peers]

Prints a table (ratios to the fastest peer of the same size and to the
line-count floor) and writes ``bench/results/parse.json``. ``BENCH_SIZES`` sets the default sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
PEERS = WORK / "peers"
PEERS_VENV = WORK / "peers-venv"
RESULTS = HERE / "results" / "parse.json"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from gen_playlist import VERSION, generate  # noqa: E402

from pipeline.m3u.ndjson import GZIP_BACKEND  # noqa: E402

NPM_PEERS = ("m3u-parser-generator", "iptv-playlist-parser")
PY_PEER = "m3u-ipytv"
COUNT_SRC = (
    "import sys\nn = 0\nwith open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n        if line.startswith(b'#EXTINF'):\n            n += 1\nprint(n)\n"
)
MPG_SRC = (
    "import { readFileSync } from 'node:fs';\n"
    "import { M3uParser } from 'm3u-parser-generator';\n"
    "const pl = new M3uParser().parse(readFileSync(process.argv[2], 'utf8'));\n"
    "console.log(pl.medias.length);\n"
)
IPP_SRC = (
    "const fs = require('fs');\nconst parser = require('iptv-playlist-parser');\n"
    "const r = parser.parse(fs.readFileSync(process.argv[2], 'utf8'));\n"
    "console.log(r.items.length);\n"
)
IPYTV_SRC = "import sys\nfrom ipytv import playlist\nprint(playlist.loadf(sys.argv[1]).length())\n"
TARGET_RSS_FLAT_MB = 10.0
# Targets on the largest size: wall time / fastest peer's, RSS (summed) / fastest peer's.
TARGETS = {"ours-default": (0.8, 0.05), "ours-j1": (0.9, 0.05)}
TARGET_FLOOR = 4.0  # stretch: within 4x of the line-count floor


def measure(cmd: list[str], capture: bool = True) -> dict[str, Any]:
    """Run ``cmd``; wall time, peak RSS (MB), exit code and last stdout line."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=err,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        )
        out = proc.stdout.read() if proc.stdout is not None else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout is not None:
            proc.stdout.close()
        err.seek(0)
        tail = err.read()[-400:].decode("utf-8", "replace").strip()
    lines = out.decode("utf-8", "replace").strip().splitlines()
    return {
        "wall_s": round(wall, 3),
        "rss_mb": round(usage.ru_maxrss / 1024, 1),
        "rc": proc.returncode,
        "stdout": lines[-1][:4000] if lines else "",
        "stderr": _scrub(tail) if proc.returncode else "",
    }


def _scrub(text: str) -> str:
    """Keep machine paths out of the results file."""
    return text.replace(str(ROOT), ".").replace(str(Path.home()), "~")


def _run_quiet(cmd: list[str], cwd: Path | None = None) -> str | None:
    """Run a setup command; None on success, else a short reason."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd[0]}: {exc}"
    if done.returncode:
        return (
            (done.stderr or done.stdout).strip().splitlines()[-1:][0][:300]
            if (done.stderr or done.stdout).strip()
            else f"exit {done.returncode}"
        )
    return None


def setup_peers() -> dict[str, str | None]:
    """Install the peers into bench/.work; map peer name -> failure reason or None."""
    status: dict[str, str | None] = {}
    PEERS.mkdir(parents=True, exist_ok=True)
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [p for p in NPM_PEERS if not (PEERS / "node_modules" / p).is_dir()]
    npm_error = None
    if not node or not npm:
        npm_error = "node/npm not found"
    elif missing:
        if not (PEERS / "package.json").exists():
            (PEERS / "package.json").write_text('{"name": "bench-peers", "private": true}\n')
        npm_error = _run_quiet([npm, "install", "--no-audit", "--no-fund", *missing], PEERS)
    for peer in NPM_PEERS:
        ok = (PEERS / "node_modules" / peer).is_dir()
        status[peer] = None if ok and node else (npm_error or "not installed")
    (PEERS / "mpg.mjs").write_text(MPG_SRC)
    (PEERS / "ipp.cjs").write_text(IPP_SRC)
    (PEERS / "ipytv_count.py").write_text(IPYTV_SRC)
    python = PEERS_VENV / "bin" / "python"
    error = None
    if not python.exists():
        error = _run_quiet([sys.executable, "-m", "venv", str(PEERS_VENV)])
    if error is None and _run_quiet([str(python), "-c", "import ipytv.playlist"]) is not None:
        error = _run_quiet([str(python), "-m", "pip", "install", "--quiet", PY_PEER])
    status[PY_PEER] = error
    return {name: _scrub(reason) if reason else None for name, reason in status.items()}


def _console_script() -> str:
    """The installed ``pipeline`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "pipeline"
    return str(script) if script.exists() else shutil.which("pipeline") or "pipeline"


def runners(path: Path, out_gz: Path, peers: dict[str, str | None]) -> list[tuple]:
    """(name, kind, command, capture stdout) for one playlist."""
    py = sys.executable
    node = shutil.which("node") or "node"
    cli = [_console_script(), "m3u", str(path), "--summary"]
    rows: list[tuple] = [
        ("python line count (floor)", "baseline", [py, "-c", COUNT_SRC, str(path)], True),
        ("pipeline m3u (default -j)", "ours-default", [*cli, "-o", os.devnull], True),
        ("pipeline m3u -j 1", "ours-j1", [*cli, "-o", os.devnull, "-j", "1"], True),
        ("pipeline m3u -> gzip", "ours-gz", [*cli, "-o", str(out_gz)], True),
        ("pipeline m3u -j 1 -> gzip", "ours-gz-j1", [*cli, "-o", str(out_gz), "-j", "1"], True),
    ]
    peer_cmds = {
        "m3u-parser-generator": [node, str(PEERS / "mpg.mjs"), str(path)],
        "iptv-playlist-parser": [node, str(PEERS / "ipp.cjs"), str(path)],
        "m3u-ipytv": [str(PEERS_VENV / "bin" / "python"), str(PEERS / "ipytv_count.py"), str(path)],
    }
    for name, cmd in peer_cmds.items():
        if name in peers:
            rows.append((name, "peer", cmd, True))
    return rows


def _outcome(kind: str, stdout: str) -> dict[str, Any]:
    """Items (and, for our runs, the sum of the processes' peak RSS) from stdout."""
    try:
        if not kind.startswith("ours"):
            return {"items": int(stdout)}
        summary = json.loads(stdout)
        return {
            "items": summary["items"],
            "rss_sum_mb": summary["peak_rss_mb"]["sum"],
            "processes": summary["peak_rss_mb"]["processes"],
        }
    except (ValueError, KeyError, TypeError):
        return {"items": None}


def bench_size(n: int, repeat: int, peers: dict[str, str | None]) -> dict[str, object]:
    """Generate (or reuse) the playlist of ``n`` items and run every runner."""
    path = WORK / f"playlist-{n}-v{VERSION}.m3u"
    if not path.exists():
        generate(n, path)
    out_gz = WORK / f"out-{n}.ndjson.gz"
    results = []
    for name, kind, cmd, capture in runners(path, out_gz, peers):
        if kind == "peer" and peers.get(name):
            results.append({"name": name, "kind": kind, "error": f"not installed: {peers[name]}"})
            continue
        runs = [measure(cmd, capture) for _ in range(repeat)]
        good = [r for r in runs if r["rc"] == 0]
        row: dict[str, Any] = {"name": name, "kind": kind}
        if not good:
            row["error"] = f"exit {runs[-1]['rc']}: {runs[-1]['stderr']}"
        else:
            row.update(
                wall_s=min(r["wall_s"] for r in good),
                rss_mb=max(r["rss_mb"] for r in good),
                runs=[r["wall_s"] for r in good],
                **_outcome(kind, str(good[-1]["stdout"])),
            )
            if "rss_sum_mb" in row:  # several processes: count all of them
                row["rss_mb"] = max(row["rss_mb"], row["rss_sum_mb"])
        results.append(row)
        print(
            f"  {n:>9} {name:<28} {row.get('wall_s', '-'):>8} s {row.get('rss_mb', '-'):>8} MB",
            file=sys.stderr,
        )
    out_gz.unlink(missing_ok=True)
    peers_ok = [r for r in results if r["kind"] == "peer" and "wall_s" in r]
    fastest = min(peers_ok, key=lambda r: r["wall_s"]) if peers_ok else None
    floor = next((r for r in results if r["kind"] == "baseline" and "wall_s" in r), None)
    for r in results:
        if fastest and "wall_s" in r:
            r["time_vs_fastest_peer"] = round(r["wall_s"] / fastest["wall_s"], 3)
            r["rss_vs_fastest_peer"] = round(r["rss_mb"] / fastest["rss_mb"], 3)
        if floor and "wall_s" in r:
            r["time_vs_floor"] = round(r["wall_s"] / floor["wall_s"], 2)
    return {
        "items": n,
        "file_bytes": path.stat().st_size,
        "fastest_peer": fastest["name"] if fastest else None,
        "results": results,
    }


def targets(by_size: dict[int, dict]) -> dict[str, object]:
    """The targets of our runs on the largest size (flatness: vs the smallest size).

    Wall time and peak RSS (summed over processes) as ratios to the fastest
    peer's (``TARGETS``), the ratio to the line-count floor (stretch), and peak
    RSS of the largest size within 10 MB of the smallest.
    """

    def row(size: int, kind: str) -> dict | None:
        return next((r for r in by_size[size]["results"] if r["kind"] == kind), None)

    big, small = max(by_size), min(by_size)
    out: dict[str, object] = {"size": big}
    for kind in ("ours-default", "ours-j1", "ours-gz", "ours-gz-j1"):
        ours, ours_small, goal = row(big, kind), row(small, kind), {}
        time_max, rss_max = TARGETS.get(kind, (None, None))
        if ours and "time_vs_fastest_peer" in ours:
            goal["time_ratio"] = ours["time_vs_fastest_peer"]
            goal["rss_ratio"] = ours["rss_vs_fastest_peer"]
            if time_max is not None and rss_max is not None:
                goal["time_ok"] = goal["time_ratio"] <= time_max
                goal["rss_ok"] = goal["rss_ratio"] <= rss_max
        if ours and "time_vs_floor" in ours:
            goal["floor_ratio"] = ours["time_vs_floor"]
            goal["floor_ok"] = ours["time_vs_floor"] <= TARGET_FLOOR
        if ours and ours_small and big != small and "rss_mb" in ours and "rss_mb" in ours_small:
            goal["rss_growth_mb"] = round(ours["rss_mb"] - ours_small["rss_mb"], 1)
            goal["rss_flat_ok"] = abs(goal["rss_growth_mb"]) <= TARGET_RSS_FLAT_MB
        out[kind] = goal
    return out


def print_table(by_size: dict[int, dict], goal: dict[str, object]) -> None:
    """The human-readable table."""
    head = f"{'items':>9}  {'runner':<28} {'items out':>9} {'wall s':>8} {'RSS MB':>8}"
    print(f"{head} {'time/peer':>9} {'RSS/peer':>9} {'time/floor':>10}")
    for n, block in sorted(by_size.items()):
        for r in block["results"]:
            if "error" in r:
                print(f"{n:>9}  {r['name']:<28} {r['error'][:80]}")
                continue
            print(
                f"{n:>9}  {r['name']:<28} {r.get('items') or '-':>9} {r['wall_s']:>8.2f}"
                f" {r['rss_mb']:>8.1f} {r.get('time_vs_fastest_peer', '-'):>9}"
                f" {r.get('rss_vs_fastest_peer', '-'):>9} {r.get('time_vs_floor', '-'):>10}"
            )
        print(f"{'':>9}  fastest peer: {block['fastest_peer']}  file: {block['file_bytes']} bytes")
    print("RSS of our runs: the sum of every process's peak (parent and -j workers).")
    print(f"gzip backend: {GZIP_BACKEND}")
    for name, value in goal.items():
        print(f"targets {name}: {json.dumps(value)}")


def main() -> int:
    """Parse arguments, run, print, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", "85000,850000"),
        help="comma-separated item counts (env BENCH_SIZES)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=int(os.environ.get("BENCH_REPEAT", "3")),
        help="runs per runner; best wall time and highest RSS are kept",
    )
    ap.add_argument("--no-peers", action="store_true", help="skip installing and running peers")
    ap.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    WORK.mkdir(parents=True, exist_ok=True)
    peers = {} if args.no_peers else setup_peers()
    by_size = {n: bench_size(n, args.repeat, peers) for n in sizes}
    goal = targets(by_size)
    print_table(by_size, goal)
    doc = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "node": _version(["node", "--version"]),
        },
        "gzip_backend": GZIP_BACKEND,
        "repeat": args.repeat,
        "peers": peers,
        "sizes": {str(n): b for n, b in by_size.items()},
        "targets": goal,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return 0


def _version(cmd: list[str]) -> str | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
