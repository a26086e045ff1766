"""Webhooks: Standard Webhooks signing and verification, the retry schedule, delivery.

Signing and the schedule are pure (time and jitter are passed in). `deliver()`
makes ONE attempt: it POSTs through the outbound SSRF guard (the same policy as
playlist fetches), refuses redirects and says what to do next. Where pending
deliveries are kept and when they run is the caller's business. Wire format and
a receiver example: docs/events.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from pipeline.errors import PipelineError, Unauthorized, URLRefused
from pipeline.fetch import FetchLimits, make_session
from pipeline.netguard import AddressPolicy
from pipeline.urls import redact_url, validate_playlist_url

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DELIVERED, RETRY, GIVE_UP = "delivered", "retry", "give_up"
# One attempt may take this long, connect to last byte of the answer's headers (seconds).
ATTEMPT_TIMEOUT_S = 10.0
USER_AGENT = "pipeline-webhooks/0.1"
# Receivers refuse a timestamp further than this from their clock (replay protection).
TOLERANCE_S = 5 * 60


class WebhookSignatureError(Unauthorized):
    """A delivery whose headers or signature do not verify (answer it 401)."""

    code = "webhook_signature"


def secret_key(secret: str | bytes) -> bytes:
    """The HMAC key: `whsec_<base64>` decoded, any other text used as its UTF-8 bytes."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if not secret:
        raise ValueError("the webhook secret is empty")
    return secret.encode("utf-8")


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(secrets: str | bytes | Iterable[str | bytes], msg_id: str,
                   timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets (rotation) sign side by side."""
    keys = [secrets] if isinstance(secrets, str | bytes) else list(secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = TOLERANCE_S) -> str:
    """Check a delivery as a receiver does; returns the `webhook-id` (dedupe on it).

    Raises WebhookSignatureError: a header missing, a timestamp not an integer or
    more than `tolerance_s` from `now`, or no `v1` signature that matches.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lowered.get("webhook-id"), lowered.get("webhook-timestamp")
    given = lowered.get("webhook-signature")
    if not msg_id or not stamp or not given:
        raise WebhookSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookSignatureError("webhook-timestamp is not integer seconds")
    if abs(now - int(stamp)) > tolerance_s:
        raise WebhookSignatureError("webhook-timestamp is too far from now")
    expected = sign(secret, msg_id, int(stamp), body)
    for candidate in given.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return msg_id
    raise WebhookSignatureError("no matching signature")


def message_id(kind: str, key: str, run_id: str, status: str) -> str:
    """A stable `webhook-id` for one outcome of one run: every retry sends the same."""
    digest = hashlib.sha256(f"{kind}\0{key}\0{run_id}\0{status}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def payload(event_type: str, data: Mapping[str, Any], at: float) -> bytes:
    """The body: `{"type", "timestamp" (ISO-8601 UTC), "data": the job document}`."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    doc = {"type": event_type, "timestamp": stamp, "data": dict(data)}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff with full jitter, bounded in total time.

    The delay before attempt n+1 is `jitter x min(cap_s, base_s x factor^(n-1))`
    (jitter uniform in [0, 1)), never below `floor_s`. No attempt starts later
    than `max_total_s` after the first one: then the delivery is given up.
    """

    base_s: float = 5.0
    factor: float = 2.0
    cap_s: float = 15 * 60.0
    floor_s: float = 1.0
    max_total_s: float = 24 * 3600.0

    def delay_s(self, attempt: int, jitter: float) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 = the first)."""
        ceiling = min(self.cap_s, self.base_s * self.factor ** max(0, attempt - 1))
        return max(self.floor_s, min(1.0, max(0.0, jitter)) * ceiling)

    def next_at(self, attempt: int, first_at: float, now: float, jitter: float) -> float | None:
        """When to try again after failed attempt `attempt`, or None: give up."""
        at = now + self.delay_s(attempt, jitter)
        return None if at > first_at + self.max_total_s else at


@dataclass(frozen=True)
class Outcome:
    """What one attempt did and what comes next.

    `result`: delivered, retry (at `next_at`) or give_up. `code`: `ok`,
    `http_<status>`, `timeout`, `connection`, `redirect_refused`, `gone` (410),
    `url_refused` or `invalid_url`. A retryable code with result give_up means
    the schedule's total time ran out (`expired`).
    """

    result: str
    code: str
    attempt: int
    status: int | None = None
    next_at: float | None = None
    elapsed_s: float = 0.0
    message: str = ""

    @property
    def expired(self) -> bool:
        """Given up because the schedule ran out (not because of the answer)."""
        retryable = self.code in ("timeout", "connection") or self.code.startswith("http_")
        return self.result == GIVE_UP and retryable


def open_session(policy: AddressPolicy,
                 timeout_s: float = ATTEMPT_TIMEOUT_S) -> aiohttp.ClientSession:
    """A session whose connections pass the SSRF guard (call in a running loop; close it)."""
    limits = FetchLimits(connect_timeout_s=timeout_s, read_timeout_s=timeout_s,
                         user_agent=USER_AGENT)
    return make_session(policy, limits)


def _target(url: str, policy: AddressPolicy, max_url_length: int) -> URL:
    """The checked callback URL; raises URLRefused / InvalidURL / FetchRefused."""
    text = validate_playlist_url(url, max_url_length)
    try:
        target = URL(text)
    except ValueError as exc:
        raise URLRefused(f"callback URL cannot be parsed: {exc}") from None
    policy.check_host(target.raw_host or "")  # literal IPs; names are checked when resolved
    return target


def _classify(status: int) -> tuple[str, str]:
    if 200 <= status < 300:
        return DELIVERED, "ok"
    if 300 <= status < 400:
        return GIVE_UP, "redirect_refused"  # a redirect could lead past the guard
    if status == 410:
        return GIVE_UP, "gone"  # the receiver says: stop sending here
    return RETRY, f"http_{status}"


async def _post(session: aiohttp.ClientSession, target: URL, body: bytes,
                headers: dict[str, str], timeout_s: float) -> tuple[str, str, int | None, str]:
    try:
        async with session.post(target, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            result, code = _classify(resp.status)
            return result, code, resp.status, f"HTTP {resp.status}"
    except PipelineError as exc:  # the guarded resolver refused the address
        return GIVE_UP, "url_refused", None, exc.message
    except TimeoutError:
        return RETRY, "timeout", None, f"no answer within {timeout_s} s"
    except (aiohttp.ClientError, OSError) as exc:
        return RETRY, "connection", None, f"{type(exc).__name__}: {exc}"


async def deliver(session: aiohttp.ClientSession, url: str, body: bytes, *, msg_id: str,
                  secrets: str | bytes | Iterable[str | bytes], policy: AddressPolicy,
                  schedule: RetrySchedule, attempt: int, first_at: float, now: float,
                  jitter: float, timeout_s: float = ATTEMPT_TIMEOUT_S,
                  max_url_length: int = 4096) -> Outcome:
    """Make attempt number `attempt` (1 = first) to POST `body` to `url`, signed.

    `session` comes from :func:`open_session`. Never raises for a delivery
    problem: the outcome says delivered, retry (with `next_at`) or give up.
    """
    started = time.monotonic()
    try:
        target = _target(url, policy, max_url_length)
    except PipelineError as exc:
        code = "invalid_url" if exc.code in ("invalid_url", "bad_request") else "url_refused"
        return Outcome(GIVE_UP, code, attempt, message=exc.message)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **signed_headers(secrets, msg_id, int(now), body)}
    result, code, status, message = await _post(session, target, body, headers, timeout_s)
    elapsed = round(time.monotonic() - started, 3)
    next_at = None
    if result == RETRY:
        next_at = schedule.next_at(attempt, first_at, now + elapsed, jitter)
        if next_at is None:
            result, message = GIVE_UP, f"retries ran out after {schedule.max_total_s} s: {message}"
    return Outcome(result, code, attempt, status, next_at, elapsed,
                   f"{redact_url(url)}: {message}")
