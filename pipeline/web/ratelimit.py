"""Per-client-IP rate limit on submit endpoints (moving window, `limits` library).

Only submits that start work count: a duplicate of a queued, running or fresh
job is answered by the owner without touching the limit, so a burst of
identical submits all get the job id. The count is kept by the worker that
owns the job (the entry worker passes the client on when it forwards).
"""

from __future__ import annotations

import ipaddress
import math
import time

from faust.web import Request
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from pipeline.errors import ConfigError, RateLimited
from pipeline.settings import Settings
from pipeline.web.routing import CLIENT_HEADER, OwnerRouter


class RateLimit:
    """One worker's submit counter per client, and who a request counts against."""

    def __init__(self, settings: Settings, router: OwnerRouter) -> None:
        try:
            self.limit = parse(settings.rate_limit)
        except ValueError as exc:
            raise ConfigError(
                f"PIPELINE_RATE_LIMIT={settings.rate_limit!r} is not like '5/minute'") from exc
        self.text = settings.rate_limit
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.router = router

    def _trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def client_ip(self, request: Request) -> str:
        """The peer address; `X-Forwarded-For` only when the peer is a trusted proxy."""
        peer = request.remote or "unknown"  # type: ignore[attr-defined]
        forwarded = request.headers.get("X-Forwarded-For", "")
        if not forwarded or not self._trusted(peer):
            return peer
        # Walk right to left past our own proxies: the first untrusted hop is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._trusted(hop):
                return hop
        return peer

    def submitter(self, request: Request) -> str:
        """The client a submit counts against (the original one when a peer forwarded it)."""
        if self.router.was_forwarded(request):
            return request.headers.get(CLIENT_HEADER) or self.client_ip(request)
        return self.client_ip(request)

    async def check(self, client: str) -> None:
        """Count one submit that starts work; RateLimited (429 + Retry-After) over the limit."""
        if not await self.limiter.hit(self.limit, "submit", client):
            stats = await self.limiter.get_window_stats(self.limit, "submit", client)
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(f"rate limit {self.text} exceeded", retry_after=retry)
