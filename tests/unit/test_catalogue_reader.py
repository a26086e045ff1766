"""pipeline.catalogue writer + reader: groups, pages with cursors, search, items."""

from __future__ import annotations

import asyncio
import io
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.catalogue import Catalogue, CatalogueWriter, RunGone, dump_index, load_index
from pipeline.catalogue import cursor as cursors
from pipeline.catalogue.layout import BLOCK_ITEMS
from pipeline.catalogue.reader import MAX_LIMIT
from pipeline.errors import BadRequest, NotFound
from pipeline.m3u.ndjson import encode_batch

KINDS = ("live", "movie", "series")


def make_item(n: int, group: str | None, name: str | None = None, kind: str = "live",
              url: str | None = None) -> dict[str, Any]:  # fmt: skip
    item: dict[str, Any] = {"name": name or f"Channel {n}", "type": kind,
                            "url": url or f"http://h/{kind}/u/p/{n}.ts"}  # fmt: skip
    if group is not None:
        item["group"] = group
    return item


def build(items: list[dict[str, Any]], run: str = "run1", batch: int = 100,
          **budgets: int) -> Catalogue:  # fmt: skip
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as spill, CatalogueWriter(run, out, spill, **budgets) as w:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            w.add(chunk, encode_batch(chunk) if i % 200 == 0 else None)
        index = w.finish()
    data = out.getvalue()

    async def read_range(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    return Catalogue(load_index(dump_index(index)), read_range)


async def all_pages(cat: Catalogue, limit: int, **filters: Any) -> list[dict[str, Any]]:
    items, cursor, seen = [], None, 0
    while True:
        page, cursor = await cat.page(limit=limit, cursor=cursor, **filters)
        assert len(page) <= limit
        items += page
        seen += 1
        assert seen < 10_000
        if cursor is None:
            return items


def strip_id(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "id"}


def playlist(n: int, groups: int) -> list[dict[str, Any]]:
    return [make_item(i, f"G{(i * 7) % groups}", kind=KINDS[i % 3]) for i in range(n)]


async def test_groups_in_first_seen_order_with_counts() -> None:
    items = [make_item(0, "B"), make_item(1, "A", kind="movie"), make_item(2, "B"),
             make_item(3, None, kind="series")]  # fmt: skip
    cat = build(items)
    assert cat.groups() == [
        {"name": "B", "items": 2, "counts": {"live": 2}},
        {"name": "A", "items": 1, "counts": {"movie": 1}},
        {"name": "", "items": 1, "counts": {"series": 1}},
    ]
    assert cat.index["counts"] == {"live": 2, "movie": 1, "series": 1}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 700), groups=st.integers(1, 5), limit=st.integers(1, 300),
       budget=st.sampled_from([2_000, 10**8]))  # fmt: skip
def test_paging_a_group_with_cursors_gives_its_items(n: int, groups: int, limit: int,
                                                     budget: int) -> None:  # fmt: skip
    items = playlist(n, groups)
    cat = build(items, item_budget=budget, id_budget=budget)
    for group in {item["group"] for item in items}:
        expected = [item for item in items if item["group"] == group]
        got = asyncio.run(all_pages(cat, limit, group=group))
        assert [strip_id(item) for item in got] == expected
        assert len({item["id"] for item in got}) == len(got)


async def test_whole_catalogue_and_type_filter() -> None:
    items = playlist(3 * BLOCK_ITEMS + 5, 3)
    cat = build(items)
    everything = await all_pages(cat, 97)
    assert sorted(item["url"] for item in everything) == sorted(item["url"] for item in items)
    movies = await all_pages(cat, 50, kind="movie", group="G1")
    assert [strip_id(i) for i in movies] == [i for i in items
                                             if i["group"] == "G1" and i["type"] == "movie"]
    assert await cat.page(kind="radio") == ([], None)


async def test_search_is_case_and_accent_insensitive() -> None:
    names = ["Ação Total", "CORAÇÃO HD", "acao", "Noite", "Straße 1", "東京 News"]
    items = [make_item(i, "G", name) for i, name in enumerate(names)] + \
        [make_item(100 + i, "H", f"Filler {i}") for i in range(600)]  # fmt: skip
    cat = build(items)
    found, _ = await cat.page(q="ACAO")
    assert [item["name"] for item in found] == ["Ação Total", "CORAÇÃO HD", "acao"]
    assert [i["name"] for i in (await cat.page(q="  coração hd "))[0]] == ["CORAÇÃO HD"]
    assert [i["name"] for i in (await cat.page(q="strasse"))[0]] == ["Straße 1"]
    assert [i["name"] for i in (await cat.page(q="東京"))[0]] == ["東京 News"]
    assert await cat.page(q="nothing like it") == ([], None)
    assert await cat.page(group="H", q="acao") == ([], None)
    paged = await all_pages(cat, 7, q="filler 1")
    assert [i["name"] for i in paged] == [f"Filler {i}" for i in range(600)
                                          if "filler 1" in f"filler {i}"]  # fmt: skip


