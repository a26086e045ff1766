"""Per-client-IP rate limit on submit endpoints (moving window, `limits` library)."""

from __future__ import annotations

import ipaddress
import math
import time

from faust.web import Request
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from pipeline.app import settings
from pipeline.errors import ConfigError, RateLimited
from pipeline.web.base import was_forwarded

try:
    _LIMIT = parse(settings.rate_limit)
except ValueError as exc:
    raise ConfigError(f"PIPELINE_RATE_LIMIT={settings.rate_limit!r} is not like '5/minute'") \
        from exc
_LIMITER = MovingWindowRateLimiter(MemoryStorage())
_TRUSTED = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]


def _trusted(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _TRUSTED)


def client_ip(request: Request) -> str:
    """The peer address; `X-Forwarded-For` only when the peer is a trusted proxy."""
    peer = request.remote or "unknown"  # type: ignore[attr-defined]
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _trusted(peer):
        return peer
    # Walk right to left past our own proxies: the first untrusted hop is the client.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _trusted(hop):
            return hop
    return peer


async def check_rate(request: Request) -> None:
    """Raise RateLimited (429 + Retry-After) when this client is over the limit.

    Requests forwarded by a peer worker were counted where they entered.
    """
    if was_forwarded(request):
        return
    ip = client_ip(request)
    if not await _LIMITER.hit(_LIMIT, "submit", ip):
        stats = await _LIMITER.get_window_stats(_LIMIT, "submit", ip)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(f"rate limit {settings.rate_limit} exceeded", retry_after=retry)
