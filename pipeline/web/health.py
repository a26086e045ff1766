"""GET /health and GET /metrics."""

from __future__ import annotations

import time

import psutil
from aiohttp import web as aioweb
from faust.web import Request, Response

from pipeline.web.base import ApiView

_PROCESS = psutil.Process()


class Health(ApiView):
    """Liveness with real broker reachability and queue figures."""

    requires_auth = False

    async def get(self, request: Request) -> Response:
        deps = self.deps
        s3_ok = await deps.catalogues.s3_probe.check()
        serving = deps.probe.ok and s3_ok  # 503 when either is unreachable
        # A broker of a cluster down while the others serve: degraded, still serving.
        missing = deps.probe.brokers_missing if deps.probe.ok else 0
        body = {
            "status": "ok" if serving and not missing else "degraded",
            "s3": s3_ok,
            "uptime_s": round(time.monotonic() - deps.started, 1),
            "memory": {"rss_mb": round(_PROCESS.memory_info().rss / 2**20, 1)},
            "broker": deps.probe.ok,
            "brokers": {"live": deps.probe.brokers_live, "missing": missing},
            "queues": {"parse": {"waiting": 0, "active": 0},
                       "prewarm": {"waiting": 0, "active": 0}} | deps.queue_figures(),
        }
        return self.json(body, status=200 if serving else 503)


class MetricsView(ApiView):
    """Prometheus text format."""

    requires_auth = False

    async def get(self, request: Request) -> Response:
        metrics = self.deps.metrics
        metrics.up.set(1)
        return aioweb.Response(  # type: ignore[return-value]
            body=metrics.render(), content_type="text/plain", charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )
