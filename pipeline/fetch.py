"""Streaming HTTP downloads with SSRF, size, time and redirect limits.

:func:`fetch_stream` yields the decoded body in chunks. Every aiohttp failure
is translated into a :mod:`pipeline.errors` class in one place
(:func:`_translate`), and no message carries an unredacted URL.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from pipeline.errors import (
    FetchConnectionError,
    FetchError,
    FetchRefused,
    FetchTimeout,
    InvalidURL,
    PipelineError,
    TooLarge,
    TooManyRedirects,
    UpstreamStatus,
    URLRefused,
)
from pipeline.netguard import AddressPolicy, GuardedResolver
from pipeline.urls import parse_ip_literal, redact_text, redact_url, validate_playlist_url

if TYPE_CHECKING:
    from pipeline.settings import Settings

GIB = 1024**3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchLimits:
    """Caps for one download; timeouts in seconds, ``read`` is idle time between chunks."""

    max_bytes: int = GIB
    connect_timeout_s: float = 10
    read_timeout_s: float = 30
    total_timeout_s: float = 900
    max_redirects: int = 5
    user_agent: str = "pipeline/0.1 (+playlist parser)"
    chunk_size: int = 256 * 1024
    max_url_length: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        """Limits from the ``PIPELINE_FETCH_*`` settings."""
        return cls(
            max_bytes=settings.fetch_max_bytes,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            read_timeout_s=settings.fetch_read_timeout_s,
            total_timeout_s=settings.fetch_total_timeout_s,
            max_redirects=settings.fetch_max_redirects,
            user_agent=settings.fetch_user_agent,
            max_url_length=settings.max_url_length,
        )


@dataclass
class FetchInfo:
    """Live facts about one download, updated as it goes (pass one to fetch_stream)."""

    url: str = ""  # current hop, then the final URL; always redacted
    status: int = 0
    content_type: str = ""
    content_length: int | None = None
    bytes: int = 0  # decoded bytes yielded so far
    redirects: int = 0


class _Clock:
    """The total deadline of one download, plus per-step windows under it."""

    def __init__(self, total_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.deadline = self._loop.time() + total_s

    def window(self, idle_s: float | None = None) -> asyncio.Timeout:
        """A timeout ending at the deadline or after ``idle_s``, whichever is first."""
        when = self.deadline
        if idle_s is not None:
            when = min(when, self._loop.time() + idle_s)
        return asyncio.timeout_at(when)

    @property
    def expired(self) -> bool:
        return self._loop.time() >= self.deadline


def _is_dns_failure(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, socket.gaierror
    )


def _translate(exc: BaseException, stage: str, shown: str, clock: _Clock) -> PipelineError | None:
    """The pipeline error for an aiohttp/OS/timeout failure, or None to re-raise as is."""
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return FetchTimeout(f"connect timeout to {shown}")
    if isinstance(exc, TimeoutError):  # also aiohttp's Server/SocketTimeoutError
        if clock.expired:
            return FetchTimeout(f"total time limit passed while {stage} ({shown})")
        return FetchTimeout(f"no data within the read timeout while {stage} ({shown})")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # A bad certificate will not heal on retry: plain FetchError is not transient.
        return FetchError(f"TLS certificate of {shown} rejected: {redact_text(str(exc))}")
    if _is_dns_failure(exc):
        return FetchConnectionError(f"DNS lookup failed for {shown}")
    if isinstance(exc, aiohttp.InvalidURL):
        return FetchRefused(f"aiohttp refused the URL {shown}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        detail = redact_text(str(exc))
        return FetchConnectionError(f"body transfer from {shown} broke off: {detail}")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return FetchConnectionError(
            f"{stage} {shown} failed: {type(exc).__name__}: {redact_text(str(exc))}"
        )
    return None


@contextmanager
def _errors(stage: str, shown: str, clock: _Clock) -> Iterator[None]:
    """Translate what escapes the block (see :func:`_translate`)."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        mapped = _translate(exc, stage, shown, clock)
        if mapped is None:
            raise
        raise mapped from exc


def make_session(policy: AddressPolicy, limits: FetchLimits) -> aiohttp.ClientSession:
    """A session whose connector resolves through the SSRF guard.

    Call inside a running event loop; close it when done. Bodies are decoded
    (gzip/deflate); :func:`fetch_stream` caps the decoded size, and aiohttp
    decompresses in bounded steps, so a gzip bomb is cut at ``max_bytes``.
    """
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy))
    timeout = aiohttp.ClientTimeout(
        total=None,  # fetch_stream keeps its own deadline across the whole download
        connect=limits.connect_timeout_s,
        sock_connect=limits.connect_timeout_s,
        sock_read=limits.read_timeout_s,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": limits.user_agent},
        auto_decompress=True,
        trust_env=False,  # an environment proxy would bypass the resolver check
        cookie_jar=aiohttp.DummyCookieJar(),  # jobs of different users share a session
        read_bufsize=limits.chunk_size,
    )


