"""Answer here or forward to the owner: the one routing rule of every keyed view.

A job's row lives on the worker that owns its table partition. A view asks
`route()` where the key belongs; a request a peer already forwarded is always
answered here (the loop guard: two workers that disagree about ownership during
a rebalance must not bounce a request between them). `forward()` replays the
request with the forwarded headers and the original body.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import faust
from aiohttp import web as aioweb
from faust.types import TP
from faust.web import Request, Response

from pipeline import compat
from pipeline.errors import NotReady
from pipeline.partitioning import key_partition
from pipeline.settings import Settings

FORWARDED_HEADER = "X-Pipeline-Forwarded"
# The original client of a forwarded submit (believed only with FORWARDED_HEADER).
CLIENT_HEADER = "X-Pipeline-Client"
FORWARD_TIMEOUT_S = 15


class OwnerRouter:
    """Finds the worker owning a table key and forwards requests to it."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app, self.settings = app, settings

    def route(self, request: Request, table: Any, key: str) -> str | None:
        """The owner's base URL to forward to, or None to answer here."""
        owner = self.owner_url(table, key)
        if owner is None or self.was_forwarded(request):
            return None
        return owner

    def owner_url(self, table: Any, key: str) -> str | None:
        """Base URL of the worker owning `key` of `table`, or None when it is this worker."""
        app, settings = self.app, self.settings
        partition = key_partition(key, table.partitions or settings.topic_partitions)
        tp = TP(table.changelog_topic.get_topic_name(), partition)
        url = compat.owner_url_of(app.assignor, tp)
        if not url:  # no assignment yet (worker starting or rebalancing)
            raise NotReady("partition assignment in progress")
        url = str(url).rstrip("/")
        if url == str(app.conf.canonical_url).rstrip("/"):
            return None
        return url

    async def forward(self, request: Request, base_url: str, body: bytes | None = None,
                      client: str | None = None) -> Response:
        """Replay `request` on the owning worker and relay its JSON answer."""
        headers = {"Content-Type": "application/json", FORWARDED_HEADER: self._forward_token()}
        if client is not None:
            headers[CLIENT_HEADER] = client
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        if "X-Forwarded-For" in request.headers:
            headers["X-Forwarded-For"] = request.headers["X-Forwarded-For"]
        url = base_url + request.path_qs  # type: ignore[attr-defined]
        timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
        try:
            async with self.app.http_client.request(
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

    def forward_token(self) -> str:
        """The FORWARDED_HEADER value, for views that relay a stream from the owner."""
        return self._forward_token()

    def _forward_token(self) -> str:
        """Proof that a request was forwarded by a peer worker (shared cluster secret)."""
        secret = self.settings.cluster_secret_value()
        return hmac.new(secret.encode(), b"pipeline-forward", hashlib.sha256).hexdigest()

    def was_forwarded(self, request: Request) -> bool:
        given = request.headers.get(FORWARDED_HEADER, "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self._forward_token().encode())

