"""`pipeline up`: the whole embedded stack as a user starts it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from pipeline.embedded import seaweed
from pipeline.embedded.ports import free_port
from pipeline.settings import Settings
from tests.conftest import ROOT, poll
from tests.integration.http_server import full_speed, serve_routes, synthetic_playlist


def _ports() -> dict[str, str]:
    """Free ports for the stack: picked anew for each start (a port freed by one
    start may be another test's by the next)."""
    return {name: str(free_port()) for name in (
        "PIPELINE_WEB_PORT", "PIPELINE_EMBEDDED_BROKER_PORT", "PIPELINE_EMBEDDED_S3_PORT")}


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env.update(PIPELINE_DATA_DIR=str(tmp / ".data"), PYTHONUNBUFFERED="1",
               PIPELINE_URL_ALLOWLIST="127.0.0.1", **_ports())
    env.update(extra)
    return env


def _health(port: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except Exception:
        return None


def _parse_one(env: dict[str, str]) -> None:
    """A playlist parse end to end on the stack `pipeline up` started (default partitions)."""
    base = f"http://127.0.0.1:{env['PIPELINE_WEB_PORT']}"
    with serve_routes({"/list.m3u": (200, synthetic_playlist(90), {}, 0.0)}) as http_base:
        req = urllib.request.Request(base + "/api/playlist/parse", method="POST",
                                     data=json.dumps({"url": http_base + "/list.m3u"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            job_id = json.loads(resp.read())["job_id"]

        def done() -> dict | None:
            try:
                with urllib.request.urlopen(f"{base}/api/playlist/jobs/{job_id}") as resp:
                    body = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # accepted, row not applied yet
                    return None
                raise
            return body if body["status"] in ("done", "failed") else None  # type: ignore[no-any-return]

        body = poll(done, timeout=60, what="parse on the up stack")
        assert body["status"] == "done" and body["result"]["items"] == 90


def _prewarm_one(env: dict[str, str]) -> None:
    """A media upload prewarmed end to end on the `pipeline up` stack (default partitions)."""
    settings = Settings(data_dir=Path(env["PIPELINE_DATA_DIR"]))
    keys = seaweed.write_credentials(settings.s3_credentials_file, None, None)  # existing keys
    s3 = seaweed.s3_client(f"http://127.0.0.1:{env['PIPELINE_EMBEDDED_S3_PORT']}", *keys)
    media_id = f"up-{os.urandom(4).hex()}"
    s3.put_object(Bucket="media", Key=f"{media_id}.jpg", Body=b"j" * 5000)
    base = f"http://127.0.0.1:{env['PIPELINE_WEB_PORT']}"
    event = {"media_id": media_id, "bucket": "media", "key": f"{media_id}.jpg", "size": 5000,
             "kind": "photo", "content_type": "image/jpeg", "destination": "null://"}
    req = urllib.request.Request(base + "/api/media/uploads", method="POST",
                                 data=json.dumps(event).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 202

    def done() -> dict | None:
        try:
            with urllib.request.urlopen(f"{base}/api/media/{media_id}") as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # accepted, row not applied yet
                return None
            raise
        return body if body["status"] in ("done", "failed") else None  # type: ignore[no-any-return]

    body = poll(done, timeout=60, what="prewarm on the up stack")
    assert body["status"] == "done", body


def _run_up_once(env: dict[str, str], log: Path, kill_worker: bool = False) -> None:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "up"], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        body = poll(lambda: _health(env["PIPELINE_WEB_PORT"]), timeout=90, what="stack up")
        assert body["status"] == "ok" and body["broker"] is True
        _parse_one(env)
        _prewarm_one(env)
        if kill_worker:  # the supervisor restarts a child that dies, like a process manager
            worker = next(p for p in psutil.Process(proc.pid).children()
                          if "pipeline.cli worker" in " ".join(p.cmdline()))
            worker.kill()
            poll(lambda: _health(env["PIPELINE_WEB_PORT"]) and
                 worker.pid not in [p.pid for p in psutil.Process(proc.pid).children()],
                 timeout=90, what="worker restarted")
            _parse_one(env)
        tree = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "tansu" in names and "weed" in names and "pipeline.cli worker" in names
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        leftovers = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert leftovers == [], [p.cmdline() for p in leftovers]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_serves_then_stops_without_orphans_twice(tmp_path: Path) -> None:
    env = _env(tmp_path)
    log = tmp_path / "up.log"
    _run_up_once(env, log, kill_worker=True)
    _run_up_once({**env, **_ports()}, log)  # fresh log, wiped tables: no ConsistencyError
    text = log.read_text(errors="replace")
    assert "ConsistencyError" not in text
    assert "S3 access key" in text and "do not survive a" in text
    assert "worker exited with code -9; restarting" in text


def test_busy_port_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = _env(tmp_path, PIPELINE_WEB_PORT=str(busy.getsockname()[1]))
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "up"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "PIPELINE_WEB_PORT" in done.stdout + done.stderr


def test_up_without_worker_then_worker_killed_and_started_again(tmp_path: Path) -> None:
    """`pipeline up --no-worker` + `pipeline worker` by hand: kill -9 mid-parse, start
    the worker again, the job still ends done with every item."""
    env = _env(tmp_path)
    base = f"http://127.0.0.1:{env['PIPELINE_WEB_PORT']}"
    log = tmp_path / "worker.log"

    def start_worker() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=env,
                                    cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    with open(tmp_path / "up.log", "ab") as out:
        up = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "up", "--no-worker"],
                              env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    worker = None
    # ~40 s of download: the kill lands mid-parse.
    routes = {"/big.m3u": (200, synthetic_playlist(60000), {}, 0.15)}
    try:
        poll(lambda: "worker     not started" in (tmp_path / "up.log").read_text(),
             timeout=90, what="broker and S3 up")
        worker = start_worker()
        poll(lambda: _health(env["PIPELINE_WEB_PORT"]), timeout=90, what="worker up")
        with serve_routes(routes) as http_base:
            req = urllib.request.Request(
                base + "/api/playlist/parse", method="POST",
                data=json.dumps({"url": http_base + "/big.m3u"}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                job_id = json.loads(resp.read())["job_id"]
            poll(lambda: '"parse_progress"' in log.read_text(errors="replace"), timeout=60,
                 what="parse running")
            worker.kill()
            worker.wait(timeout=10)
            full_speed(routes)  # the resumed run downloads again
            assert up.poll() is None  # the stack does not restart a worker it did not start
            worker = start_worker()

            def final() -> dict | None:
                try:
                    with urllib.request.urlopen(f"{base}/api/playlist/jobs/{job_id}") as resp:
                        body = json.loads(resp.read())
                except OSError:  # worker still starting
                    return None
                return body if body["status"] in ("done", "failed") else None  # type: ignore[no-any-return]

            body = poll(final, timeout=180, what="job done after the restart")
        assert body["status"] == "done" and body["result"]["items"] == 60000, body
        assert body["runs"] >= 2, body  # the killed run was replaced by a new one
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