def _first_target(url: str, limits: FetchLimits) -> URL:
    try:
        text = validate_playlist_url(url, limits.max_url_length)
        return URL(text)
    except URLRefused as exc:
        raise FetchRefused(exc.message) from None
    except ValueError as exc:
        raise InvalidURL(f"URL cannot be parsed: {exc}") from None


def _next_target(current: URL, location: str, limits: FetchLimits) -> URL:
    """The absolute URL a redirect points to, with the same checks as the first URL."""
    try:
        target = current.join(URL(location))
        validate_playlist_url(str(target), limits.max_url_length)
    except URLRefused as exc:
        raise FetchRefused(f"redirect refused: {exc.message}") from None
    except (InvalidURL, ValueError) as exc:
        raise FetchRefused(f"redirect to an invalid URL refused: {exc}") from None
    return target


def _guard(target: URL, policy: AddressPolicy) -> URL:
    """Check the host; literal IPs in odd spellings are rewritten to the checked address."""
    host = target.raw_host or ""
    policy.check_host(host)
    ip = parse_ip_literal(host)
    if ip is not None and ip.version == 4 and host != str(ip):
        return target.with_host(str(ip))
    return target


async def _open(
    session: aiohttp.ClientSession,
    url: str,
    limits: FetchLimits,
    policy: AddressPolicy,
    info: FetchInfo,
    clock: _Clock,
) -> aiohttp.ClientResponse:
    """Follow redirects by hand, checking every hop; return the 2xx response."""
    target = _first_target(url, limits)
    for _hop in range(limits.max_redirects + 1):
        target = _guard(target, policy)
        info.url = redact_url(str(target))
        with _errors("requesting", info.url, clock):
            async with clock.window():
                resp = await session.get(
                    target,
                    allow_redirects=False,
                    headers={"User-Agent": limits.user_agent},
                )
        info.status = resp.status
        location = resp.headers.get("Location")
        if resp.status in REDIRECT_STATUSES and location:
            resp.release()
            target = _next_target(target, location, limits)
            info.redirects += 1
            continue
        if not 200 <= resp.status < 300:
            resp.release()
            raise UpstreamStatus(f"{info.url} answered HTTP {resp.status}", status=resp.status)
        return resp
    raise TooManyRedirects(f"more than {limits.max_redirects} redirects (last: {info.url})")


def _too_large(limits: FetchLimits, info: FetchInfo, what: str) -> TooLarge:
    return TooLarge(f"{what} passes the {limits.max_bytes}-byte limit ({info.url})")


async def fetch_stream(
    session: aiohttp.ClientSession,
    url: str,
    limits: FetchLimits,
    policy: AddressPolicy,
    progress: FetchInfo | None = None,
) -> AsyncGenerator[bytes, None]:
    """Yield the decoded body of ``url`` in chunks of at most ``limits.chunk_size``.

    Raises FetchRefused (scheme or address, any hop), InvalidURL (malformed
    URL), TooManyRedirects, UpstreamStatus (non-2xx), FetchTimeout (connect,
    idle read, total), FetchConnectionError (refused, reset, DNS failure),
    TooLarge (Content-Length or decoded bytes over ``max_bytes``).
    ``progress``, if given, is updated as the download goes.
    """
    info = progress if progress is not None else FetchInfo()
    clock = _Clock(limits.total_timeout_s)
    resp = await _open(session, url, limits, policy, info, clock)
    try:
        info.content_type = resp.headers.get("Content-Type", "")
        info.content_length = resp.content_length
        if resp.content_length is not None and resp.content_length > limits.max_bytes:
            raise _too_large(limits, info, f"Content-Length {resp.content_length}")
        while True:
            with _errors("reading the body of", info.url, clock):
                async with clock.window(limits.read_timeout_s):
                    chunk = await resp.content.read(limits.chunk_size)
            if not chunk:
                return
            info.bytes += len(chunk)
            if info.bytes > limits.max_bytes:
                raise _too_large(limits, info, "body")
            yield chunk
    finally:
        # An unfinished body closes the connection instead of returning it to the pool.
        resp.release()
