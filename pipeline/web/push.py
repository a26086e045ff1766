"""Job row writes turned into pushes: stream events, ETA samples, webhook deliveries.

`RowEvents(domain)` is the `on_set` of the `ObservedTable` the composition
root gives the agents. It runs inside the agent's event: the pending webhook
delivery is written there (same partition as the job row); the stream event is
rendered a moment later, once the agent has also queued the job, so its
`position` is real. `end_moved_streams` ends the streams of jobs this worker
no longer owns after a rebalance (clients resume on the new owner).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipeline.delivery import FINAL, DeliveryService
from pipeline.errors import PipelineError
from pipeline.jobevents import JobEvents, event_name
from pipeline.web.documents import PLAYLIST, Documents

log = logging.getLogger("pipeline.events")


class RowEvents:
    """`on_set(row)` for one domain's job table."""

    def __init__(self, domain: str, events: JobEvents, documents: Documents,
                 delivery: DeliveryService) -> None:
        self.domain, self.events, self.documents = domain, events, documents
        self.delivery = delivery

    def key(self, row: Any) -> str:
        return str(row.job_id if self.domain == PLAYLIST else row.media_id)

    def __call__(self, row: Any) -> None:
        key = self.key(row)
        if row.status in FINAL:
            self.documents.finished(self.domain, row)
            self.delivery.create(self.domain, key, row)
        name = event_name(row.status, getattr(row, "progress_items", 0),
                          getattr(row, "progress_bytes", 0))
        asyncio.get_running_loop().call_soon(self._publish, key, name, row)

    def _publish(self, key: str, name: str, row: Any) -> None:
        try:
            self.events.publish(self.domain, key, name, self.documents.render(self.domain, row))
        except Exception:  # a push problem must never reach the loop's exception handler
            log.exception("job_event_failed", extra={"key": key})


def end_moved_streams(events: JobEvents, owner_url: Any, tables: dict[str, Any]) -> int:
    """End the job streams whose job moved to another worker, and every dashboard
    stream (its set of peers changed); how many ended."""
    ended = 0
    for (domain, key), subs in list(events.keyed_subscriptions()):
        try:
            moved = owner_url(tables[domain], key) is not None
        except PipelineError:  # no assignment yet: let the client resume
            moved = True
        if moved:
            for sub in list(subs):
                sub.end()
                ended += 1
    return ended + events.end_dashboards()
