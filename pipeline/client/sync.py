"""`Client`: the blocking twin of `AsyncClient`, its methods run on a private event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from pipeline import sse
from pipeline.client.aio import AsyncClient
from pipeline.client.errors import Job, ProgressCallback

T = TypeVar("T")


class Client:
    """Blocking client: the `AsyncClient` methods on a private event loop.

    Not for use inside a running event loop (use `AsyncClient` there).
    """

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._api = AsyncClient(base_url, **kwargs)
        self.base_url = self._api.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session, then the private event loop."""
        self._run(self._api.close())
        self._runner.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def submit(self, url: str, force: bool = False, callback_url: str | None = None) -> Job:
        """See `AsyncClient.submit`."""
        return self._run(self._api.submit(url, force, callback_url))

    def status(self, job_id: str) -> Job:
        """See `AsyncClient.status`."""
        return self._run(self._api.status(job_id))

    def wait(self, job_id: str, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> Job:
        """See `AsyncClient.wait`."""
        return self._run(self._api.wait(job_id, on_progress, timeout))

    def wait_media(self, media_id: str, on_progress: ProgressCallback | None = None,
                   timeout: float | None = None) -> Job:
        """See `AsyncClient.wait_media`."""
        return self._run(self._api.wait_media(media_id, on_progress, timeout))

    def poll(self, job_id: str, on_progress: ProgressCallback | None = None,
             timeout: float | None = None) -> Job:
        """See `AsyncClient.poll`."""
        return self._run(self._api.poll(job_id, on_progress, timeout))

    def items(self, job_id: str) -> Iterator[dict[str, Any]]:
        """See `AsyncClient.items`; a generator (close it to stop early)."""
        return self._iterate(self._api.items(job_id))

    # --- catalogue (issue 14)

    def groups(self, job_id: str) -> list[dict[str, Any]]:
        """See `AsyncClient.groups`."""
        return self._run(self._api.groups(job_id))

    def page(self, job_id: str, **query: Any) -> dict[str, Any]:
        """See `AsyncClient.page`."""
        return self._run(self._api.page(job_id, **query))

    def item(self, job_id: str, item_id: str) -> dict[str, Any]:
        """See `AsyncClient.item`."""
        return self._run(self._api.item(job_id, item_id))

    def diff(self, job_id: str, since_run: str | None = None) -> Iterator[dict[str, Any]]:
        """See `AsyncClient.diff`; a generator (close it to stop early)."""
        return self._iterate(self._api.diff(job_id, since_run))

    def events(self, job_id: str, last_event_id: str | None = None) -> Iterator[sse.Event]:
        """See `AsyncClient.events`; a generator (close it to stop early)."""
        return self._iterate(self._api.events(job_id, last_event_id))

    def media_events(self, media_id: str,
                     last_event_id: str | None = None) -> Iterator[sse.Event]:
        """See `AsyncClient.media_events`."""
        return self._iterate(self._api.media_events(media_id, last_event_id))

    def _iterate(self, stream: AsyncGenerator[T, None]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            self._run(stream.aclose())

    def publish_upload(self, media_id: str, bucket: str, key: str, **kwargs: Any) -> dict:
        """See `AsyncClient.publish_upload`."""
        return self._run(self._api.publish_upload(media_id, bucket, key, **kwargs))

    def media_status(self, media_id: str) -> dict[str, Any]:
        """See `AsyncClient.media_status`."""
        return self._run(self._api.media_status(media_id))

    def cancel(self, job_id: str, *, media: bool = False) -> Job:
        """See `AsyncClient.cancel`."""
        return self._run(self._api.cancel(job_id, media=media))

    def dead_letters(self, topic: str, **filters: Any) -> dict[str, Any]:
        """See `AsyncClient.dead_letters`."""
        return self._run(self._api.dead_letters(topic, **filters))

    def redrive(self, topic: str, **filters: Any) -> dict[str, Any]:
        """See `AsyncClient.redrive`."""
        return self._run(self._api.redrive(topic, **filters))


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)
