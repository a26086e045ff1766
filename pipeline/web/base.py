"""Base view: JSON errors, bearer-token auth, body limits (routing: `pipeline.web.routing`)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, ClassVar

from faust.web import Request, Response, View

from pipeline.broker import BrokerProbe
from pipeline.errors import BadRequest, NotReady, PayloadTooLarge, PipelineError, Unauthorized
from pipeline.settings import Settings
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
            if self.requires_auth:
                check_auth(request, self.deps.settings)
            response = await super().dispatch(request)
        except PipelineError as exc:
            response = self.error_response(exc)
        except Exception as exc:  # never a bare 500 page: log and answer JSON
            log.exception("http_error", extra={"route": route})
            response = self.error_response(exc)
        self.deps.metrics.http_requests.labels(route=route, status=str(response.status)).inc()
        return response

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
        await delivered

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
    declared = request.content_length  # type: ignore[attr-defined]
    if declared is not None and declared > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    raw = await request.content.read(settings.max_body_bytes + 1)  # type: ignore[attr-defined]
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body over {settings.max_body_bytes} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: deep nesting
        raise BadRequest("body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
