"""Base view: JSON errors, bearer-token auth, body limits (routing: `pipeline.web.routing`)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, ClassVar

from aiohttp import web as aioweb
from faust.web import Request, Response, View

from pipeline.broker import BrokerProbe
from pipeline.encoding import require_utf8
from pipeline.errors import BadRequest, NotReady, PayloadTooLarge, PipelineError, Unauthorized
from pipeline.settings import Settings
from pipeline.web import guards
from pipeline.web.deps import WebDeps
from pipeline.web.errors import error_answer

log = logging.getLogger("pipeline.web")


class ApiView(View):
    """Every API view: errors mapped in one place, auth checked before the handler."""

    requires_auth = True
    # Set on the subclass that `pipeline.web.routes.register_views` registers.
    deps: ClassVar[WebDeps]

    async def dispatch(self, request: Any) -> Any:
        route = type(self).__name__
        try:
            settings = self.deps.settings
            guards.check_origin(request.headers, settings.allowed_origins)
            if self.requires_auth and request.method != "OPTIONS":
                check_auth(request, settings)
            response = await super().dispatch(request)
        except PipelineError as exc:
            response = self.error_response(exc)
        except Exception as exc:  # never a bare 500 page: log and answer JSON
            log.exception("http_error", extra={"route": route})
            response = self.error_response(exc)
        if not response.prepared:  # a streamed answer set its headers itself
            response.headers.update(guards.cors_headers(request.headers,
                                                        self.deps.settings.allowed_origins))
        self.deps.metrics.http_requests.labels(route=route, status=str(response.status)).inc()
        return response

    async def options(self, request: Request, **kwargs: Any) -> Response:
        """CORS preflight: 204 (the allowed origin's headers are added by `dispatch`)."""
        return aioweb.Response(status=204)  # type: ignore[return-value]

    def error_response(self, exc: Exception) -> Response:
        status, body, headers = error_answer(exc)
        return self.json(body, status=status, headers=headers)


# Producing to a broker that stopped answering must not hang a submit.
SEND_TIMEOUT_S = 5.0


def require_broker(probe: BrokerProbe) -> None:
    """503 + Retry-After while the broker is unreachable (submits would only hang)."""
    if not probe.ok:
        raise NotReady("the broker is unreachable; retry shortly", retry_after=5)


async def send_or_503(topic: Any, key: str, value: Any) -> None:
    """Produce one event and wait until the broker has it (nothing answered
    "accepted" is lost); 503 instead of hanging when the broker stalls."""

    async def send_durably() -> None:
        delivered = await topic.send(key=key, value=value)
        # Shielded: a timeout answers 503 but leaves the producer's future running (it
        # may still be delivered; the retry is deduplicated). Cancelled, Faust's publish
        # callback died on the CancelledError with an asyncio ERROR traceback per submit
        # during a broker failover (docs/production-engine.md).
        await asyncio.shield(delivered)

    try:
        await asyncio.wait_for(send_durably(), SEND_TIMEOUT_S)
    except (TimeoutError, ConnectionError) as exc:
        raise NotReady("the broker did not accept the request; retry", retry_after=5) \
            from exc


def check_auth(request: Request, settings: Settings) -> None:
    """Require `Authorization: Bearer <PIPELINE_API_TOKEN>` when a token is set."""
    if settings.api_token is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.api_token.get_secret_value()
    given = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected.encode()):
        raise Unauthorized("missing or invalid bearer token")


async def read_json(request: Request, settings: Settings) -> dict[str, Any]:
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
