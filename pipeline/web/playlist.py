"""Playlist API: submit a parse, read a job, stream its items."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
import zlib
from typing import Any

from aiohttp import web as aioweb
from faust.web import Request, Response

from pipeline import api_models as api
from pipeline import storage
from pipeline.errors import NotFound, NotReady, PipelineError
from pipeline.playlist.rules import ACTIVE, Decision, decide, queued_row
from pipeline.records import JobStatus as Status
from pipeline.records import ParseRequest, PlaylistJob
from pipeline.urls import job_id_for
from pipeline.web.base import ApiView, read_json, require_broker, send_or_503
from pipeline.web.callbacks import checked_callback
from pipeline.web.deps import WebDeps
from pipeline.web.guards import accepts_gzip, refuse_finished_without_result
from pipeline.web.preflight import refuse_private_target

# How long a submit waits for its request to be applied, so `position` is real.
APPLY_WAIT_S = 3.0


def _get_job(deps: WebDeps, job_id: str) -> PlaylistJob:
    row = deps.pending.current(deps.playlist_jobs, job_id, time.time())
    if row is None:
        raise NotFound(f"no job {job_id}")
    return row


class SubmitParse(ApiView):
    """POST {"url", "force"}: queue a parse (deduplicated by the job's owner)."""

    async def post(self, request: Request) -> Response:
        deps = self.deps
        body = await read_json(request, deps.settings)
        parse = api.validate(api.ParseRequest, body, max_url_length=deps.settings.max_url_length)
        url, force = parse.url, parse.force
        await refuse_private_target(url, deps.policy)
        callback = await checked_callback(body, deps)
        require_broker(deps.probe)
        job_id = job_id_for(url)
        client = deps.rate.submitter(request)
        owner = deps.router.route(request, deps.playlist_jobs, job_id)
        if owner is not None:
            return await deps.router.forward(request, owner, json.dumps(body).encode(), client)
        status, answer = await submit_local(deps, job_id, url, force, client, callback)
        deps.metrics.parse_requests.labels(outcome=answer.pop("_outcome")).inc()
        return self.json(answer, status=status)


async def submit_local(deps: WebDeps, job_id: str, url: str, force: bool,
                       client: str, callback_url: str = "") -> tuple[int, dict]:
    """Answer a submit on the worker that owns the job."""
    now = time.time()
    row = deps.playlist_jobs.get(job_id)
    decision = decide(row, force=force, replay=False, now=now,
                      ttl_s=deps.settings.result_ttl_s)
    pending = deps.pending.is_pending(job_id, now)
    if decision is Decision.FRESH:
        return 200, {**_answer(deps, row), "deduplicated": True, "_outcome": "cached"}
    if decision is Decision.IN_FLIGHT or pending:
        return 202, {**_answer(deps, row, job_id), "deduplicated": True,
                     "_outcome": "deduplicated"}
    await deps.rate.check(client)  # only work-starting submits count
    request = ParseRequest(url=url, force=force, requested_at=now, client=client,
                           request_id=uuid.uuid4().hex, callback_url=callback_url)
    deps.pending.add(queued_row(job_id, request, row, now))
    try:
        await send_or_503(deps.topics.parse_requests, job_id, request)
    except NotReady:
        deps.pending.done(job_id)
        raise
    row = await _wait_applied(deps, job_id, request.request_id)
    if row is not None:  # else its provisional row answers until it is (recent.py)
        deps.pending.done(job_id)
    return 202, {**_answer(deps, row, job_id), "deduplicated": False, "_outcome": "accepted"}


async def _wait_applied(deps: WebDeps, job_id: str, request_id: str) -> PlaylistJob | None:
    deadline = time.monotonic() + APPLY_WAIT_S
    while time.monotonic() < deadline:
        row = deps.playlist_jobs.get(job_id)
        if row is not None and row.request_id == request_id:
            return row
        await asyncio.sleep(0.02)
    return None


def _answer(deps: WebDeps, row: PlaylistJob | None, job_id: str = "") -> dict[str, Any]:
    job_id = row.job_id if row is not None else job_id
    status = row.status if row is not None else Status.QUEUED
    if row is not None:
        doc = deps.documents.playlist(row)
        return {k: doc[k] for k in ("job_id", "status", "position", "eta_s", "links")}
    return {"job_id": job_id, "status": status,
            "position": deps.parse.position(job_id) if status in ACTIVE else None,
            "eta_s": None, "links": {"self": f"/api/playlist/jobs/{job_id}"}}


class JobStatus(ApiView):
    """GET a job's status, answered by the worker that owns it."""

    async def get(self, request: Request, job_id: str) -> Response:
        owner = self.deps.router.route(request, self.deps.playlist_jobs, job_id)
        if owner is not None:
            return await self.deps.router.forward(request, owner)
        row = _get_job(self.deps, job_id)
        headers = {"Retry-After": "1"} if row.status in ACTIVE else {}
        return self.json(self.deps.documents.playlist(row), headers=headers)


class JobItems(ApiView):
    """GET the parsed items as NDJSON, streamed from object storage."""

    async def get(self, request: Request, job_id: str) -> Any:
        uri = await _result_uri(self.deps, request, job_id)
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
        resp = aioweb.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        if gzip_ok:
            resp.headers["Content-Encoding"] = "gzip"
        s3 = await self.deps.catalogues.client("streams")
        # Closed however the answer ends (a client that leaves mid-stream): the
        # object's body goes back to the shared client's connection pool.
        async with contextlib.aclosing(storage.iter_object(s3, bucket, key)) as chunks:
            first = await anext(chunks, b"")  # fail as JSON before headers are sent
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


async def _result_uri(deps: WebDeps, request: Request, job_id: str) -> str:
    owner = deps.router.route(request, deps.playlist_jobs, job_id)
    if owner is None:
        row = _get_job(deps, job_id)
        refuse_finished_without_result(row.status, row.error)
        uri = row.result_uri if row.status == Status.DONE else ""
    else:
        answer = await deps.router.forward(
            request.clone(rel_url=f"/api/playlist/jobs/{job_id}"),  # type: ignore[attr-defined]
            owner)
        doc = json.loads(answer.body)  # type: ignore[attr-defined]
        if answer.status != 200:
            err = doc.get("error", {})
            raise _as_error(answer.status, err)
        refuse_finished_without_result(doc.get("status", ""), doc.get("error"))
        uri = doc.get("result_uri") or ""
    if not uri:
        raise NotReady("the job has no result yet", retry_after=2)
    return uri


def _as_error(status: int, err: dict[str, Any]) -> PipelineError:
    if status == 404:
        return NotFound(err.get("message", "no such job"))
    return NotReady(err.get("message", "owner unavailable"))
