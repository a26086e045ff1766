"""`callback_url` of a submit: checked like a playlist URL, and by the SSRF guard now.

The address is checked again at every delivery (DNS may change in between);
redirects are never followed (pipeline.webhooks, docs/events.md).
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import BadRequest
from pipeline.urls import validate_playlist_url
from pipeline.web.deps import WebDeps
from pipeline.web.preflight import refuse_private_target


async def checked_callback(body: dict[str, Any], deps: WebDeps) -> str:
    """The request's callback URL ("" when none); 400 when malformed, 422 url_refused
    for a scheme or address the guard refuses, 400 when no webhook secret is set."""
    value = body.get("callback_url")
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise BadRequest("`callback_url` must be a URL string")
    if not deps.settings.webhook_secrets():
        raise BadRequest("webhooks are not configured on this pipeline (PIPELINE_WEBHOOK_SECRET)")
    url = validate_playlist_url(value, deps.settings.max_url_length)
    await refuse_private_target(url, deps.policy)
    return url
