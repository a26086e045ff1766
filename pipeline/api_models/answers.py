"""Answer bodies, described for `/openapi.json` (the views build plain dicts; a unit
test checks real answers against these models)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from pipeline.api_models.base import REF_TEMPLATE, ApiModel
from pipeline.errors import PipelineError
from pipeline.records import JobStatus

Schema = dict[str, Any]


class JobError(ApiModel):
    code: str
    message: str


class Links(ApiModel):
    """Related paths; `self` always, others by status."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": {"type": "string"}})
    self_: str = Field(alias="self")


class ParseAccepted(ApiModel):
    job_id: str
    status: JobStatus
    deduplicated: bool
    position: Annotated[int, Field(ge=0)] | None = Field(
        description="0 running, 1 next, ...; null when final.")
    eta_s: float | None = Field(None, description=(
        "Estimated seconds until done, from recent run times (an estimate)."))
    links: Links


class Progress(ApiModel):
    items: int
    bytes: int


class Counts(ApiModel):
    live: int
    movie: int
    series: int


class ResultSummary(ApiModel):
    items: int
    counts: Counts
    groups: int
    duration_s: float = 0.0


Timestamp = float | None


class CatalogueRun(ApiModel):
    run_id: str
    runs: list[str] = Field(description="Runs whose objects are kept, oldest first.")


class Changes(ApiModel):
    since_run: str
    added: int
    removed: int
    changed: int


class PlaylistJob(ApiModel):
    """A parse job (`GET /api/playlist/jobs/{job_id}`)."""

    job_id: str
    url: str = Field(description="Redacted (`***` for credentials).")
    status: JobStatus
    runs: int
    attempt: int = 0
    position: Annotated[int, Field(ge=0)] | None
    eta_s: float | None = Field(None, description=(
        "Estimated seconds until done, from recent run times (an estimate)."))
    progress: Progress
    created_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp
    error: JobError | None
    result: ResultSummary | None
    result_uri: str | None = None
    catalogue: CatalogueRun | None = Field(
        None, description="The run whose catalogue is served (a refresh keeps the last one).")
    changes: Changes | None = Field(
        None, description="The served run against the one before it; null for a first run.")
    links: Links


class PlaylistItem(ApiModel):
    """One line of the items NDJSON stream."""

    name: str
    url: str
    type: Literal["live", "movie", "series"]
    group: str | None = None
    duration: float | None = None
    tvg: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    attrs: dict[str, Any] | None = None


class CatalogueItem(PlaylistItem):
    """An item read from the catalogue: the parsed item plus its stable `id`."""

    id: str = Field(description="Hex digest of the URL without credentials; `-k` for "
                                "the k-th repeat of a URL in one run.")


class GroupCounts(ApiModel):
    name: str
    items: int
    counts: dict[str, int]


class GroupList(ApiModel):
    """`GET /api/playlist/jobs/{job_id}/groups`."""

    job_id: str
    run_id: str
    items: int
    groups: list[GroupCounts]


class ItemPage(ApiModel):
    """`GET /api/playlist/jobs/{job_id}/items` with a catalogue parameter."""

    job_id: str
    run_id: str
    items: list[CatalogueItem]
    next: str | None = Field(description="Cursor of the next page (valid for this run "
                                         "only); null at the end.")


class ItemAnswer(ApiModel):
    """`GET /api/playlist/jobs/{job_id}/items/{item_id}`."""

    job_id: str
    run_id: str
    item: CatalogueItem


Score = Annotated[float, Field(description="Priority: higher runs first.")]


class MediaAccepted(ApiModel):
    media_id: str
    status: JobStatus
    score: Score
    deduplicated: bool = False


class MediaJob(ApiModel):
    """A prewarm job (`GET /api/media/{media_id}`)."""

    media_id: str
    status: JobStatus
    score: Score
    attempts: int
    created_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp
    destination_ref: str | None
    error: JobError | None
    kind: str = "other"
    size: int = 0
    position: int | None = None
    not_before: Timestamp = None
    eta_s: float | None = Field(None, description=(
        "Estimated seconds until done, from recent run times (an estimate)."))


class QueueEntry(ApiModel):
    position: int = Field(ge=1)
    media_id: str
    score: Score
    kind: str
    size: int
    age_s: float


class MediaQueue(ApiModel):
    """This worker's waiting prewarm jobs in start order."""

    worker: str = Field(description="The answering worker (each queues its own partitions).")
    waiting: int
    ready: int
    active: list[str] = Field(description="media_ids running now.")
    concurrency: int
    jobs: list[QueueEntry]


class QueueFigures(ApiModel):
    waiting: int
    active: int


class Queues(ApiModel):
    model_config = ConfigDict(json_schema_extra={
        "additionalProperties": {"$ref": REF_TEMPLATE.format(model="QueueFigures")}})
    parse: QueueFigures
    prewarm: QueueFigures


class Memory(ApiModel):
    rss_mb: float


class Brokers(ApiModel):
    live: int = Field(description="Brokers in the cluster's last metadata answer.")
    missing: int = Field(description="Brokers seen earlier by this worker and listed no "
                                     "more (a cluster member down; the others serve).")


class Health(ApiModel):
    status: Literal["ok", "degraded"] = Field(
        description="`degraded` with 503 when the broker or S3 is unreachable; `degraded` "
                    "with 200 when a broker of a cluster is down but the others serve.")
    s3: bool = Field(description="Object storage reachable (cached probe).")
    uptime_s: float
    memory: Memory
    broker: bool
    brokers: Brokers
    queues: Queues


def error_codes() -> list[str]:
    """Every stable error code, walking the `PipelineError` tree (as imported now)."""
    codes: set[str] = set()
    todo: list[type[PipelineError]] = [PipelineError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


def _error_detail(schema: Schema) -> None:
    # At generation time, so that codes of modules imported later are listed too.
    schema["properties"]["error"] = {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": error_codes()},
                       "message": {"type": "string"}}}


class Error(ApiModel):
    """Every 4xx/5xx answer."""

    model_config = ConfigDict(json_schema_extra=_error_detail)
    error: dict[str, str]

