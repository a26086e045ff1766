"""GET /openapi.json: the OpenAPI 3.0.3 description of the HTTP API.

Bodies come from the pydantic models of `pipeline.api_models` (its
`openapi_schemas`); this module assembles paths, operations and the shared error
answers. Every 4xx/5xx answer shares one `Error` schema whose `code` lists every
code in `pipeline.errors`; `tests/unit/test_openapi.py` keeps paths and methods
equal to the routes the app registers, and `tests/integration/test_api_fuzz.py`
fuzzes a live worker against it.
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response

from pipeline.api_models import (
    DEFAULT_QUEUE_LIMIT,
    MAX_QUEUE_LIMIT,
    error_codes,
    openapi_schemas,
)
from pipeline.settings import Settings
from pipeline.web.base import ApiView
from pipeline.web.openapi_push import push_paths

__all__ = ["OpenAPIView", "build_document", "error_codes"]

Schema = dict[str, Any]

JSON = "application/json"
NDJSON = "application/x-ndjson"

# status -> (component name, description); 429 and 503 carry Retry-After.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad body, parameter or URL (`bad_request`, `invalid_url`)."),
    401: ("Unauthorized", "Missing or invalid bearer token (`unauthorized`); only when "
                          "`PIPELINE_API_TOKEN` is set."),
    403: ("Forbidden", "Cross-origin request from an origin not in "
                       "`PIPELINE_ALLOWED_ORIGINS` (`forbidden`)."),
    404: ("NotFound", "No such job (`not_found`) or result object (`object_not_found`)."),
    409: ("Conflict", "The job ended: a failed or cancelled job has no items (the job's "
                      "code), a done or failed job cannot be cancelled (`job_finished`)."),
    410: ("RunGone", "The cursor or `since_run` names a run that is no longer served, "
                     "or the catalogue was deleted (`run_gone`); start again."),
    413: ("PayloadTooLarge", "Body over `PIPELINE_MAX_BODY_BYTES` (`payload_too_large`)."),
    415: ("UnsupportedMediaType", "Body not sent as `Content-Type: application/json` "
                                  "(`unsupported_media_type`)."),
    422: ("URLRefused", "URL or destination refused: scheme, private/loopback/metadata "
                        "address (`url_refused`)."),
    429: ("RateLimited", "Over `PIPELINE_RATE_LIMIT` for this client IP (`rate_limited`)."),
    500: ("Internal", "Unexpected failure (`internal`) or storage trouble (`storage_error`)."),
    503: ("NotReady", "Not ready: partition assignment in progress, owning worker "
                      "unreachable or no result yet (`not_ready`)."),
}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}


def ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def obj(props: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    """An object schema; `required` defaults to every property."""
    return {"type": "object", "properties": props,
            "required": list(props) if required is None else required, **extra}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def content(schema: Schema, media_type: str = JSON) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def answer(description: str, schema: Schema, media_type: str = JSON,
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": content(schema, media_type)}
    if headers:
        out["headers"] = headers
    return out


def errors(*statuses: int) -> dict[str, Any]:
    """References to the shared error responses (403 for a refused Origin and 500 are
    always included)."""
    return {str(s): ref(ERRORS[s][0], "responses") for s in sorted({*statuses, 403, 500})}


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def operation(op_id: str, summary: str, responses: dict[str, Any], *, tag: str,
              secured: bool = True, **extra: Any) -> dict[str, Any]:
    """One operation; `/api/*` ones take the bearer token when one is configured."""
    return {"operationId": op_id, "summary": summary, "tags": [tag],
            "security": [{"bearerAuth": []}, {}] if secured else [],
            "responses": responses, **extra}


def json_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": content(ref(name))}


def components(settings: Settings) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (name, description) in ERRORS.items():
        headers = {"Retry-After": RETRY_AFTER} if status in (429, 503) else None
        responses[name] = answer(description, ref("Error"), headers=headers)
    return {
        "schemas": openapi_schemas(settings),
        "responses": responses,
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <PIPELINE_API_TOKEN>`, required on "
                           "`/api/*` when that variable is set; /health, /metrics and "
                           "/openapi.json are always open."}},
    }


# --- paths


def playlist_paths() -> dict[str, Any]:
    job = path_param("job_id", "Hash of the normalised playlist URL.")
    retry = {"Retry-After": {**RETRY_AFTER, "description": "Set while queued or running."}}
    return {
        "/api/playlist/parse": {"post": operation(
            "submitParse", "Queue a playlist parse (deduplicated per URL)", {
                "200": answer("A fresh `done` result exists (`force` false).",
                              ref("ParseAccepted")),
                "202": answer("Queued, or deduplicated onto the job in flight.",
                              ref("ParseAccepted")),
                **errors(400, 401, 413, 415, 422, 429, 503)},
            tag="playlist", requestBody=json_body("ParseRequest"))},
        "/api/playlist/jobs/{job_id}": {"get": operation(
            "getParseJob", "A job's status, progress and result summary", {
                "200": answer("The job (answered by the worker that owns it).",
                              ref("PlaylistJob"), headers=retry),
                **errors(401, 404, 503)},
            tag="playlist", parameters=[job])},
        "/api/playlist/jobs/{job_id}/items": {"get": operation(
            "getParseItems", "The parsed items: streamed, or one catalogue page", {
                "200": {"description": "Without any of group, type, q, limit, cursor: one "
                                       "`PlaylistItem` JSON object a line (gzip as is with "
                                       "`Accept-Encoding: gzip`). With any: an `ItemPage`.",
                        "content": {**content({"type": "string"}, NDJSON),
                                    **content(ref("ItemPage"))}},
                **errors(400, 401, 404, 409, 410, 503)},
            tag="playlist", parameters=[job, *page_params()])},
        **catalogue_paths(job),
    }


def query_param(name: str, description: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def page_params() -> list[Schema]:
    text = {"type": "string"}
    return [
        query_param("group", "Only this group (exact name); unknown: an empty page.", text),
        query_param("type", "Only this type.", {"type": "string", "enum": [
            "live", "movie", "series", "other"]}),
        query_param("q", "Name contains this (case and accents ignored).", text),
        query_param("limit", "Page size.", {"type": "integer", "minimum": 1,
                                            "maximum": 500, "default": 100}),
        query_param("cursor", "`next` of the previous page.", text),
    ]


def catalogue_paths(job: Schema) -> dict[str, Any]:
    item = path_param("item_id", "The item's stable id.")
    since = query_param("since_run", "Fail with 410 unless the changes are since this run.",
                        {"type": "string"})
    return {
        "/api/playlist/jobs/{job_id}/groups": {"get": operation(
            "getCatalogueGroups", "The job's groups with item counts by type", {
                "200": answer("Groups in playlist order.", ref("GroupList")),
                **errors(401, 404, 409, 410, 503)},
            tag="catalogue", parameters=[job])},
        "/api/playlist/jobs/{job_id}/items/{item_id}": {"get": operation(
            "getCatalogueItem", "One item of the served run", {
                "200": answer("The item.", ref("ItemAnswer")),
                **errors(401, 404, 409, 410, 503)},
            tag="catalogue", parameters=[job, item])},
        "/api/playlist/jobs/{job_id}/diff": {"get": operation(
            "getCatalogueDiff", "The served run's changes against the run before", {
                "200": answer("One `{change, id, item}` JSON object a line.",
                              {"type": "string"}, NDJSON),
                **errors(401, 404, 409, 410, 503)},
            tag="catalogue", parameters=[job, since])},
    }


def media_paths() -> dict[str, Any]:
    limit = {"name": "limit", "in": "query", "required": False,
             "description": "How many jobs to list.",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_QUEUE_LIMIT,
                        "default": DEFAULT_QUEUE_LIMIT}}
    return {
        "/api/media/uploads": {"post": operation(
            "submitUpload", "Announce an uploaded object for prewarm", {
                "200": answer("Deduplicated onto a `done` job.", ref("MediaAccepted")),
                "202": answer("Queued, or deduplicated onto the job in flight.",
                              ref("MediaAccepted")),
                **errors(400, 401, 413, 415, 422, 429, 503)},
            tag="media", requestBody=json_body("MediaUpload"))},
        "/api/media/queue": {"get": operation(
            "getMediaQueue", "This worker's next prewarm jobs with their current scores", {
                "200": answer("Best first.", ref("MediaQueue")),
                **errors(400, 401, 503)},
            tag="media", parameters=[limit])},
        "/api/media/{media_id}": {"get": operation(
            "getMediaJob", "A prewarm job", {
                "200": answer("The job (answered by the worker that owns it).",
                              ref("MediaJob")),
                **errors(401, 404, 503)},
            tag="media", parameters=[path_param("media_id", "The uploader's media id.")])},
    }


def control_paths() -> dict[str, Any]:
    """Cancel and dead letters (docs/events.md)."""
    topic = path_param("topic", "`playlist`, `media`, an input topic or its `.dlq`.")
    query = [{"name": name, "in": "query", "required": False, "description": text,
              "schema": schema} for name, text, schema in (
        ("reason", "Only this reason code.", {"type": "string"}),
        ("since", "Only letters from this time (epoch s).", {"type": "number"}),
        ("until", "Only letters before this time (epoch s).", {"type": "number"}),
        ("key", "Only this record key or job id.", {"type": "string"}),
        ("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 1000}),
        ("start", "The `next` of the previous page.", {"type": "integer", "minimum": 0}))]
    letters = obj({"topic": {"type": "string"}, "read": {"type": "integer"},
                   "total": {"type": "integer"}, "start": {"type": "integer"},
                   "next": nullable({"type": "integer"}),
                   "letters": {"type": "array", "items": {"type": "object"}}})
    redrive = {"required": True, "content": content({"type": "object", "properties": {
        "reason": {"type": "string"}, "since": {"type": "number"},
        "until": {"type": "number"}, "key": {"type": "string"},
        "dry_run": {"type": "boolean"}}})}
    return {
        "/api/playlist/jobs/{job_id}": {"delete": operation(
            "cancelParseJob", "Cancel a queued or running parse", {
                "200": answer("Cancelled (or already cancelled).", ref("PlaylistJob")),
                "202": answer("Cancel published, not applied yet.", ref("PlaylistJob")),
                **errors(401, 404, 409, 503)},
            tag="playlist", parameters=[path_param("job_id", "The job id.")])},
        "/api/media/{media_id}": {"delete": operation(
            "cancelMediaJob", "Cancel a queued or running prewarm", {
                "200": answer("Cancelled (or already cancelled).", ref("MediaJob")),
                "202": answer("Cancel published, not applied yet.", ref("MediaJob")),
                **errors(401, 404, 409, 503)},
            tag="media", parameters=[path_param("media_id", "The media id.")])},
        "/api/dlq/{topic}": {"get": operation(
            "listDeadLetters", "Dead letters, oldest first (payloads redacted)", {
                "200": answer("One page.", letters), **errors(400, 401, 404, 503)},
            tag="service", parameters=[topic, *query])},
        "/api/dlq/{topic}/redrive": {"post": operation(
            "redriveDeadLetters", "Re-publish matching dead letters through the intake", {
                "200": answer("Counts.", {"type": "object"}),
                **errors(400, 401, 404, 413, 503)},
            tag="service", parameters=[topic], requestBody=redrive)},
    }


def merge_paths(*groups: dict[str, Any]) -> dict[str, Any]:
    """Path items of several groups; a path in two groups gets the methods of both."""
    out: dict[str, Any] = {}
    for group in groups:
        for path, item in group.items():
            out[path] = {**out.get(path, {}), **item}
    return out


def service_paths() -> dict[str, Any]:
    return {
        "/health": {"get": operation("getHealth", "Liveness, broker reachability, queues", {
            "200": answer("Broker reachable.", ref("Health")),
            "503": answer("Degraded: broker or object storage unreachable (same document).",
                          ref("Health")),
            **errors()}, tag="service", secured=False)},
        "/metrics": {"get": operation("getMetrics", "Prometheus metrics (`pipeline_*`)", {
            "200": answer("Prometheus text format.", {"type": "string"}, "text/plain"),
            **errors()}, tag="service", secured=False)},
        "/openapi.json": {"get": operation("getOpenAPI", "This document", {
            "200": answer("OpenAPI 3.0.3.", {"type": "object"}), **errors()},
            tag="service", secured=False)},
    }


def build_document(settings: Settings) -> dict[str, Any]:
    """The whole OpenAPI document for this worker's settings."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pipeline",
            "version": "0.1.0",
            "description": "Playlist parsing and media prewarm on a Kafka-compatible log. "
                           "Errors are `{\"error\": {\"code\", \"message\"}}`.",
        },
        "tags": [{"name": "playlist"}, {"name": "media"}, {"name": "service"}],
        "paths": merge_paths(playlist_paths(), media_paths(), service_paths(),
                             control_paths(), push_paths(operation, answer, errors, path_param)),
        "components": components(settings),
    }


class OpenAPIView(ApiView):
    """The OpenAPI document (open, like /health)."""

    requires_auth = False

    async def get(self, request: Request) -> Response:
        return self.json(build_document(self.deps.settings))
