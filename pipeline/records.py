"""Event and row schemas. Topics carry JSON; the field names are a contract (DESIGN.md)."""

from __future__ import annotations

from typing import Any

import faust


class ParseRequest(faust.Record, serializer="json"):
    """A request to parse one playlist URL (topic `playlist.parse.requests`, key job_id)."""

    url: str
    force: bool = False
    requested_at: float = 0.0
    client: str = ""
    request_id: str = ""
    replay: bool = False


class ParseEvent(faust.Record, serializer="json"):
    """Progress or outcome of one parse run (internal topic, key job_id)."""

    kind: str  # started | progress | done | failed | retry
    job_id: str
    run_id: str
    at: float
    items: int = 0
    bytes: int = 0
    counts: dict[str, int] | None = None
    groups: int = 0
    result_uri: str = ""
    duration_s: float = 0.0
    error: dict[str, Any] | None = None
    transient: bool = False


class ParseResult(faust.Record, serializer="json"):
    """Completion of a parse job (topic `playlist.parse.results`, key job_id)."""

    job_id: str
    status: str
    items: int = 0
    counts: dict[str, int] | None = None
    result_uri: str = ""
    duration_s: float = 0.0
    error: dict[str, Any] | None = None
    run_id: str = ""


class MediaUploaded(faust.Record, serializer="json"):
    """A stored media object to prewarm (topic `media.uploads`, key media_id)."""

    media_id: str
    bucket: str
    key: str
    size: int = 0
    kind: str = "other"
    content_type: str = ""
    uploaded_at: float = 0.0
    destination: str | None = None
    force: bool = False
    replay: bool = False


class PrewarmEvent(faust.Record, serializer="json"):
    """Progress or outcome of one prewarm attempt (internal topic, key media_id)."""

    kind: str  # started | done | failed | retry
    media_id: str
    run_id: str
    at: float
    attempts: int = 0
    duration_s: float = 0.0
    bytes: int = 0
    destination_ref: str | None = None
    error: dict[str, Any] | None = None


class PrewarmResult(faust.Record, serializer="json"):
    """Completion of a prewarm job (topic `media.prewarm.results`, key media_id)."""

    media_id: str
    status: str
    score: float = 0.0
    attempts: int = 0
    duration_s: float = 0.0
    destination_ref: str | None = None
    error: dict[str, Any] | None = None


class DeadLetter(faust.Record, serializer="json"):
    """A job that exhausted its retries (topic `<topic>.dlq`)."""

    key: str
    reason: dict[str, Any]
    attempts: int
    payload: dict[str, Any]
    at: float
