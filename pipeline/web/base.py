"""Base view: JSON errors, bearer-token auth, body limits, routing to the owning worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web as aioweb
from faust.types import TP
from faust.web import Request, Response, View

from pipeline.app import app, metrics, settings
from pipeline.encoding import require_utf8
from pipeline.errors import BadRequest, NotReady, PayloadTooLarge, PipelineError, Unauthorized
from pipeline.partitioning import key_partition
from pipeline.web import guards
from pipeline.web.errors import error_answer

log = logging.getLogger("pipeline.web")

FORWARDED_HEADER = "X-Pipeline-Forwarded"
# The original client of a forwarded submit (believed only with FORWARDED_HEADER).
CLIENT_HEADER = "X-Pipeline-Client"


class ApiView(View):
    """Every API view: errors mapped in one place, auth checked before the handler."""

    requires_auth = True

    async def dispatch(self, request: Any) -> Any:
        route = type(self).__name__
        try:
            guards.check_origin(request.headers, settings.allowed_origins)
            if self.requires_auth and request.method != "OPTIONS":
                check_auth(request)
            response = await super().dispatch(request)
        except PipelineError as exc:
            response = self.error_response(exc)
        except Exception as exc:  # never a bare 500 page: log and answer JSON
            log.exception("http_error", extra={"route": route})
            response = self.error_response(exc)
        if not response.prepared:  # a streamed answer set its headers itself
            response.headers.update(guards.cors_headers(request.headers,
                                                        settings.allowed_origins))
        metrics.http_requests.labels(route=route, status=str(response.status)).inc()
        return response

    async def options(self, request: Request, **kwargs: Any) -> Response:
        """CORS preflight: 204 (the allowed origin's headers are added by `dispatch`)."""
        return aioweb.Response(status=204)  # type: ignore[return-value]

    def error_response(self, exc: Exception) -> Response:
        status, body, headers = error_answer(exc)
        return self.json(body, status=status, headers=headers)


# Producing to a broker that stopped answering must not hang a submit.
SEND_TIMEOUT_S = 5.0


def require_broker() -> None:
    """503 + Retry-After while the broker is unreachable (submits would only hang)."""
    from pipeline.broker import probe

    if not probe.ok:
        raise NotReady("the broker is unreachable; retry shortly", retry_after=5)


async def send_or_503(topic: Any, key: str, value: Any) -> None:
    """Produce one event and wait until the broker has it (nothing answered
    "accepted" is lost); 503 instead of hanging when the broker stalls."""

    async def send_durably() -> None:
        delivered = await topic.send(key=key, value=value)
        await delivered

    try:
        await asyncio.wait_for(send_durably(), SEND_TIMEOUT_S)
    except (TimeoutError, ConnectionError) as exc:
        raise NotReady("the broker did not accept the request; retry", retry_after=5) \
            from exc


def check_auth(request: Request) -> None:
    """Require `Authorization: Bearer <PIPELINE_API_TOKEN>` when a token is set."""
    if settings.api_token is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.api_token.get_secret_value()
    given = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected.encode()):
        raise Unauthorized("missing or invalid bearer token")


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, capped at `PIPELINE_MAX_BODY_BYTES`."""
    guards.require_json(request.headers.get("Content-Type"))
    declared = request.content_length  # type: ignore[attr-defined]
    if declared is not None and declared > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    try:
        raw = await asyncio.wait_for(request.content.read(  # type: ignore[attr-defined]
            settings.max_body_bytes + 1), settings.web_read_timeout_s)
    except TimeoutError:
        raise BadRequest("request body not received in time") from None
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    require_utf8(body)
    return body


def owner_url(table_name: str, key: str) -> str | None:
    """Base URL of the worker owning `key`, or None when it is this worker."""
    # Computed here rather than by `app.router.key_store`, which fails until this
    # worker's producer has metadata for the changelog topic.
    table = app.tables[table_name]
    partition = key_partition(key, table.partitions or settings.topic_partitions)
    tp = TP(table.changelog_topic.get_topic_name(), partition)
    url = app.assignor._tps_url.get(tp)  # type: ignore[attr-defined]
    if not url:  # no assignment yet (worker starting or rebalancing)
        raise NotReady("partition assignment in progress")
    url = str(url).rstrip("/")
    if url == str(app.conf.canonical_url).rstrip("/"):
        return None
    return url


async def forward(request: Request, base_url: str, body: bytes | None = None,
                  client: str | None = None) -> Response:
    """Replay `request` on the owning worker and relay its JSON answer."""
    headers = {"Content-Type": "application/json", FORWARDED_HEADER: _forward_token()}
    if client is not None:
        headers[CLIENT_HEADER] = client
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    if "X-Forwarded-For" in request.headers:
        headers["X-Forwarded-For"] = request.headers["X-Forwarded-For"]
    url = base_url + request.path_qs  # type: ignore[attr-defined]
    timeout = aiohttp.ClientTimeout(total=15)
    try:
        async with app.http_client.request(
            request.method, url, data=body, headers=headers, timeout=timeout
        ) as resp:
            payload = await resp.read()
            out_headers = {k: v for k, v in resp.headers.items() if k in ("Retry-After",)}
            return aioweb.Response(  # type: ignore[return-value]
                body=payload, status=resp.status, content_type="application/json",
                headers=out_headers,
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NotReady("owning worker unreachable; retry") from exc


def _forward_token() -> str:
    """Proof that a request was forwarded by a peer worker (shared cluster secret)."""
    secret = settings.cluster_secret_value()
    return hmac.new(secret.encode(), b"pipeline-forward", hashlib.sha256).hexdigest()


def was_forwarded(request: Request) -> bool:
    given = request.headers.get(FORWARDED_HEADER, "").encode("utf-8", "replace")
    return hmac.compare_digest(given, _forward_token().encode())
