"""pipeline.catalogue.diff: exact added / removed / changed between two runs."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.catalogue import Catalogue, CatalogueWriter, diff, dump_index, load_index


def build(items: list[dict[str, Any]], run: str) -> Catalogue:
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as spill, CatalogueWriter(run, out, spill) as writer:
        writer.add(items)
        index = writer.finish()
    data = out.getvalue()

    async def read_range(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return Catalogue(load_index(dump_index(index)), read_range)


def item(n: int, user: str = "u", **fields: Any) -> dict[str, Any]:
    base = {"name": f"Film {n}", "url": f"http://h/movie/{user}/pw/{n}.mkv", "type": "movie",
            "group": f"G{n % 13}", "tvg": {"logo": f"http://img/{n}.png"}}  # fmt: skip
    return {**base, **fields}


async def run_diff(old: Catalogue, new: Catalogue, tmp: Path) -> tuple[dict[str, int], list[Any]]:
    lines: list[bytes] = []
    counts = await diff(old, new, lines.append, tmp)
    return counts, [orjson.loads(line) for line in lines]


async def test_crafted_refresh_counts_are_exact(tmp_path: Path) -> None:
    n = 5_000
    old = [item(i) for i in range(n)]
    new: list[dict[str, Any]] = []
    for i, it in enumerate(old):
        if i % 100 == 0:
            continue  # removed
        if i % 100 == 1:
            it = {**it, "name": it["name"] + " (remastered)"}
        elif i % 100 == 2:
            it = {**it, "group": "Moved"}
        elif i % 100 == 3:
            it = {**it, "tvg": {"logo": "http://img/new.png"}}
        # Same streams with another account's credentials: not a change.
        new.append({**it, "url": it["url"].replace("/u/pw/", "/other/secret/")})
    new += [item(n + i) for i in range(50)]  # added
    counts, changes = await run_diff(build(old, "r1"), build(new, "r2"), tmp_path)
    assert counts == {"added": 50, "removed": 50, "changed": 150}
    kinds = [change["change"] for change in changes]
    assert (kinds.count("added"), kinds.count("removed"), kinds.count("changed")) == (50, 50, 150)
    removed = {c["item"]["name"] for c in changes if c["change"] == "removed"}
    assert removed == {f"Film {i}" for i in range(0, n, 100)}
    changed = [c for c in changes if c["change"] == "changed"]
    assert {c["item"]["name"] for c in changed if "remastered" in c["item"]["name"]} == \
        {f"Film {i} (remastered)" for i in range(1, n, 100)}  # fmt: skip
    new_cat = build(new, "r2")
    for change in changes:
        if change["change"] != "removed":
            assert (await new_cat.item(change["id"]))["name"] == change["item"]["name"]


async def test_identical_runs_have_no_changes(tmp_path: Path) -> None:
    items = [item(i) for i in range(300)]
    assert await run_diff(build(items, "a"), build(items, "b"), tmp_path) == \
        ({"added": 0, "removed": 0, "changed": 0}, [])  # fmt: skip


async def test_repeated_urls_pair_up_in_order(tmp_path: Path) -> None:
    old = [item(1), item(1, group="Other"), item(2)]
    new = [item(1), item(1, group="Other"), item(1, group="Third"), item(2, name="Renamed")]
    counts, changes = await run_diff(build(old, "a"), build(new, "b"), tmp_path)
    assert counts == {"added": 1, "removed": 0, "changed": 1}
    added = [c for c in changes if c["change"] == "added"]
    assert added[0]["item"]["group"] == "Third"
    assert added[0]["id"].endswith("-2")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    size=st.integers(0, 400),
    removed=st.sets(st.integers(0, 399)),
    changed=st.sets(st.integers(0, 399)),
    added=st.integers(0, 50),
)
async def test_counts_match_the_edit(tmp_path: Path, size: int, removed: set[int],
                                     changed: set[int], added: int) -> None:  # fmt: skip
    old = [item(i) for i in range(size)]
    new = [item(i, name="x") if i in changed else item(i) for i in range(size) if i not in removed]
    new += [item(10_000 + i) for i in range(added)]
    counts, changes = await run_diff(build(old, "a"), build(new, "b"), tmp_path)
    gone = {i for i in removed if i < size}
    assert counts == {"added": added, "removed": len(gone),
                      "changed": len({i for i in changed if i < size} - gone)}  # fmt: skip
    assert len(changes) == sum(counts.values())
