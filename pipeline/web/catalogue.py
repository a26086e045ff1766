"""Catalogue API: a job's groups, pages, searches, single items and changes.

Any worker answers: the job document comes from the owner (OwnerRouter), the
catalogue from object storage with ranged reads (docs/catalogue.md).
``/items`` without any catalogue parameter keeps streaming the full NDJSON.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from aiohttp import web as aioweb
from faust.web import Request, Response

from pipeline import storage
from pipeline.catalogue import MAX_LIMIT, Catalogue, RunGone, object_keys
from pipeline.catalogue.reader import DEFAULT_LIMIT
from pipeline.errors import BadRequest, NotFound, NotReady, ObjectNotFound
from pipeline.playlist.rules import job_answer
from pipeline.web.base import ApiView
from pipeline.web.deps import WebDeps
from pipeline.web.guards import accepts_gzip, refuse_finished_without_result
from pipeline.web.playlist import JobItems, _as_error, _get_job

# Query parameters that turn `/items` into a catalogue page.
PAGE_PARAMS = ("group", "type", "q", "limit", "cursor")
TYPES = ("live", "movie", "series", "other")


async def job_document(deps: WebDeps, request: Request, job_id: str) -> dict[str, Any]:
    """The job's public document, from this worker's table or from its owner."""
    owner = deps.router.route(request, deps.playlist_jobs, job_id)
    if owner is None:
        return job_answer(_get_job(deps, job_id), None)
    answer = await deps.router.forward(
        request.clone(rel_url=f"/api/playlist/jobs/{job_id}"),  # type: ignore[attr-defined]
        owner)
    doc: dict[str, Any] = json.loads(answer.body)  # type: ignore[attr-defined]
    if answer.status != 200:
        raise _as_error(answer.status, doc.get("error", {}))
    return doc


async def current_run(deps: WebDeps, request: Request, job_id: str) -> tuple[str, dict[str, Any]]:
    """The run whose catalogue the job serves, and the job document."""
    doc = await job_document(deps, request, job_id)
    run = (doc.get("catalogue") or {}).get("run_id")
    if not run:
        refuse_finished_without_result(doc.get("status", ""), doc.get("error"))
        raise NotReady("the job has no catalogue yet", retry_after=2)
    return run, doc


async def open_catalogue(deps: WebDeps, request: Request, job_id: str) -> Catalogue:
    run, _doc = await current_run(deps, request, job_id)
    try:
        return await deps.catalogues.catalogue(job_id, run)
    except ObjectNotFound:
        raise RunGone("the job's catalogue is gone; submit the playlist again",
                      run=run) from None


def page_params(query: Any) -> dict[str, Any]:
    """``group``, ``kind``, ``q``, ``limit``, ``cursor`` of a page request, checked."""
    raw_limit = query.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw_limit is None else int(raw_limit)
    except ValueError:
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    kind = query.get("type") or None
    if kind is not None and kind not in TYPES:
        raise BadRequest(f"type must be one of {', '.join(TYPES)}")
    return {"group": query.get("group"), "kind": kind, "q": query.get("q") or None,
            "limit": limit, "cursor": query.get("cursor") or None}


class JobGroups(ApiView):
    """GET a job's groups with their item counts by type."""

    async def get(self, request: Request, job_id: str) -> Response:
        cat = await open_catalogue(self.deps, request, job_id)
        return self.json({"job_id": job_id, "run_id": cat.run, "items": cat.index["items"],
                          "groups": cat.groups()})


class CatalogueItems(JobItems):
    """GET a page of a job's items (with a catalogue parameter) or the full NDJSON."""

    async def get(self, request: Request, job_id: str) -> Any:
        query = request.query  # type: ignore[attr-defined]
        if not any(name in query for name in PAGE_PARAMS):
            return await super().get(request, job_id)
        params = page_params(query)
        cat = await open_catalogue(self.deps, request, job_id)
        items, cursor = await cat.page(**params)
        return self.json({"job_id": job_id, "run_id": cat.run, "items": items,
                          "next": cursor})


class JobItem(ApiView):
    """GET one item of a job's current run by its stable id."""

    async def get(self, request: Request, job_id: str, item_id: str) -> Response:
        cat = await open_catalogue(self.deps, request, job_id)
        item = await cat.item(item_id)
        return self.json({"job_id": job_id, "run_id": cat.run, "item": item})


class JobDiff(ApiView):
    """GET the changes of the job's current run against the run before, as NDJSON."""

    async def get(self, request: Request, job_id: str) -> Any:
        run, doc = await current_run(self.deps, request, job_id)
        changes = doc.get("changes") or {}
        since = request.query.get("since_run")  # type: ignore[attr-defined]
        if not changes.get("since_run"):
            raise NotFound("the job's current run has no earlier run to compare with")
        if since and since != changes["since_run"]:
            raise RunGone(f"changes are kept only since run {changes['since_run']}", run=since)
        s3 = await self.deps.catalogues.client()
        key = object_keys(job_id, run)["diff"]
        return await stream_object(request, s3, self.deps.settings.results_bucket, key)


async def stream_object(request: Request, s3: Any, bucket: str, key: str) -> Any:
    """Stream a gzip NDJSON object, inflated unless the client accepts gzip."""
    gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
    resp = aioweb.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    if gzip_ok:
        resp.headers["Content-Encoding"] = "gzip"
    chunks = storage.iter_object(s3, bucket, key)
    try:
        first = await anext(chunks, b"")  # fail as JSON before headers are sent
    except ObjectNotFound:
        raise RunGone("the run's changes are gone", run="") from None
    await resp.prepare(request)  # type: ignore[arg-type]
    inflate = None if gzip_ok else zlib.decompressobj(wbits=31)
    chunk = first
    while chunk:
        await resp.write(chunk if inflate is None else inflate.decompress(chunk))
        chunk = await anext(chunks, b"")
    if inflate is not None:
        await resp.write(inflate.flush())
    await resp.write_eof()
    return resp
