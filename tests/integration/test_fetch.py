"""pipeline.fetch against real HTTP servers on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from ipaddress import ip_address

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.errors import (
    FetchConnectionError,
    FetchError,
    FetchRefused,
    FetchTimeout,
    TooLarge,
    TooManyRedirects,
    UpstreamStatus,
)
from pipeline.fetch import FetchInfo, FetchLimits, fetch_stream, make_session
from pipeline.netguard import AddressPolicy, classify_ip

pytestmark = pytest.mark.integration

KIB = 1024
MIB = 1024 * KIB
BODY = bytes(range(256)) * (4 * KIB)  # 1 MiB, not compressible to nothing
LOOPBACK_OK = AddressPolicy(allowlist=["127.0.0.1"])
LIMITS = FetchLimits(
    max_bytes=4 * MIB,
    connect_timeout_s=2,
    read_timeout_s=2,
    total_timeout_s=10,
    max_redirects=5,
    user_agent="pipeline-test/1.0 (+fetch)",
    chunk_size=64 * KIB,
)


# --- the upstream server


async def _plain(_: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="audio/x-mpegurl")


async def _gzip(_: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(BODY), headers={"Content-Encoding": "gzip"})


async def _bomb(_: web.Request) -> web.Response:
    # 64 MiB of zeros in ~64 KiB of gzip.
    return web.Response(
        body=gzip.compress(bytes(64 * MIB), 9), headers={"Content-Encoding": "gzip"}
    )


async def _endless(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    block = b"#EXTINF:-1,x\nhttp://example.com/1.ts\n" * 1000
    while True:
        await resp.write(block)


async def _big_length(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": str(100 * MIB)})
    await resp.prepare(request)
    await resp.write(b"x" * KIB)
    await asyncio.sleep(5)
    return resp


async def _drip(request: web.Request) -> web.StreamResponse:
    pause = float(request.query.get("every", "1"))
    resp = web.StreamResponse()
    await resp.prepare(request)
    while True:
        await resp.write(b"x")
        await asyncio.sleep(pause)


async def _slow_headers(_: web.Request) -> web.Response:
    await asyncio.sleep(3)
    return web.Response(text="late")


async def _redirect(request: web.Request) -> web.Response:
    left = int(request.match_info["n"])
    target = "/plain" if left == 0 else f"/redirect/{left - 1}"
    raise web.HTTPFound(target)


async def _loop(_: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _to(request: web.Request) -> web.Response:
    target = request.query["url"].replace("PORT", str(request.url.port))
    raise web.HTTPTemporaryRedirect(target)


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="nope")


async def _ua(request: web.Request) -> web.Response:
    return web.Response(text=request.headers.get("User-Agent", ""))


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/plain", _plain)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/bomb", _bomb)
    app.router.add_get("/endless", _endless)
    app.router.add_get("/big-length", _big_length)
    app.router.add_get("/drip", _drip)
    app.router.add_get("/slow-headers", _slow_headers)
    app.router.add_get("/redirect/{n}", _redirect)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/to", _to)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/ua", _ua)
    return app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    srv = TestServer(_app(), host="127.0.0.1")
    await srv.start_server()
    try:
        yield srv
    finally:
        await srv.close()


def _url(server: TestServer, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.port}{path}"


async def _fetch(
    url: str,
    policy: AddressPolicy = LOOPBACK_OK,
    limits: FetchLimits = LIMITS,
    info: FetchInfo | None = None,
) -> tuple[bytes, list[int]]:
    """The body and the chunk sizes, through a fresh guarded session."""
    chunks: list[bytes] = []
    async with make_session(policy, limits) as session:
        async for chunk in fetch_stream(session, url, limits, policy, progress=info):
            chunks.append(chunk)
    return b"".join(chunks), [len(c) for c in chunks]


# --- positive cases


async def test_plain_body_streamed_in_chunks(server: TestServer) -> None:
    info = FetchInfo()
    body, sizes = await _fetch(_url(server, "/plain"), info=info)
    assert body == BODY
    assert len(sizes) >= len(BODY) // LIMITS.chunk_size
    assert max(sizes) <= LIMITS.chunk_size
    assert (info.status, info.bytes, info.content_length) == (200, len(BODY), len(BODY))
    assert info.content_type.startswith("audio/x-mpegurl")


async def test_gzip_body_is_decoded(server: TestServer) -> None:
    info = FetchInfo()
    body, _ = await _fetch(_url(server, "/gzip"), info=info)
    assert body == BODY
    assert info.bytes == len(BODY)


async def test_redirect_chain_of_three(server: TestServer) -> None:
    info = FetchInfo()
    body, _ = await _fetch(_url(server, "/redirect/2"), info=info)
    assert body == BODY
    assert info.redirects == 3
    assert info.url.endswith("/plain")


async def test_custom_user_agent_is_sent(server: TestServer) -> None:
    body, _ = await _fetch(_url(server, "/ua"))
    assert body.decode() == LIMITS.user_agent


async def test_numeric_ipv4_spelling_is_fetched_from_the_checked_address(
    server: TestServer,
) -> None:
    for host in ("2130706433", "0x7f.0.0.1", "127.1"):
        body, _ = await _fetch(_url(server, "/ua", host=host))
        assert body.decode() == LIMITS.user_agent


async def test_allowlisted_hostname_goes_through_the_resolver(server: TestServer) -> None:
    body, _ = await _fetch(
        _url(server, "/ua", host="localhost"), AddressPolicy(allowlist=["localhost"])
    )
    assert body.decode() == LIMITS.user_agent


async def test_consumer_may_stop_early(server: TestServer) -> None:
    async with make_session(LOOPBACK_OK, LIMITS) as session:
        stream = fetch_stream(session, _url(server, "/endless"), LIMITS, LOOPBACK_OK)
        first = await anext(stream)
        await stream.aclose()
    assert first.startswith(b"#EXTINF")


# --- size caps


async def test_gzip_bomb_cut_at_max_bytes(server: TestServer) -> None:
    info = FetchInfo()
    with pytest.raises(TooLarge):
        await _fetch(_url(server, "/bomb"), info=info)
    assert LIMITS.max_bytes < info.bytes <= LIMITS.max_bytes + LIMITS.chunk_size


async def test_endless_stream_cut_at_max_bytes(server: TestServer) -> None:
    info = FetchInfo()
    with pytest.raises(TooLarge) as caught:
        await _fetch(_url(server, "/endless"), info=info)
    assert info.bytes <= LIMITS.max_bytes + LIMITS.chunk_size
    assert caught.value.code == "too_large" and not caught.value.transient


async def test_content_length_over_cap_refused_before_reading(server: TestServer) -> None:
    info = FetchInfo()
    with pytest.raises(TooLarge, match="Content-Length"):
        await _fetch(_url(server, "/big-length"), info=info)
    assert info.bytes == 0


# --- timeouts


async def test_slow_drip_is_an_idle_timeout(server: TestServer) -> None:
    limits = replace(LIMITS, read_timeout_s=0.3)
    with pytest.raises(FetchTimeout, match="read timeout") as caught:
        await _fetch(_url(server, "/drip?every=1"), limits=limits)
    assert caught.value.transient


async def test_steady_drip_hits_the_total_timeout(server: TestServer) -> None:
    limits = replace(LIMITS, read_timeout_s=0.3, total_timeout_s=0.6)
    with pytest.raises(FetchTimeout, match="total time limit"):
        await _fetch(_url(server, "/drip?every=0.05"), limits=limits)


async def test_slow_headers_time_out(server: TestServer) -> None:
    limits = replace(LIMITS, read_timeout_s=0.3)
    with pytest.raises(FetchTimeout):
        await _fetch(_url(server, "/slow-headers"), limits=limits)


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full, so new connects hang (no SYN-ACK)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for sock in [*fillers, listener]:
            sock.close()


async def test_connect_timeout(blackhole: int) -> None:
    limits = replace(LIMITS, connect_timeout_s=0.3)
    with pytest.raises(FetchTimeout, match="connect"):
        await asyncio.wait_for(_fetch(f"http://127.0.0.1:{blackhole}/", limits=limits), 5)


# --- redirects


async def test_redirect_loop_is_too_many_redirects(server: TestServer) -> None:
    with pytest.raises(TooManyRedirects) as caught:
        await _fetch(_url(server, "/loop"))
    assert caught.value.code == "too_many_redirects"


async def test_redirect_cap_is_exact(server: TestServer) -> None:
    limits = replace(LIMITS, max_redirects=2)
    body, _ = await _fetch(_url(server, "/redirect/1"), limits=limits)  # 2 redirects
    assert body == BODY
    with pytest.raises(TooManyRedirects):
        await _fetch(_url(server, "/redirect/2"), limits=limits)  # 3 redirects


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("http://127.0.0.2:PORT/plain", "127.0.0.2 is loopback"),
        ("http://2130706434:PORT/plain", "127.0.0.2 is loopback"),
        ("http://localhost:PORT/plain", "loopback name"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:10.0.0.1]/", "IPv4-mapped"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://127.0.0.1/x", "scheme 'ftp'"),
    ],
)
async def test_redirect_to_refused_target(server: TestServer, target: str, words: str) -> None:
    url = _url(server, "/to?url=" + target.replace(":", "%3A").replace("/", "%2F"))
    with pytest.raises(FetchRefused, match=words) as caught:
        await _fetch(url)
    assert caught.value.code == "url_refused"


# --- refusals of the first URL


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "2130706433", "0177.0.0.1", "[::1]"])
async def test_loopback_refused_without_allowlist(server: TestServer, host: str) -> None:
    with pytest.raises(FetchRefused):
        await _fetch(_url(server, "/plain", host=host), AddressPolicy())


async def test_name_resolving_to_a_private_address_is_refused(server: TestServer) -> None:
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, server.port, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip("this machine's hostname does not resolve")
    if all(classify_ip(ip_address(str(i[4][0]).split("%")[0])) is None for i in infos):
        pytest.skip("this machine's hostname resolves to public addresses only")
    with pytest.raises(FetchRefused, match="resolves to a refused address"):
        await _fetch(_url(server, "/plain", host=name), AddressPolicy())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/"])
async def test_bad_scheme_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match="scheme"):
        await _fetch(url)


# --- upstream answers and connection failures


async def test_404_is_permanent(server: TestServer) -> None:
    with pytest.raises(UpstreamStatus) as caught:
        await _fetch(_url(server, "/status/404?username=joe&password=hunter2"))
    assert caught.value.status == 404 and not caught.value.transient
    assert "hunter2" not in str(caught.value) and "joe" not in caught.value.message


@pytest.mark.parametrize("code", [503, 500, 429])
async def test_5xx_and_429_are_transient(server: TestServer, code: int) -> None:
    with pytest.raises(UpstreamStatus) as caught:
        await _fetch(_url(server, f"/status/{code}"))
    assert caught.value.status == code and caught.value.transient


async def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed on exit: nothing listens there
    with pytest.raises(FetchConnectionError) as caught:
        await _fetch(f"http://127.0.0.1:{port}/get.php?password=hunter2")
    assert caught.value.transient
    assert "hunter2" not in caught.value.message


async def test_unknown_dns_name_is_a_connection_error() -> None:
    with pytest.raises(FetchConnectionError, match="DNS"):
        await _fetch("http://does-not-exist.invalid/list.m3u", AddressPolicy())


async def test_errors_carry_no_unredacted_url(server: TestServer) -> None:
    url = _url(server, "/live/joe/hunter2/drip?every=1&token=abc")
    with pytest.raises(FetchError) as caught:
        await _fetch(url, limits=replace(LIMITS, read_timeout_s=0.3))
    text = str(caught.value)
    assert "hunter2" not in text and "abc" not in text and "joe" not in text


async def test_session_itself_resolves_through_the_guard(server: TestServer) -> None:
    # Even a caller that skips fetch_stream cannot reach a refused address by name.
    async with make_session(AddressPolicy(), LIMITS) as session:
        with pytest.raises(FetchRefused, match="resolves to a refused address"):
            await session.get(_url(server, "/plain", host="localhost"))
