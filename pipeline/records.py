"""Event and row schemas. Topics carry JSON; the field names are a contract
(docs/architecture.md). Statuses and event kinds are the StrEnums below: they
serialise as their plain string values, so the wire format is unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import faust


class JobStatus(StrEnum):
    """Status of a playlist or media job row."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A job in flight: never started twice, resumed after a rebalance.
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class EventKind(StrEnum):
    """Kind of a run event (`ParseEvent`, `PrewarmEvent`); media runs have no `progress`."""

    STARTED = "started"
    PROGRESS = "progress"
    DONE = "done"
    FAILED = "failed"
    RETRY = "retry"
    CANCELLED = "cancelled"


# Kinds of media object (`MediaUploaded.kind`); score weights per kind: pipeline.media.score.
MEDIA_KINDS = ("photo", "video", "audio", "document", "other")


class ParseRequest(faust.Record, serializer="json"):
    """A request to parse one playlist URL (topic `playlist.parse.requests`, key job_id)."""

    url: str
    force: bool = False
    requested_at: float = 0.0
    client: str = ""
    request_id: str = ""
    replay: bool = False
    callback_url: str = ""


class ParseEvent(faust.Record, serializer="json"):
    """Progress or outcome of one parse run (internal topic, key job_id)."""

    kind: str  # EventKind
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
    # On `done`: {"run_id", "items", "groups", "changes"} of the run's catalogue.
    catalogue: dict[str, Any] | None = None


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


class CatalogueChanges(faust.Record, serializer="json"):
    """A finished run's catalogue summary (topic `playlist.catalogue.changes`, key job_id);
    ``since_run`` is empty and the counts zero when there was no earlier run to diff."""

    job_id: str
    run_id: str
    items: int = 0
    since_run: str = ""
    added: int = 0
    removed: int = 0
    changed: int = 0
    at: float = 0.0


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
    callback_url: str = ""


class PrewarmEvent(faust.Record, serializer="json"):
    """Progress or outcome of one prewarm attempt (internal topic, key media_id)."""

    kind: str  # EventKind (no progress)
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
    # The request that re-runs the job (`pipeline dlq redrive`); never shown unredacted.
    request: dict[str, Any] | None = None


class PlaylistJob(faust.Record, serializer="json"):
    """One playlist job row (table `playlist_jobs`, key job_id).

    `url` is kept unredacted (a resumed job needs it); never expose it.
    """

    job_id: str
    url: str
    status: str  # JobStatus
    runs: int = 0
    attempt: int = 0
    run_id: str = ""
    created_at: float = 0.0
    queued_at: float = 0.0
    not_before: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    progress_items: int = 0
    progress_bytes: int = 0
    error: dict[str, Any] | None = None
    result_items: int = 0
    counts: dict[str, int] | None = None
    groups: int = 0
    result_uri: str = ""
    duration_s: float = 0.0
    request_id: str = ""
    callback_url: str = ""  # webhook target of this job's outcome (docs/events.md)
    # The run whose catalogue is served, the runs whose objects are kept (oldest
    # first), and the changes of that run against the one before it.
    catalogue_run: str = ""
    catalogue_runs: list[str] | None = None
    changes: dict[str, Any] | None = None


class MediaJob(faust.Record, serializer="json"):
    """One media prewarm job row (table `media_jobs`, key media_id); rules in
    `pipeline.media.rules`."""

    media_id: str
    bucket: str
    key: str
    status: str  # JobStatus
    size: int = 0
    kind: str = "other"
    content_type: str = ""
    uploaded_at: float = 0.0
    destination: str | None = None
    score: float = 0.0
    attempts: int = 0
    run_id: str = ""
    created_at: float = 0.0
    not_before: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    destination_ref: str | None = None
    error: dict[str, Any] | None = None
    duration_s: float = 0.0  # of the last run
    bytes: int = 0  # pushed to the destination by the run that finished it
    callback_url: str = ""  # webhook target of this job's outcome (docs/events.md)


class WebhookAttempt(faust.Record, serializer="json"):
    """The outcome of one webhook attempt (topic `pipeline.webhooks`, key: the job's id).

    Applied to the job's delivery row by `agents.webhooks`; `outcome` is
    `pipeline.webhooks.Outcome` as a dict.
    """

    domain: str  # playlist | media
    key: str
    webhook_id: str
    outcome: dict[str, Any]
    at: float


class WebhookDeliveries(faust.Record, serializer="json"):
    """The webhook deliveries of one job (tables `playlist_webhooks`, `media_webhooks`).

    Each item: webhook_id, url, type, body, first_at, attempts, next_at, state
    (pending, delivered, dead) and the last outcomes (`pipeline.delivery`).
    """

    key: str
    items: list[dict[str, Any]]


def record_fields(record_type: Any, value: dict[str, Any]) -> dict[str, Any]:
    """The fields of `value` that `record_type` (a faust.Record) declares."""
    known = set(record_type._options.fields)
    return {name: v for name, v in value.items() if name in known}
