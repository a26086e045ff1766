"""`BaseClient`: the HTTP session, typed JSON calls, NDJSON streams and the job documents.

`AsyncClient` builds on it (`pipeline.client.events`, then `pipeline.client.aio`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, Self

import aiohttp

from pipeline.client.errors import Job, api_error, loads_or_empty, parse_retry_after
from pipeline.errors import NotReady
from pipeline.settings import Settings, get_settings

# Items stream in chunks of this size; lines are split client-side (no line-length cap).
ITEM_CHUNK_BYTES = 64 * 1024


class BaseClient:
    """One aiohttp session per client; close it (or `async with`)."""

    def __init__(self, base_url: str | None = None, *, token: str | None = None,
                 timeout_s: float = 30.0, settings: Settings | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        if base_url is None or token is None:
            settings = settings or get_settings()
            base_url = base_url or settings.api_base_url
            if token is None and settings.api_token is not None:
                token = settings.api_token.get_secret_value()
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (unless it was passed in); the client may open a new one."""
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._session = aiohttp.ClientSession(headers=headers, timeout=self.timeout)
            self._own_session = True
        return self._session

    async def _call(self, method: str, path: str,
                    body: dict[str, Any] | None = None) -> tuple[Any, float | None]:
        """(JSON answer, Retry-After seconds or None); errors raised typed."""
        try:
            async with self._http().request(method, self.base_url + path, json=body) as resp:
                raw = await resp.read()
                hint = parse_retry_after(resp.headers)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotReady(f"cannot reach the pipeline API at {self.base_url}: "
                           f"{exc or type(exc).__name__}") from exc
        doc = loads_or_empty(raw)
        if status >= 400:
            raise api_error(status, doc, hint)
        return doc, hint

    async def _ndjson(self, path: str,
                      what: str = "stream") -> AsyncGenerator[dict[str, Any], None]:
        """The NDJSON answer at `path`, one document a line; `NotReady` names `what` broke."""
        try:
            async with self._http().get(self.base_url + path, timeout=aiohttp.ClientTimeout(
                    total=None, sock_read=self.timeout.total)) as resp:
                if resp.status >= 400:
                    raise api_error(resp.status, loads_or_empty(await resp.read()),
                                    parse_retry_after(resp.headers))
                tail = b""
                async for chunk in resp.content.iter_chunked(ITEM_CHUNK_BYTES):
                    *lines, tail = (tail + chunk).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
                if tail.strip():
                    yield json.loads(tail)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotReady(f"{what} from {self.base_url} broke: "
                           f"{exc or type(exc).__name__}") from exc

    # --- the job documents (also read by `wait` / `wait_media`)

    async def status(self, job_id: str) -> Job:
        """The job document (URL redacted by the server); `NotFound` for an unknown job."""
        doc, _ = await self._call("GET", f"/api/playlist/jobs/{job_id}")
        return dict(doc)

    async def media_status(self, media_id: str) -> dict[str, Any]:
        """The media job document; `NotFound` for an unknown media id."""
        doc, _ = await self._call("GET", f"/api/media/{media_id}")
        return dict(doc)
