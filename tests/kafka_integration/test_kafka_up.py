"""`pipeline up` with PIPELINE_EMBEDDED_BROKER=kafka: a durable single-node Kafka.

A job running when the stack is stopped (SIGINT, as Ctrl-C) completes after a
new `pipeline up` with the same data dir, with all its items and `runs` 2;
the local table state is kept instead of wiped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil

from tests.conftest import ROOT, poll
from tests.integration.http_server import full_speed, serve_routes, synthetic_playlist
from tests.integration.test_up import _env, _health
from tests.kafka_integration.conftest import kafka_libs

ITEMS = 40_000


def _start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "up"], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _stop_up(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C; every child (worker, S3, the Kafka JVM) is gone afterwards."""
    tree = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=90) == 0
    leftovers = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], [p.cmdline() for p in leftovers]


def _job(base: str, job_id: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{base}/api/playlist/jobs/{job_id}", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except OSError:  # the stack is (re)starting
        return None


def test_running_job_survives_a_restart_of_the_stack(tmp_path: Path) -> None:
    kafka_libs()  # skip (or fail on CI) without java/mvn; resolves the jars once
    env = _env(tmp_path, PIPELINE_EMBEDDED_BROKER="kafka")
    base, log = f"http://127.0.0.1:{env['PIPELINE_WEB_PORT']}", tmp_path / "up.log"
    table_dir = Path(env["PIPELINE_DATA_DIR"]) / "tables"
    # ~30 s of download: the stop lands mid-parse.
    routes = {"/big.m3u": (200, synthetic_playlist(ITEMS), {}, 0.15)}
    with serve_routes(routes) as http_base:
        up = _start_up(env, log)
        try:
            body = poll(lambda: _health(env["PIPELINE_WEB_PORT"]), timeout=180, what="stack up")
            assert body["status"] == "ok"
            # The banner follows the worker's readiness: wait for it rather than race it.
            poll(lambda: all(s in log.read_text(errors="replace")
                             for s in ("Apache Kafka ready", "log on disk")),
                 timeout=60, what="the durable Kafka banner")
            req = urllib.request.Request(
                base + "/api/playlist/parse", method="POST",
                data=json.dumps({"url": http_base + "/big.m3u"}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                job_id = json.loads(resp.read())["job_id"]
            poll(lambda: '"parse_progress"' in log.read_text(errors="replace"), timeout=90,
                 what="parse running")
            _stop_up(up)
            full_speed(routes)  # the resumed run downloads again
            sentinel = table_dir / "kept"
            sentinel.write_text("a wipe would delete this")

            up = _start_up(env, log)
            final = poll(lambda: (b := _job(base, job_id)) and b["status"] in ("done", "failed")
                         and b, timeout=240, what="job final after the restart")
            assert final["status"] == "done" and final["result"]["items"] == ITEMS, final
            assert final["runs"] == 2, final
            assert sentinel.exists()
            _stop_up(up)
        finally:
            if up.poll() is None:
                up.kill()


def test_missing_java_is_named(tmp_path: Path) -> None:
    env = _env(tmp_path, PIPELINE_EMBEDDED_BROKER="kafka", PATH="/nonexistent")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "up"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "JDK 17+ (java)" in done.stdout + done.stderr
