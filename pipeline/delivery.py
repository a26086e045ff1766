"""Webhook deliveries of one worker: durable rows, scheduled attempts (docs/events.md).

When a job row turns final (`done`, `failed`, `cancelled`) and the job has a
callback URL (or the operator set a default for its topic), `create()` writes
a pending delivery into the domain's delivery table, in the same agent event
that wrote the job row, so it is as durable as the outcome itself. The
service POSTs it (`pipeline.webhooks.deliver`, one attempt at a time) and
sends each attempt's outcome to the webhooks topic; `agents.webhooks` applies
it with `apply()` (table writes happen only in agents). After a crash or a
rebalance `rebuild()` schedules the pending deliveries of the partitions owned
now: at-least-once, with one stable `webhook-id` per outcome of a run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import aiohttp
from mode import Service

from pipeline.metrics import Metrics
from pipeline.netguard import AddressPolicy
from pipeline.records import WebhookAttempt, WebhookDeliveries
from pipeline.settings import Settings
from pipeline.urls import redact_url
from pipeline.webhooks import DELIVERED, GIVE_UP, RetrySchedule, deliver, message_id, payload

log = logging.getLogger("pipeline.webhooks")

FINAL = ("done", "failed", "cancelled")
PENDING, DONE, DEAD = "pending", "delivered", "dead"
# Deliveries kept per job (one per outcome of a run), outcomes kept per delivery.
MAX_ITEMS, MAX_OUTCOMES = 10, 20
IDLE_WAKE_S = 1.0

Render = Callable[[str, Any], dict[str, Any]]
Emit = Callable[[WebhookAttempt], Awaitable[Any]]


def public_item(item: dict[str, Any]) -> dict[str, Any]:
    """A delivery as `GET .../deliveries` shows it (no body, URL redacted)."""
    shown = {k: v for k, v in item.items() if k not in ("body", "url")}
    return {**shown, "url": redact_url(item["url"])}


def applied(item: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """The delivery after one attempt's outcome."""
    state = {DELIVERED: DONE, GIVE_UP: DEAD}.get(outcome["result"], PENDING)
    outcomes = [*item.get("outcomes", []), outcome][-MAX_OUTCOMES:]
    return {**item, "attempts": max(item["attempts"], outcome["attempt"]), "state": state,
            "next_at": outcome.get("next_at") if state == PENDING else None,
            "outcomes": outcomes}


class DeliveryService(Service):
    """Pending webhook deliveries of the partitions this worker owns, and their attempts."""

    def __init__(self, settings: Settings, metrics: Metrics, tables: dict[str, Any],
                 render: Render, emit: Emit, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.metrics, self.tables = settings, metrics, tables
        self._render, self._emit = render, emit
        self.policy = AddressPolicy.from_settings(settings)
        self.schedule = RetrySchedule(base_s=settings.webhook_retry_base_s,
                                      cap_s=settings.webhook_retry_cap_s,
                                      max_total_s=settings.webhook_max_total_s)
        # webhook_id -> (domain, key, delivery): pending here, attempted when due.
        self.due: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self.inflight: set[str] = set()
        self.session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._wakeup = asyncio.Event()

    def callback_for(self, domain: str, row: Any) -> str:
        default = {"playlist": self.settings.webhook_default_playlist,
                   "media": self.settings.webhook_default_media}[domain]
        return getattr(row, "callback_url", "") or default

    # --- called from agents (inside the event that wrote the row)

    def create(self, domain: str, key: str, row: Any) -> dict[str, Any] | None:
        """Write a pending delivery for a row that just turned final (None: no webhook)."""
        url = self.callback_for(domain, row)
        if row.status not in FINAL or not url or not self.settings.webhook_secrets():
            return None
        msg_id = message_id(domain, key, row.run_id, row.status)
        table = self.tables[domain]
        current = table.get(key)
        items = list(current.items) if current is not None else []
        if any(item["webhook_id"] == msg_id for item in items):
            return None  # the same outcome applied twice (a redelivered event)
        now = time.time()
        body = payload(f"{domain}.job.{row.status}", self._render(domain, row), now)
        item = {"webhook_id": msg_id, "url": url, "type": f"{domain}.job.{row.status}",
                "body": body.decode(), "first_at": now, "attempts": 0, "next_at": now,
                "state": PENDING, "outcomes": []}
        table[key] = WebhookDeliveries(key=key, items=[*items, item][-MAX_ITEMS:])
        self._queue(domain, key, item)
        log.info("webhook_pending", extra={"domain": domain, "key": key, "webhook_id": msg_id})
        return item

    def apply(self, attempt: WebhookAttempt) -> dict[str, Any] | None:
        """Apply one attempt's outcome to its delivery row; the updated delivery."""
        table = self.tables[attempt.domain]
        current = table.get(attempt.key)
        if current is None:
            return None
        items = list(current.items)
        for index, item in enumerate(items):
            if item["webhook_id"] == attempt.webhook_id and item["state"] == PENDING:
                items[index] = updated = applied(item, attempt.outcome)
                table[attempt.key] = WebhookDeliveries(key=attempt.key, items=items)
                if updated["state"] == PENDING:
                    self._queue(attempt.domain, attempt.key, updated)
                else:
                    self.due.pop(attempt.webhook_id, None)
                return updated
        return None

    def rebuild(self) -> None:
        """Schedule the pending deliveries of the partitions owned now (after a rebalance)."""
        self.due.clear()
        for domain, table in self.tables.items():
            for row in table.values():
                for item in (row.items if row is not None else []):
                    if item["state"] == PENDING:
                        self._queue(domain, row.key, item)
        log.info("webhooks_resumed", extra={"pending": len(self.due)})

    def _queue(self, domain: str, key: str, item: dict[str, Any]) -> None:
        self.due[item["webhook_id"]] = (domain, key, item)
        self.metrics.webhook_pending.set(len(self.due) + len(self.inflight))
        self._wakeup.set()

    # --- attempts

    async def on_start(self) -> None:
        from pipeline.webhooks import open_session  # needs a running loop

        self.session = open_session(self.policy, self.settings.webhook_timeout_s)

    async def on_stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    @Service.task
    async def _dispatch(self) -> None:
        while not self.should_stop:
            self._wakeup.clear()
            now = time.time()
            for msg_id, (domain, key, item) in list(self.due.items()):
                if msg_id not in self.inflight and (item.get("next_at") or 0) <= now:
                    del self.due[msg_id]
                    self.inflight.add(msg_id)
                    self.add_future(self._attempt(domain, key, item))
            wait = min([(i.get("next_at") or now) - now for _, _, i in self.due.values()],
                       default=IDLE_WAKE_S)
            try:
                await asyncio.wait_for(self._wakeup.wait(), max(0.05, min(wait, IDLE_WAKE_S)))
            except TimeoutError:
                pass

    async def _attempt(self, domain: str, key: str, item: dict[str, Any]) -> None:
        msg_id = item["webhook_id"]
        try:
            # The slot is held until the outcome is recorded, not just the POST: receivers
            # answer faster than the producer records outcomes, and thousands of sends
            # waiting in it stalled the worker's loop (bench/webhooks.py, a restart with
            # 6,432 pending deliveries).
            async with self._slots:
                assert self.session is not None
                outcome = await deliver(
                    self.session, item["url"], item["body"].encode(), msg_id=msg_id,
                    secrets=self.settings.webhook_secrets(), policy=self.policy,
                    schedule=self.schedule, attempt=item["attempts"] + 1,
                    first_at=item["first_at"], now=time.time(), jitter=random.random(),
                    timeout_s=self.settings.webhook_timeout_s,
                    max_url_length=self.settings.max_url_length)
                self.metrics.webhook_attempts.labels(result=outcome.result,
                                                     code=outcome.code).inc()
                log.info("webhook_attempt", extra={
                    "domain": domain, "key": key, "webhook_id": msg_id,
                    "result": outcome.result, "code": outcome.code,
                    "attempt": outcome.attempt, "status": outcome.status})
                await self._emit(WebhookAttempt(domain=domain, key=key, webhook_id=msg_id,
                                                outcome={**asdict(outcome), "at": time.time()},
                                                at=time.time()))
        except Exception:  # the row stays pending: try again shortly
            log.exception("webhook_attempt_failed", extra={"key": key, "webhook_id": msg_id})
            self.due.setdefault(msg_id, (domain, key, {**item, "next_at": time.time() + 5}))
        finally:
            self.inflight.discard(msg_id)
            self.metrics.webhook_pending.set(len(self.due) + len(self.inflight))
