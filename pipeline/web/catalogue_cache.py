"""Per-worker cache of parsed catalogue indexes and the S3 client the views read with.

A run's objects never change, so an index parsed once serves every later
request for that run; the bound keeps a worker's memory small (an index is a
few hundred KB parsed at 850k items).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mode import Service

from pipeline import storage
from pipeline.catalogue import Catalogue, load_index, object_keys
from pipeline.s3probe import S3Probe
from pipeline.settings import Settings

# Parsed indexes kept per worker (most recently used first out last).
MAX_INDEXES = 16


class CatalogueCache(Service):
    """Parsed indexes, and the worker's long-lived S3 client for the views and the
    `/health` probe (closed when the worker stops)."""

    def __init__(self, settings: Settings, size: int = MAX_INDEXES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings, self.size = settings, size
        self._indexes: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        # Long-lived S3 clients by purpose: "reads" (catalogue ranges, the /health
        # probe) and "streams" (whole results, which hold a pooled connection for a
        # download's length and must not starve the short reads).
        self._clients = {purpose: storage.SharedClient(settings)
                         for purpose in ("reads", "streams")}
        self.s3_probe = S3Probe.head_bucket(self.client, settings.results_bucket,
                                            settings.s3_probe_ttl_s, settings.s3_probe_timeout_s)

    async def client(self, purpose: str = "reads") -> Any:
        """The worker's S3 client for ``purpose``, opened on first use and kept."""
        return await self._clients[purpose].get()

    async def on_stop(self) -> None:
        await self.s3_probe.close()
        for shared in self._clients.values():
            await shared.close()

    async def catalogue(self, job_id: str, run_id: str) -> Catalogue:
        """The run's catalogue (index cached); ObjectNotFound when its objects are gone."""
        s3, bucket = await self.client(), self.settings.results_bucket
        keys = object_keys(job_id, run_id)
        index = self._indexes.get((job_id, run_id))
        if index is None:
            index = load_index(await storage.get_bytes(s3, bucket, keys["index"]))
            self._indexes[job_id, run_id] = index
            while len(self._indexes) > self.size:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end((job_id, run_id))

        async def read_range(offset: int, length: int) -> bytes:
            return await storage.get_range(s3, bucket, keys["data"], offset, length)

        return Catalogue(index, read_range)
