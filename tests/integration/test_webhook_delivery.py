"""pipeline.webhooks.deliver against a real aiohttp receiver on 127.0.0.1 (no mocks).

The receiver verifies every delivery with the documented secret, as
docs/events.md tells a user to.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.delivery import DeliveryService
from pipeline.embedded.ports import free_port
from pipeline.metrics import Metrics
from pipeline.netguard import AddressPolicy
from pipeline.records import WebhookAttempt
from pipeline.settings import Settings
from pipeline.webhooks import (
    DELIVERED,
    GIVE_UP,
    RETRY,
    Outcome,
    RetrySchedule,
    WebhookSignatureError,
    message_id,
    open_session,
    payload,
    verify,
)
from pipeline.webhooks import deliver as deliver_once

pytestmark = pytest.mark.integration

# The example secret of docs/events.md.
SECRET = "whsec_c2VjcmV0LWZvci10aGUtcGlwZWxpbmUtZG9jcw=="
LOOPBACK_OK = AddressPolicy(allowlist=["127.0.0.1"])
FAST = RetrySchedule(base_s=0.02, factor=2, cap_s=0.2, floor_s=0.0, max_total_s=20)


@dataclass
class Receiver:
    """What the receiver saw: verified deliveries by id, and every call."""

    verified: dict[str, list[bytes]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))
    fail_ratio: float = 0.3

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(request.path)
        if request.path == "/flaky" and self.rng.random() < self.fail_ratio:
            return web.Response(status=503, text="try later")
        try:
            msg_id = verify(SECRET, dict(request.headers), body, now=time.time())
        except WebhookSignatureError as exc:
            return web.Response(status=401, text=exc.message)
        self.verified.setdefault(msg_id, []).append(body)
        return web.Response(status=204)

    async def other(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPTemporaryRedirect("/hook")
        if request.path == "/slow":
            await asyncio.sleep(2)
        return web.Response(status=int(request.query.get("status", "200")))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.hook)
    app.router.add_post("/flaky", rec.hook)
    app.router.add_post("/{name}", rec.other)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield rec, f"http://127.0.0.1:{srv.port}"
    finally:
        await srv.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with open_session(LOOPBACK_OK, timeout_s=2) as http:
        yield http


async def attempt(http: aiohttp.ClientSession, url: str, *, policy: AddressPolicy = LOOPBACK_OK,
                  schedule: RetrySchedule = FAST, n: int = 1, msg_id: str = "msg_test",
                  timeout_s: float = 2) -> Outcome:
    body = payload("playlist.job.done", {"job_id": "j1", "status": "done"}, time.time())
    return await deliver_once(http, url, body, msg_id=msg_id, secrets=SECRET, policy=policy,
                              schedule=schedule, attempt=n, first_at=time.time(),
                              now=time.time(), jitter=0.5, timeout_s=timeout_s)


async def until_settled(http: aiohttp.ClientSession, url: str, msg_id: str, body: bytes,
                        rng: random.Random) -> list[Outcome]:
    """Follow the schedule the way the pipeline does: retry at `next_at` until settled."""
    first, outcomes = time.time(), []
    while True:
        out = await deliver_once(http, url, body, msg_id=msg_id, secrets=SECRET,
                                 policy=LOOPBACK_OK, schedule=FAST, attempt=len(outcomes) + 1,
                                 first_at=first, now=time.time(), jitter=rng.random())
        outcomes.append(out)
        if out.result != RETRY or out.next_at is None:
            return outcomes
        await asyncio.sleep(max(0.0, out.next_at - time.time()))


async def test_delivery_is_signed_and_verifies_with_the_documented_secret(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    rec, base = receiver
    msg_id = message_id("playlist", "j1", "run1", "done")
    out = await attempt(session, f"{base}/hook", msg_id=msg_id)
    assert (out.result, out.code, out.status) == (DELIVERED, "ok", 204)
    [body] = rec.verified[msg_id]
    assert json.loads(body)["data"] == {"job_id": "j1", "status": "done"}


async def test_receiver_failing_30_percent_gets_every_message_once_verified(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    rec, base = receiver
    rng = random.Random(99)
    sent = {message_id("playlist", f"job{i}", "run1", "done"): i for i in range(40)}
    runs = await asyncio.gather(*(
        until_settled(session, f"{base}/flaky", msg_id, payload(
            "playlist.job.done", {"job_id": f"job{i}"}, time.time()), rng)
        for msg_id, i in sent.items()))
    assert all(outs[-1].result == DELIVERED for outs in runs)
    assert set(rec.verified) == set(sent)  # nothing lost
    assert all(len(bodies) == 1 for bodies in rec.verified.values())  # each delivered once
    retried = [outs for outs in runs if len(outs) > 1]
    assert retried and all(o.code == "http_503" for outs in retried for o in outs[:-1])
    failures = sum(len(outs) - 1 for outs in runs)
    assert 0.15 < failures / len(rec.calls) < 0.45  # about 30% of calls failed


async def test_redirect_is_refused_and_not_followed(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    rec, base = receiver
    out = await attempt(session, f"{base}/redirect")
    assert (out.result, out.code, out.status) == (GIVE_UP, "redirect_refused", 307)
    assert rec.calls == ["/redirect"] and not rec.verified


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0x7f.1", "[::ffff:127.0.0.1]"])
async def test_ssrf_guard_refuses_private_callbacks_without_a_request(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession, host: str) -> None:
    rec, base = receiver
    port = base.rsplit(":", 1)[1]
    out = await attempt(session, f"http://{host}:{port}/hook", policy=AddressPolicy())
    assert (out.result, out.code) == (GIVE_UP, "url_refused")
    assert rec.calls == []


@pytest.mark.parametrize(("url", "code"), [("ftp://example.com/x", "url_refused"),
                                           ("not a url", "invalid_url")])
async def test_bad_callback_urls_are_given_up(session: aiohttp.ClientSession, url: str,
                                              code: str) -> None:
    out = await attempt(session, url)
    assert (out.result, out.code) == (GIVE_UP, code)


async def test_answers_and_failures_map_to_retry_or_give_up(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    _, base = receiver
    gone = await attempt(session, f"{base}/x?status=410")
    assert (gone.result, gone.code) == (GIVE_UP, "gone")
    busy = await attempt(session, f"{base}/x?status=500")
    assert (busy.result, busy.code, busy.status) == (RETRY, "http_500", 500)
    assert busy.next_at is not None and busy.next_at > time.time() - 1
    slow = await attempt(session, f"{base}/slow", timeout_s=0.3)
    assert (slow.result, slow.code) == (RETRY, "timeout")
    closed = await attempt(session, f"http://127.0.0.1:{free_port()}/hook")
    assert (closed.result, closed.code) == (RETRY, "connection")


async def test_retries_stop_when_the_total_time_runs_out(
        receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    _, base = receiver
    out = await attempt(session, f"{base}/x?status=503",
                        schedule=RetrySchedule(base_s=10, floor_s=10, max_total_s=5))
    assert (out.result, out.code) == (GIVE_UP, "http_503") and out.expired
    assert "retries ran out" in out.message


async def test_service_holds_a_slot_until_the_outcome_is_recorded(
        receiver: tuple[Receiver, str]) -> None:
    """The receiver answers faster than outcomes are recorded (the producer is slow):
    attempts waiting to record theirs stay within `webhook_concurrency`, where
    thousands of sends waiting in the producer would stall the worker's loop."""
    rec, base = receiver
    settings = Settings(webhook_secret=SECRET, url_allowlist=["127.0.0.1"],
                        webhook_concurrency=3)
    recording, most, emitted = 0, 0, []

    async def slow_emit(attempt: WebhookAttempt) -> None:
        nonlocal recording, most
        recording += 1
        most = max(most, recording)
        await asyncio.sleep(0.05)
        recording -= 1
        emitted.append(attempt.webhook_id)

    tables: dict[str, dict[str, Any]] = {"playlist": {}, "media": {}}
    service = DeliveryService(settings, Metrics(), tables, lambda domain, row: {"k": row.key},
                              slow_emit)
    await service.start()
    try:
        for n in range(30):
            row = SimpleNamespace(key=f"m{n}", status="done", run_id="r1",
                                  callback_url=f"{base}/hook")
            service.create("media", f"m{n}", row)
        async with asyncio.timeout(30):
            while len(emitted) < 30:
                await asyncio.sleep(0.05)
    finally:
        await service.stop()
    assert len(rec.verified) == 30 and sorted(emitted) == sorted(rec.verified)
    assert most <= 3, most
