"""`AsyncClient`: the pipeline's HTTP API from asyncio code (usage: `pipeline.client`).

The session and the typed calls are `BaseClient`'s (`pipeline.client.base`);
events, `wait()` and `poll()` are `EventClient`'s (`pipeline.client.events`).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlencode

from pipeline.client.errors import Job
from pipeline.client.events import EventClient


class AsyncClient(EventClient):
    """The HTTP API from asyncio code. One session per client; close it (or `async with`)."""

    # --- playlist jobs (`status`, `wait`, `poll`, `events`: the base classes)

    async def submit(self, url: str, force: bool = False,
                     callback_url: str | None = None) -> Job:
        """Queue a parse of `url`: `{"job_id", "status", "deduplicated", "position", ...}`.

        `callback_url` gets the signed outcome as a webhook (docs/events.md).
        """
        body: dict[str, Any] = {"url": url, "force": force}
        if callback_url:
            body["callback_url"] = callback_url
        doc, _ = await self._call("POST", "/api/playlist/parse", body)
        return dict(doc)

    def items(self, job_id: str) -> AsyncGenerator[dict[str, Any], None]:
        """The parsed items of a done job, streamed (gzip on the wire)."""
        return self._ndjson(f"/api/playlist/jobs/{job_id}/items", "items stream")

    # --- catalogue (issue 14): groups, pages, one item, changes

    async def groups(self, job_id: str) -> list[dict[str, Any]]:
        """The job's groups with their item counts by type (current run)."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}/groups")
        return list(doc["groups"])

    async def page(self, job_id: str, *, group: str | None = None, type: str | None = None,
                   q: str | None = None, limit: int | None = None,
                   cursor: str | None = None) -> dict[str, Any]:
        """One page ``{"items", "next", "run_id"}``; pass ``next`` as ``cursor`` to go on."""
        query = {k: str(v) for k, v in (("group", group), ("type", type), ("q", q),
                 ("limit", limit), ("cursor", cursor)) if v is not None}
        if not query:
            query["limit"] = "100"  # no parameter at all would mean the full NDJSON
        path = f"/api/playlist/jobs/{job_id}/items?" + urllib.parse.urlencode(query)
        doc, _ = await self._call("GET", path)
        return dict(doc)

    async def item(self, job_id: str, item_id: str) -> dict[str, Any]:
        """One item of the job's current run by its stable id."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}/items/"
                                  + urllib.parse.quote(item_id, safe=""))
        return dict(doc["item"])

    def diff(self, job_id: str, since_run: str | None = None,
             ) -> AsyncGenerator[dict[str, Any], None]:
        """The changes of the current run against the one before, streamed:
        ``{"change": "added" | "changed" | "removed", "id", "item"}``."""
        query = "?" + urllib.parse.urlencode({"since_run": since_run}) if since_run else ""
        return self._ndjson(f"/api/playlist/jobs/{job_id}/diff{query}")

    # --- media (`media_status`, `wait_media`, `media_events`: the base classes)

    async def publish_upload(self, media_id: str, bucket: str, key: str, *, size: int = 0,
                             kind: str = "other", content_type: str = "",
                             uploaded_at: float | None = None, destination: str | None = None,
                             force: bool = False,
                             callback_url: str | None = None) -> dict[str, Any]:
        """Announce a stored object for prewarm: `{"media_id", "status", "score"}`."""
        body = {"media_id": media_id, "bucket": bucket, "key": key, "size": size, "kind": kind,
                "content_type": content_type,
                "uploaded_at": time.time() if uploaded_at is None else uploaded_at,
                "destination": destination, "force": force}
        if callback_url:
            body["callback_url"] = callback_url
        doc, _ = await self._call("POST", "/api/media/uploads", body)
        return dict(doc)

    # --- cancel and dead letters

    async def cancel(self, job_id: str, *, media: bool = False) -> Job:
        """Cancel a playlist job (or a media job): the job document, status `cancelled`;
        `JobFinished` (409) when it already ended."""
        path = f"/api/media/{job_id}" if media else f"/api/playlist/jobs/{job_id}"
        doc, _ = await self._call("DELETE", path)
        return dict(doc)

    async def dead_letters(self, topic: str, **filters: Any) -> dict[str, Any]:
        """One page of `topic`'s dead letters (`playlist`, `media` or a topic name);
        filters: reason, since, until, key, limit, start."""
        query = urlencode({k: v for k, v in filters.items() if v is not None})
        doc, _ = await self._call("GET", f"/api/dlq/{topic}" + (f"?{query}" if query else ""))
        return dict(doc)

    async def redrive(self, topic: str, **filters: Any) -> dict[str, Any]:
        """Re-publish `topic`'s matching dead letters through the intake;
        filters: reason, since, until, key, dry_run."""
        body = {k: v for k, v in filters.items() if v is not None}
        doc, _ = await self._call("POST", f"/api/dlq/{topic}/redrive", body)
        return dict(doc)
