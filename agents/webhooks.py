"""Webhook agent: applies attempt outcomes to the delivery rows (docs/events.md).

Attempts run in `pipeline.delivery.DeliveryService`; their outcomes come back
through the webhooks topic (keyed like the job, so the row's partition is the
event's) because Faust allows table writes only inside stream iteration. A
delivery given up goes to the webhooks dead-letter topic. After every
rebalance the service schedules the pending deliveries owned now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust

from pipeline.delivery import DEAD, DeliveryService, public_item
from pipeline.records import DeadLetter, WebhookAttempt
from pipeline.topics import Topics

log = logging.getLogger("pipeline.webhooks")


@dataclass(frozen=True)
class WebhookAgents:
    """What the webhook agent needs, built by the composition root."""

    topics: Topics
    service: DeliveryService


def register(app: faust.App, deps: WebhookAgents) -> None:
    """Attach the webhook agent and the rebalance hook to `app`."""

    @app.agent(deps.topics.webhooks, name="agents.webhooks.apply_attempts")
    async def apply_attempts(stream: Any) -> None:
        async for _key, attempt in stream.items():
            await apply_attempt(deps, attempt)

    async def resume_deliveries(sender: Any, *args: Any, **kwargs: Any) -> None:
        deps.service.rebuild()

    app.on_rebalance_complete.connect(resume_deliveries)  # type: ignore[arg-type]


async def apply_attempt(deps: WebhookAgents, attempt: WebhookAttempt) -> None:
    """Apply one outcome; dead-letter the delivery when it was given up."""
    item = deps.service.apply(attempt)
    if item is None or item["state"] != DEAD:
        return
    last = item["outcomes"][-1] if item["outcomes"] else {}
    log.warning("webhook_dead", extra={"key": attempt.key, "webhook_id": attempt.webhook_id,
                                       "code": last.get("code")})
    await deps.topics.webhooks_dlq.send(key=attempt.key, value=DeadLetter(
        key=attempt.key, reason={"code": last.get("code", ""), "message": last.get(
            "message", "")}, attempts=item["attempts"],
        payload={"domain": attempt.domain, **public_item(item)}, at=attempt.at))
