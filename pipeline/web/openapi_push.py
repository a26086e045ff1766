"""OpenAPI paths of the push endpoints: event streams and webhook deliveries.

Built with the helpers of `pipeline.web.openapi` (passed in: that module
imports this one). Wire format: docs/events.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SSE = "text/event-stream"
# One server-sent event as clients (and schemathesis) parse it: `data` is the job
# document as JSON text.
SSE_EVENT = {"type": "object", "properties": {
    "event": {"type": "string"}, "id": {"type": "string"}, "data": {"type": "string"},
    "retry": {"type": "integer"}}}
STREAM_DOC = ("`text/event-stream`: events queued, started, progress (at most one a "
              "second), done, failed, cancelled; `data` is the job document, `id` a decimal "
              "sequence number (send it back as `Last-Event-ID` to resume); a comment line "
              "every 15 s. The first event is the job's current state; a final event ends it.")


def push_paths(operation: Callable[..., dict[str, Any]], answer: Callable[..., dict[str, Any]],
               errors: Callable[..., dict[str, Any]],
               path_param: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    job = path_param("job_id", "Hash of the normalised playlist URL.")
    media = path_param("media_id", "The uploader's media id.")
    last_id = {"name": "Last-Event-ID", "in": "header", "required": False,
               "description": "Resume after this event id.", "schema": {"type": "string"}}
    topic = {"name": "topic", "in": "query", "required": True, "description": "Which jobs.",
             "schema": {"type": "string", "enum": ["playlist", "media"]}}
    stream = answer(STREAM_DOC, SSE_EVENT, SSE)
    listing = answer("The job's webhook deliveries: webhook_id, state (pending, delivered, "
                     "dead), attempts, next_at, outcomes.", {"type": "object"})
    return {
        "/api/playlist/jobs/{job_id}/events": {"get": operation(
            "getParseJobEvents", "A job's events as server-sent events",
            {"200": stream, **errors(401, 404, 429, 503)}, tag="playlist",
            parameters=[job, last_id])},
        "/api/playlist/jobs/{job_id}/deliveries": {"get": operation(
            "getParseJobDeliveries", "A job's webhook deliveries",
            {"200": listing, **errors(401, 404, 503)}, tag="playlist", parameters=[job])},
        "/api/media/{media_id}/events": {"get": operation(
            "getMediaJobEvents", "A prewarm job's events as server-sent events",
            {"200": stream, **errors(401, 404, 429, 503)}, tag="media",
            parameters=[media, last_id])},
        "/api/media/{media_id}/deliveries": {"get": operation(
            "getMediaJobDeliveries", "A prewarm job's webhook deliveries",
            {"200": listing, **errors(401, 404, 503)}, tag="media", parameters=[media])},
        "/api/events": {"get": operation(
            "getAllEvents", "Every job event of one topic, from every worker (dashboards)",
            {"200": answer("`text/event-stream` of live events (ids count the events of "
                           "this connection).", SSE_EVENT, SSE),
             **errors(400, 401, 429, 503)}, tag="service", parameters=[topic])},
    }