async def test_search_with_type_filter() -> None:
    items = [make_item(i, "G", f"Amor {i}", kind=KINDS[i % 3]) for i in range(30)]
    cat = build(items)
    found = await all_pages(cat, 4, q="amor", kind="series")
    assert [i["name"] for i in found] == [f"Amor {i}" for i in range(30) if i % 3 == 2]


async def test_item_lookup_and_repeated_urls() -> None:
    url = "http://h/live/u/p/1.ts"
    items = [make_item(0, "A", url=url), make_item(1, "B", url=url.replace("/u/p/", "/x/y/")),
             make_item(2, "A", url=url), make_item(3, "A")]  # fmt: skip
    cat = build(items)
    got = await all_pages(cat, 10)
    ids = [item["id"] for item in got]
    assert len(set(ids)) == 4
    by_name = {item["name"]: item["id"] for item in got}
    base = by_name["Channel 0"]  # repeats are numbered in playlist order
    assert [by_name[f"Channel {n}"] for n in range(3)] == [base, f"{base}-1", f"{base}-2"]
    for item in got:
        assert await cat.item(item["id"]) == item
    for missing in (f"{base}-3", "0" * 16, "bogus", ""):
        with pytest.raises(NotFound):
            await cat.item(missing)


async def test_ids_are_stable_across_runs_and_credentials() -> None:
    one = build([make_item(1, "A", url="http://h/movie/alice/pw/9.mkv")], run="r1")
    two = build([make_item(1, "Z", url="http://h/movie/bob/pw2/9.mkv")], run="r2")
    assert (await one.page())[0][0]["id"] == (await two.page())[0][0]["id"]


async def test_bad_input() -> None:
    cat = build(playlist(50, 2))
    assert await cat.page(group="no such group") == ([], None)
    for limit in (0, MAX_LIMIT + 1, -1):
        with pytest.raises(BadRequest):
            await cat.page(limit=limit)
    for bad in ("", "!!!", "e30", "x" * 2000, cursors.encode("run1", (None, None, None), -1, 0)):
        with pytest.raises(BadRequest) as info:
            await cat.page(cursor=bad)
        assert info.value.code == "bad_request"
    _, cursor = await cat.page(group="G1", limit=2)
    assert cursor is not None
    with pytest.raises(BadRequest):
        await cat.page(group="G0", limit=2, cursor=cursor)  # other filters
    other = build(playlist(50, 2), run="run2")
    with pytest.raises(RunGone) as gone:
        await other.page(group="G1", limit=2, cursor=cursor)
    assert (gone.value.code, gone.value.http_status) == ("run_gone", 410)


async def test_spilling_writes_the_same_catalogue() -> None:
    # Repeated URLs in sealed blocks (their repeat tables are filled in at the end),
    # and open blocks deflated early and spilled to disk under the tight budgets.
    items = playlist(2_000, 40)
    items += [{**item, "group": "G0"} for item in items[:300]]
    roomy, tight = build(items), build(items, item_budget=4_096, id_budget=1_024)
    assert roomy.groups() == tight.groups()
    assert [block[4:] for block in roomy.blocks] == [block[4:] for block in tight.blocks]
    assert await roomy.buckets(0, 1024) == await tight.buckets(0, 1024)
    got = await all_pages(tight, MAX_LIMIT)
    assert got == await all_pages(roomy, MAX_LIMIT)
    order = {group["name"]: n for n, group in enumerate(roomy.groups())}
    assert [strip_id(item) for item in got] == sorted(items, key=lambda i: order[i["group"]])
    assert len({item["id"] for item in got}) == len(items)
    assert sum(item["id"].endswith("-1") for item in got) == 300


async def test_empty_catalogue() -> None:
    cat = build([])
    assert cat.groups() == []
    assert await cat.page() == ([], None)
    assert await cat.page(q="x") == ([], None)


def test_add_encoded_equals_add() -> None:
    items = playlist(700, 9)
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as spill, CatalogueWriter("run1", out, spill) as w:
        for i in range(0, len(items), 64):
            w.add_encoded(encode_batch(items[i : i + 64]))
        w.add_encoded(b"")
        assert w.finish() == build(items).index
