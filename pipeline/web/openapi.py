"""GET /openapi.json: the OpenAPI 3.0.3 description of the HTTP API.

The document is a plain dict built by the small functions below. Every 4xx/5xx
answer shares one `Error` schema whose `code` lists every code in
`pipeline.errors`; `tests/unit/test_openapi.py` keeps paths and methods equal
to the routes the app registers, and `tests/integration/test_api_fuzz.py`
fuzzes a live worker against it.
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response

from pipeline.errors import PipelineError
from pipeline.media.score import KINDS
from pipeline.records import JobStatus
from pipeline.settings import Settings
from pipeline.web.base import ApiView
from pipeline.web.openapi_push import CALLBACK_URL, ETA_S, push_paths

Schema = dict[str, Any]

JSON = "application/json"
NDJSON = "application/x-ndjson"
JOB_STATUSES = [status.value for status in JobStatus]
# Largest S3/R2 object; larger sizes cannot be real (and do not fit the log's JSON).
MAX_OBJECT_BYTES = 5 * 1024**4

# status -> (component name, description); 429 and 503 carry Retry-After.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad body, parameter or URL (`bad_request`, `invalid_url`)."),
    401: ("Unauthorized", "Missing or invalid bearer token (`unauthorized`); only when "
                          "`PIPELINE_API_TOKEN` is set."),
    404: ("NotFound", "No such job (`not_found`) or result object (`object_not_found`)."),
    413: ("PayloadTooLarge", "Body over `PIPELINE_MAX_BODY_BYTES` (`payload_too_large`)."),
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


def error_codes() -> list[str]:
    """Every stable error code, walking the `PipelineError` tree."""
    codes: set[str] = set()
    todo: list[type[PipelineError]] = [PipelineError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


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
    """References to the shared error responses (500 is always included)."""
    return {str(s): ref(ERRORS[s][0], "responses") for s in sorted({*statuses, 500})}


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


# --- schemas


def error_schema() -> Schema:
    inner = obj({"code": {"type": "string", "enum": error_codes()},
                 "message": {"type": "string"}})
    return obj({"error": inner})


def job_error_schema() -> Schema:
    return nullable(obj({"code": {"type": "string"}, "message": {"type": "string"}}))


def playlist_schemas(settings: Settings) -> dict[str, Schema]:
    ts = nullable({"type": "number"})
    links = obj({"self": {"type": "string"}}, additionalProperties={"type": "string"})
    counts = obj({k: {"type": "integer"} for k in ("live", "movie", "series")})
    result = nullable(obj({"items": {"type": "integer"}, "counts": counts,
                           "groups": {"type": "integer"}, "duration_s": {"type": "number"}},
                          required=["items", "counts", "groups"]))
    return {
        "ParseRequest": obj({
            "url": {"type": "string", "minLength": 1, "maxLength": settings.max_url_length,
                    "description": "http(s) playlist URL; credentials in it are never shown.",
                    "example": "https://provider.example/get.php?username=u&password=p"
                               "&type=m3u_plus"},
            "force": {"type": "boolean", "default": False,
                      "description": "Parse again even when a fresh result exists."},
            "callback_url": CALLBACK_URL,
        }, required=["url"]),
        "ParseAccepted": obj({
            "job_id": {"type": "string"}, "status": {"type": "string", "enum": JOB_STATUSES},
            "deduplicated": {"type": "boolean"},
            "position": nullable({"type": "integer", "minimum": 0,
                                  "description": "0 running, 1 next, ...; null when final."}),
            "eta_s": ETA_S,
            "links": links}),
        "PlaylistJob": obj({
            "job_id": {"type": "string"},
            "url": {"type": "string", "description": "Redacted (`***` for credentials)."},
            "status": {"type": "string", "enum": JOB_STATUSES},
            "runs": {"type": "integer"}, "attempt": {"type": "integer"},
            "position": nullable({"type": "integer", "minimum": 0}), "eta_s": ETA_S,
            "progress": obj({"items": {"type": "integer"}, "bytes": {"type": "integer"}}),
            "created_at": ts, "started_at": ts, "finished_at": ts,
            "error": job_error_schema(), "result": result,
            "result_uri": nullable({"type": "string"}), "links": links,
        }, required=["job_id", "url", "status", "runs", "position", "progress", "created_at",
                     "started_at", "finished_at", "error", "result"]),
        "PlaylistItem": obj({
            "name": {"type": "string"}, "url": {"type": "string"},
            "type": {"type": "string", "enum": ["live", "movie", "series"]},
            "group": nullable({"type": "string"}), "duration": nullable({"type": "number"}),
            "tvg": nullable({"type": "object"}), "series": nullable({"type": "object"}),
            "http": nullable({"type": "object"}), "attrs": nullable({"type": "object"}),
        }, required=["name", "url", "type"],
            description="One line of the items NDJSON stream."),
    }


def media_schemas(settings: Settings) -> dict[str, Schema]:
    ts = nullable({"type": "number"})
    score = {"type": "number", "description": "Priority: higher runs first."}
    status = {"type": "string", "enum": JOB_STATUSES}
    return {
        "MediaUpload": obj({
            "media_id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:@=+-]{0,199}$"},
            "bucket": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$",
                       "default": settings.media_bucket},
            "key": {"type": "string", "minLength": 1, "maxLength": 1024},
            "size": {"type": "integer", "minimum": 0, "maximum": MAX_OBJECT_BYTES,
                     "description": "Bytes."},
            "kind": {"type": "string", "enum": list(KINDS)},
            "content_type": {"type": "string", "maxLength": 255},
            "uploaded_at": {"oneOf": [{"type": "number", "minimum": 0},
                                      {"type": "string", "format": "date-time"}],
                            "description": "Epoch seconds or ISO-8601; default now."},
            "destination": nullable({"type": "string", "maxLength": 2048,
                                     "description": "Override: null://, s3://, http(s)://, "
                                                    "file:// (allowed prefixes only)."}),
            "force": {"type": "boolean", "default": False},
            "callback_url": CALLBACK_URL,
        }, required=["media_id", "bucket", "key", "size", "kind"]),
        "MediaAccepted": obj({"media_id": {"type": "string"}, "status": status,
                              "score": score, "deduplicated": {"type": "boolean"}},
                             required=["media_id", "status", "score"]),
        "MediaJob": obj({
            "media_id": {"type": "string"}, "status": status, "score": score,
            "attempts": {"type": "integer"}, "created_at": ts, "started_at": ts,
            "finished_at": ts, "destination_ref": nullable({"type": "string"}),
            "error": job_error_schema(), "kind": {"type": "string"},
            "size": {"type": "integer"}, "position": nullable({"type": "integer"}),
            "not_before": ts, "eta_s": ETA_S,
        }, required=["media_id", "status", "score", "attempts", "created_at", "started_at",
                     "finished_at", "destination_ref", "error"]),
        "MediaQueue": obj({
            "waiting": {"type": "integer"}, "ready": {"type": "integer"},
            "active": {"type": "array", "items": {"type": "string"},
                       "description": "media_ids running now."},
            "concurrency": {"type": "integer"},
            "jobs": {"type": "array", "items": obj({
                "position": {"type": "integer", "minimum": 1}, "media_id": {"type": "string"},
                "score": score, "kind": {"type": "string"}, "size": {"type": "integer"},
                "age_s": {"type": "number"}})},
        }, description="This worker's waiting prewarm jobs in start order."),
    }


def health_schema() -> Schema:
    queue = obj({"waiting": {"type": "integer"}, "active": {"type": "integer"}})
    return obj({
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "uptime_s": {"type": "number"}, "memory": obj({"rss_mb": {"type": "number"}}),
        "broker": {"type": "boolean"},
        "queues": obj({"parse": queue, "prewarm": queue}, additionalProperties=queue),
    })


def components(settings: Settings) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (name, description) in ERRORS.items():
        headers = {"Retry-After": RETRY_AFTER} if status in (429, 503) else None
        responses[name] = answer(description, ref("Error"), headers=headers)
    return {
        "schemas": {"Error": error_schema(), **playlist_schemas(settings),
                    **media_schemas(settings), "Health": health_schema()},
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
                **errors(400, 401, 413, 422, 429, 503)},
            tag="playlist", requestBody=json_body("ParseRequest"))},
        "/api/playlist/jobs/{job_id}": {"get": operation(
            "getParseJob", "A job's status, progress and result summary", {
                "200": answer("The job (answered by the worker that owns it).",
                              ref("PlaylistJob"), headers=retry),
                **errors(401, 404, 503)},
            tag="playlist", parameters=[job])},
        "/api/playlist/jobs/{job_id}/items": {"get": operation(
            "getParseItems", "The parsed items, streamed", {
                "200": answer("One `PlaylistItem` JSON object a line; gzip as is with "
                              "`Accept-Encoding: gzip`.", {"type": "string"}, NDJSON),
                **errors(401, 404, 503)},
            tag="playlist", parameters=[job])},
    }


def media_paths() -> dict[str, Any]:
    limit = {"name": "limit", "in": "query", "required": False,
             "description": "How many jobs to list.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}}
    return {
        "/api/media/uploads": {"post": operation(
            "submitUpload", "Announce an uploaded object for prewarm", {
                "200": answer("Deduplicated onto a `done` job.", ref("MediaAccepted")),
                "202": answer("Queued, or deduplicated onto the job in flight.",
                              ref("MediaAccepted")),
                **errors(400, 401, 413, 422, 429, 503)},
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


def service_paths() -> dict[str, Any]:
    return {
        "/health": {"get": operation("getHealth", "Liveness, broker reachability, queues", {
            "200": answer("Broker reachable.", ref("Health")),
            "503": answer("Degraded: broker unreachable (same document).", ref("Health")),
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
        "paths": {**playlist_paths(), **media_paths(), **service_paths(),
                  **push_paths(operation, answer, errors, path_param)},
        "components": components(settings),
    }


class OpenAPIView(ApiView):
    """The OpenAPI document (open, like /health)."""

    requires_auth = False

    async def get(self, request: Request) -> Response:
        return self.json(build_document(self.deps.settings))
