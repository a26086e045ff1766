"""Catalogue end to end on the real embedded broker and S3: groups, pages with
cursors, accent-insensitive search, one item, diff of a crafted refresh,
retention and bad input codes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipeline.client import Client
from tests.conftest import Worker, WorkerFactory, poll
from tests.integration.http_server import serve_dir

BUCKET = "pipeline-results"
GROUPS = ["Notícias", "Filmes | Ação", "Séries"]


def _entry(i: int, group: str, name: str, user: str = "u1") -> str:
    kind = "movie" if group.startswith("Filmes") else "live"
    return (f'#EXTINF:-1 tvg-id="ch{i}" group-title="{group}",{name}\n'
            f"http://iptv.example:8080/{kind}/{user}/secret/{i}.ts\n")


def _v1() -> list[tuple[int, str, str]]:
    out = []
    for i in range(700):
        group = GROUPS[i % 3]
        name = f"Canal {i}" if i % 50 else f"Coração {i}"
        out.append((i, group, name))
    return out


def _v2() -> list[tuple[int, str, str]]:
    """v1 with 10 removed, 7 added, 4 renamed (and new credentials on every URL)."""
    out = [(i, g, n) for i, g, n in _v1() if i not in range(100, 110)]
    out = [(i, g, n + " HD" if i in (1, 2, 3, 4) else n) for i, g, n in out]
    return out + [(1000 + k, GROUPS[0], f"Novo {k}") for k in range(7)]


def _write(path: Path, entries: list[tuple[int, str, str]], user: str) -> None:
    path.write_text("#EXTM3U\n" + "".join(_entry(i, g, n, user) for i, g, n in entries),
                    encoding="utf-8")


def _get(worker: Worker, path: str, **query: Any) -> tuple[int, Any]:
    qs = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    return worker.request("GET", path + (f"?{qs}" if qs else ""))


def _run(worker: Worker, job_id: str, runs: int) -> dict[str, Any]:
    def done() -> Any:
        status, body = worker.request("GET", f"/api/playlist/jobs/{job_id}")
        return status == 200 and body["status"] == "done" and body["runs"] == runs and body
    return poll(done, timeout=90, what=f"run {runs} done")  # type: ignore[no-any-return]


def _full(worker: Worker, job_id: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(worker.base + f"/api/playlist/jobs/{job_id}/items") as resp:
        return [json.loads(line) for line in resp.read().splitlines()]


def _page_all(worker: Worker, job_id: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        status, body = _get(worker, f"/api/playlist/jobs/{job_id}/items", cursor=cursor,
                            **query)
        assert status == 200, body
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def _keys(worker_factory: WorkerFactory, job_id: str) -> set[str]:
    resp = worker_factory.s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"results/{job_id}/")
    return {obj["Key"] for obj in resp.get("Contents", [])}


@pytest.fixture
def www(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "www"
    root.mkdir()
    with serve_dir(root) as base:
        yield root, base


def _browse(worker: Worker, job_id: str) -> None:
    status, groups = _get(worker, f"/api/playlist/jobs/{job_id}/groups")
    assert status == 200, groups
    assert [g["name"] for g in groups["groups"]] == GROUPS
    assert [g["items"] for g in groups["groups"]] == [234, 233, 233]
    full = _full(worker, job_id)
    for group in GROUPS:
        paged = _page_all(worker, job_id, group=group, limit=37)
        expected = [item for item in full if item.get("group") == group]
        assert [{k: v for k, v in item.items() if k != "id"} for item in paged] == expected
    hits = _page_all(worker, job_id, q="CORACAO")
    assert len(hits) == 14 and all(h["name"].startswith("Coração") for h in hits)
    status, one = _get(worker, f"/api/playlist/jobs/{job_id}/items/{hits[0]['id']}")
    assert status == 200 and one["item"] == hits[0]


def _bad_input(worker: Worker, job_id: str) -> None:
    base = f"/api/playlist/jobs/{job_id}/items"
    status, body = _get(worker, base, group="No such group")
    assert status == 200 and body["items"] == [] and body["next"] is None
    status, body = _get(worker, base, cursor="not-a-cursor")
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = _get(worker, base, limit=501)
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = _get(worker, f"{base}/0000000000000000")
    assert status == 404


def test_catalogue_browse_diff_retention(worker_factory: WorkerFactory, www: Any) -> None:
    root, base = www
    worker = worker_factory(PIPELINE_URL_ALLOWLIST="127.0.0.1")
    _write(root / "cat.m3u", _v1(), "u1")
    status, sub = worker.request("POST", "/api/playlist/parse", {"url": f"{base}/cat.m3u"})
    assert status == 202, sub
    job_id = sub["job_id"]
    first = _run(worker, job_id, 1)
    assert first["catalogue"]["run_id"] and first["changes"] is None
    _browse(worker, job_id)
    _bad_input(worker, job_id)
    _, page = _get(worker, f"/api/playlist/jobs/{job_id}/items", group=GROUPS[0], limit=5)
    old_cursor = page["next"]

    _write(root / "cat.m3u", _v2(), "u2")  # new credentials alone are no change
    worker.request("POST", "/api/playlist/parse", {"url": f"{base}/cat.m3u", "force": True})
    second = _run(worker, job_id, 2)
    run1, run2 = first["catalogue"]["run_id"], second["catalogue"]["run_id"]
    assert second["changes"] == {"since_run": run1, "added": 7, "removed": 10, "changed": 4}
    with urllib.request.urlopen(worker.base + f"/api/playlist/jobs/{job_id}/diff") as resp:
        lines = [json.loads(line) for line in resp.read().splitlines()]
    assert sorted(line["change"] for line in lines) == ["added"] * 7 + ["changed"] * 4 + \
        ["removed"] * 10
    status, body = _get(worker, f"/api/playlist/jobs/{job_id}/items", group=GROUPS[0],
                        limit=5, cursor=old_cursor)
    assert status == 410 and body["error"]["code"] == "run_gone"

    # A reader of run 2 is mid-stream while run 3 makes run 1's objects go.
    stream = worker_factory.s3.client().get_object(
        Bucket=BUCKET, Key=f"results/{job_id}/{run2}.ndjson.gz")["Body"]
    head = stream.read(100)
    worker.request("POST", "/api/playlist/parse", {"url": f"{base}/cat.m3u", "force": True})
    third = _run(worker, job_id, 3)
    run3 = third["catalogue"]["run_id"]
    assert third["changes"] == {"since_run": run2, "added": 0, "removed": 0, "changed": 0}
    poll(lambda: not any(run1 in key for key in _keys(worker_factory, job_id)), timeout=30,
         what="run 1 deleted")
    kept = {key.split("/")[-1].split(".")[0] for key in _keys(worker_factory, job_id)}
    assert kept == {run2, run3}
    assert len(gzip.decompress(head + stream.read()).splitlines()) == 697
    _client_and_cli(worker, job_id)


def _client_and_cli(worker: Worker, job_id: str) -> None:
    with Client(worker.base) as client:
        assert [g["name"] for g in client.groups(job_id)] == GROUPS
        page = client.page(job_id, q="coracao", limit=3)
        assert len(page["items"]) == 3 and page["next"]
        assert client.item(job_id, page["items"][0]["id"]) == page["items"][0]
        assert list(client.diff(job_id)) == []  # run 3 repeated run 2
    env = {**os.environ, "PIPELINE_API_URL": worker.base}
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "items", job_id, "--group",
                          GROUPS[1], "--search", "acao"], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    found = [json.loads(line) for line in out]
    # "Coração" contains "acao"; the group's own name ("Ação") does not make a hit.
    assert found and all(item["group"] == GROUPS[1] and item["name"].startswith("Coração")
                         for item in found)
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "groups", job_id], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert [json.loads(line)["name"] for line in out] == GROUPS
