"""Playlist API: submit a parse, read a job, stream its items."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from typing import Any

from aiohttp import web as aioweb
from faust.web import Request, Response

from agents.parse import queue
from pipeline import storage
from pipeline.app import app, metrics, settings
from pipeline.errors import BadRequest, NotFound, NotReady, PipelineError
from pipeline.jobs import ACTIVE, Decision, decide, job_answer
from pipeline.netguard import AddressPolicy
from pipeline.records import ParseRequest
from pipeline.topics import parse_requests
from pipeline.urls import job_id_for, validate_playlist_url
from pipeline.web.base import (
    ApiView,
    forward,
    owner_url,
    read_json,
    require_broker,
    send_or_503,
)
from pipeline.web.guards import accepts_gzip, refuse_finished_without_result
from pipeline.web.preflight import refuse_private_target
from pipeline.web.ratelimit import check_rate, submitter
from tables.playlist_jobs import playlist_jobs

TABLE = "playlist_jobs"
# Requests produced here but not yet applied by the agent: dedupes a burst of
# identical submits that arrive before the first one reaches the table.
_pending: dict[str, float] = {}
PENDING_TTL_S = 30.0
# How long a submit waits for its request to be applied, so `position` is real.
APPLY_WAIT_S = 3.0
_policy = AddressPolicy.from_settings(settings)


def _get_job(job_id: str) -> Any:
    row = playlist_jobs.get(job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    return row


@app.page("/api/playlist/parse")
class SubmitParse(ApiView):
    """POST {"url", "force"}: queue a parse (deduplicated by the job's owner)."""

    async def post(self, request: Request) -> Response:
        body = await read_json(request)
        url = validate_playlist_url(body.get("url"), settings.max_url_length)
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise BadRequest("`force` must be true or false")
        await refuse_private_target(url, _policy)
        require_broker()
        job_id = job_id_for(url)
        client = submitter(request)
        owner = owner_url(TABLE, job_id)
        if owner is not None:
            return await forward(request, owner, json.dumps(body).encode(), client)
        status, answer = await submit_local(job_id, url, force, client)
        metrics.parse_requests.labels(outcome=answer.pop("_outcome")).inc()
        return self.json(answer, status=status)


async def submit_local(job_id: str, url: str, force: bool, client: str) -> tuple[int, dict]:
    """Answer a submit on the worker that owns the job."""
    now = time.time()
    row = playlist_jobs.get(job_id)
    decision = decide(row, force=force, replay=False, now=now, ttl_s=settings.result_ttl_s)
    pending = _pending.get(job_id, 0) > now - PENDING_TTL_S
    if decision is Decision.FRESH:
        return 200, {**_answer(row), "deduplicated": True, "_outcome": "cached"}
    if decision is Decision.IN_FLIGHT or pending:
        return 202, {**_answer(row, job_id), "deduplicated": True, "_outcome": "deduplicated"}
    await check_rate(client)  # only work-starting submits count
    _pending[job_id] = now
    request_id = uuid.uuid4().hex
    try:
        await send_or_503(parse_requests, job_id, ParseRequest(
            url=url, force=force, requested_at=now, client=client, request_id=request_id))
    except NotReady:
        _pending.pop(job_id, None)
        raise
    row = await _wait_applied(job_id, request_id)
    _pending.pop(job_id, None)
    return 202, {**_answer(row, job_id), "deduplicated": False, "_outcome": "accepted"}


async def _wait_applied(job_id: str, request_id: str) -> Any:
    deadline = time.monotonic() + APPLY_WAIT_S
    while time.monotonic() < deadline:
        row = playlist_jobs.get(job_id)
        if row is not None and row.request_id == request_id:
            return row
        await asyncio.sleep(0.02)
    return None


def _answer(row: Any, job_id: str = "") -> dict[str, Any]:
    job_id = row.job_id if row is not None else job_id
    status = row.status if row is not None else "queued"
    return {"job_id": job_id, "status": status,
            "position": queue.position(job_id) if status in ACTIVE else None,
            "links": {"self": f"/api/playlist/jobs/{job_id}"}}


@app.page("/api/playlist/jobs/{job_id}")
class JobStatus(ApiView):
    """GET a job's status, answered by the worker that owns it."""

    async def get(self, request: Request, job_id: str) -> Response:
        owner = owner_url(TABLE, job_id)
        if owner is not None:
            return await forward(request, owner)
        row = _get_job(job_id)
        position = queue.position(job_id) if row.status in ACTIVE else None
        headers = {"Retry-After": "1"} if row.status in ACTIVE else {}
        return self.json(job_answer(row, position), headers=headers)


@app.page("/api/playlist/jobs/{job_id}/items")
class JobItems(ApiView):
    """GET the parsed items as NDJSON, streamed from object storage."""

    async def get(self, request: Request, job_id: str) -> Any:
        uri = await _result_uri(request, job_id)
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        gzip_ok = accepts_gzip(request.headers.get("Accept-Encoding"))
        resp = aioweb.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        if gzip_ok:
            resp.headers["Content-Encoding"] = "gzip"
        async with storage.open_client(settings) as s3:
            chunks = storage.iter_object(s3, bucket, key)
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


async def _result_uri(request: Request, job_id: str) -> str:
    owner = owner_url(TABLE, job_id)
    if owner is None:
        row = _get_job(job_id)
        refuse_finished_without_result(row.status, row.error)
        uri = row.result_uri if row.status == "done" else ""
    else:
        answer = await forward(request.clone(rel_url=f"/api/playlist/jobs/{job_id}"),  # type: ignore[attr-defined]
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
