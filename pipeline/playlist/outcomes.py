"""What applying one run event to a playlist job publishes (pure).

The events agent writes the row, then sends each record built here: the job's
result on a final status, a dead letter when a transient failure exhausted its
retries, and the catalogue's change summary when a run is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.records import (
    CatalogueChanges,
    DeadLetter,
    EventKind,
    ParseEvent,
    ParseResult,
    PlaylistJob,
)
from pipeline.urls import redact_url

FINAL_EVENTS = (EventKind.DONE, EventKind.FAILED, EventKind.CANCELLED)


@dataclass(frozen=True)
class Published:
    """Records to send for one applied event; None where there is nothing to send."""

    result: ParseResult | None = None
    dead_letter: DeadLetter | None = None
    changes: CatalogueChanges | None = None


def published(row: PlaylistJob, ev: ParseEvent) -> Published:
    """The records that announce `row`, just updated by `ev`."""
    if ev.kind not in FINAL_EVENTS:
        return Published()
    result = ParseResult(
        job_id=row.job_id, status=row.status, items=row.result_items, counts=row.counts,
        result_uri=row.result_uri, duration_s=row.duration_s, error=row.error,
        run_id=row.run_id)
    dead = None
    if ev.kind == EventKind.FAILED and ev.transient:
        dead = DeadLetter(key=row.job_id, reason=row.error or {}, attempts=row.attempt,
                          payload={"url": redact_url(row.url), "run_id": row.run_id},
                          at=ev.at, request={"url": row.url, "client": "redrive"})
    return Published(result, dead, catalogue_changes(row, ev))


def catalogue_changes(row: PlaylistJob, ev: ParseEvent) -> CatalogueChanges | None:
    """The finished run's change summary (topic `playlist.catalogue.changes`)."""
    if ev.kind != EventKind.DONE or not row.catalogue_run:
        return None
    changes = row.changes or {}
    return CatalogueChanges(
        job_id=row.job_id, run_id=row.catalogue_run, items=row.result_items,
        since_run=changes.get("since_run", ""), added=changes.get("added", 0),
        removed=changes.get("removed", 0), changed=changes.get("changed", 0), at=ev.at)
