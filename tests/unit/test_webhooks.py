"""pipeline.webhooks: Standard Webhooks signatures, message ids, payloads, the schedule."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest

from pipeline.webhooks import (
    RetrySchedule,
    WebhookSignatureError,
    message_id,
    payload,
    secret_key,
    sign,
    signed_headers,
    verify,
)

# The published test vector of the Standard Webhooks specification.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_specification_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
               "webhook-signature": VECTOR_SIG}
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID


def test_secret_forms() -> None:
    assert secret_key("whsec_" + base64.b64encode(b"k3y").decode()) == b"k3y"
    assert secret_key("plain secret") == b"plain secret"
    assert secret_key(b"\x00raw") == b"\x00raw"
    for bad in ("", "whsec_not base64!"):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    headers = signed_headers(["old-secret", "new-secret"], "msg_1", 100, b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify("old-secret", headers, b"{}", now=100) == "msg_1"
    assert verify("new-secret", headers, b"{}", now=100) == "msg_1"


@pytest.mark.parametrize(("change", "body", "now", "why"), [
    ({}, b'{"test": 2432232315}', VECTOR_TS, "no matching signature"),
    ({"webhook-id": "msg_other"}, VECTOR_BODY, VECTOR_TS, "no matching signature"),
    ({"webhook-signature": "v1,AAAA"}, VECTOR_BODY, VECTOR_TS, "no matching signature"),
    ({"webhook-signature": ""}, VECTOR_BODY, VECTOR_TS, "missing"),
    ({"webhook-timestamp": "1614265330.5"}, VECTOR_BODY, VECTOR_TS, "integer"),
    ({}, VECTOR_BODY, VECTOR_TS + 301, "too far"),
    ({}, VECTOR_BODY, VECTOR_TS - 301, "too far"),
])
def test_verify_refuses(change: dict[str, str], body: bytes, now: float, why: str) -> None:
    headers = {"Webhook-Id": VECTOR_ID, "Webhook-Timestamp": str(VECTOR_TS),
               "Webhook-Signature": VECTOR_SIG}
    headers.update({k.title(): v for k, v in change.items()})
    with pytest.raises(WebhookSignatureError, match=why) as info:
        verify(VECTOR_SECRET, headers, body, now=now)
    assert info.value.code == "webhook_signature" and info.value.http_status == 401


def test_wrong_secret_is_refused() -> None:
    headers = signed_headers("right", "msg_1", 100, b"{}")
    with pytest.raises(WebhookSignatureError):
        verify("wrong", headers, b"{}", now=100)


def test_message_id_is_stable_per_run_outcome() -> None:
    one = message_id("playlist", "job1", "run1", "done")
    assert one == message_id("playlist", "job1", "run1", "done")
    assert one.startswith("msg_") and len(one) == 36
    others = {message_id("playlist", "job1", "run2", "done"),
              message_id("playlist", "job1", "run1", "failed"),
              message_id("media", "job1", "run1", "done")}
    assert one not in others and len(others) == 3


def test_payload_shape() -> None:
    doc = json.loads(payload("playlist.job.done", {"job_id": "j", "status": "done"}, 0.0))
    assert doc == {"type": "playlist.job.done", "timestamp": "1970-01-01T00:00:00Z",
                   "data": {"job_id": "j", "status": "done"}}


def test_schedule_grows_exponentially_with_full_jitter_under_a_cap() -> None:
    s = RetrySchedule(base_s=2, factor=2, cap_s=30, floor_s=0.5, max_total_s=1000)
    assert [s.delay_s(n, 0.999999) for n in (1, 2, 3, 4, 5, 6)] == pytest.approx(
        [2, 4, 8, 16, 30, 30], rel=1e-5)
    assert s.delay_s(3, 0.5) == 4.0
    assert s.delay_s(3, 0.0) == 0.5  # the floor
    assert s.delay_s(3, 7.0) == 8.0  # jitter is clamped to [0, 1]


def test_schedule_is_bounded_in_total_time() -> None:
    s = RetrySchedule(base_s=10, factor=2, cap_s=100, floor_s=1, max_total_s=60)
    assert s.next_at(1, first_at=0, now=5, jitter=1.0) == 15
    assert s.next_at(3, first_at=0, now=50, jitter=0.5) is None  # 50 + 20 > 60
    total, attempt, now = 0, 1, 0.0
    while (at := s.next_at(attempt, 0, now, 0.9)) is not None:
        now, attempt, total = at, attempt + 1, total + 1
    assert now <= 60 and total < 10


# --- docs/events.md: the receiver example and the sample request verify

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()


def _doc_block(lang: str, marker: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)
    return next(block for block in blocks if marker in block)


def _doc_request() -> tuple[dict[str, str], bytes]:
    head, _, body = _doc_block("http", "webhook-id").partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    return headers, body.strip().encode()


def test_docs_sample_request_is_signed_with_the_docs_secret() -> None:
    namespace: dict[str, object] = {}
    exec(_doc_block("python", "def verify_webhook"), namespace)
    secret = str(namespace["SECRET"])
    headers, body = _doc_request()
    stamp = int(headers["webhook-timestamp"])
    assert verify(secret, headers, body, now=stamp) == headers["webhook-id"]
    assert sign(secret, headers["webhook-id"], stamp, body) == headers["webhook-signature"]


def test_docs_receiver_example_accepts_ours_and_refuses_forgeries() -> None:
    namespace: dict[str, object] = {}
    exec(_doc_block("python", "def verify_webhook"), namespace)
    check = namespace["verify_webhook"]
    assert callable(check)
    secret = str(namespace["SECRET"])
    body = payload("playlist.job.done", {"job_id": "j", "status": "done"}, time.time())
    headers = signed_headers(["other-secret", secret], "msg_1", int(time.time()), body)
    assert check(headers, body) == "msg_1"
    for bad_body, bad_headers in [
        (body + b" ", headers),
        (body, {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}),
        (body, signed_headers("other-secret", "msg_1", int(time.time()), body)),
        (body, {k: v for k, v in headers.items() if k != "webhook-id"}),
    ]:
        with pytest.raises(ValueError):
            check(bad_headers, bad_body)
