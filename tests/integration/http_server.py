"""A real HTTP server on 127.0.0.1 serving test files (threaded, stdlib)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_dir(root: Path) -> Iterator[str]:
    """Serve `root` over HTTP; yields the base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def synthetic_playlist(items: int, secret: str = "") -> bytes:
    """An m3u_plus playlist with `items` entries (live, movie and series mixed)."""
    cred = f"user/{secret}/" if secret else ""
    lines = ["#EXTM3U"]
    for i in range(items):
        kind = ("live", "movie", "series")[i % 3]
        name = f"Show {i} S01E{i % 20 + 1:02d}" if kind == "series" else f"Title {i}"
        lines.append(f'#EXTINF:-1 tvg-id="id{i}" tvg-name="{name}" group-title="G{i % 50}",{name}')
        lines.append(f"http://panel.example/{kind}/{cred}{i}.ts")
    return ("\n".join(lines) + "\n").encode()


class _Routes(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, dict[str, str], float]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        status, body, headers, drip_s = self.routes.get(path, (404, b"nope", {}, 0.0))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = 64 * 1024
        try:
            for start in range(0, len(body), step):
                self.wfile.write(body[start:start + step])
                if drip_s:
                    time.sleep(drip_s)
        except (BrokenPipeError, ConnectionResetError):
            pass


def full_speed(routes: dict[str, tuple[int, bytes, dict[str, str], float]]) -> None:
    """Serve every route of a running `serve_routes` without its drip from the next
    request on (a drip that only had to land a kill mid-download)."""
    for path, (code, body, headers, _drip) in list(routes.items()):
        routes[path] = (code, body, headers, 0.0)


@contextmanager
def serve_routes(routes: dict[str, tuple[int, bytes, dict[str, str], float]]) -> Iterator[str]:
    """Serve fixed answers: path -> (status, body, headers, seconds between 64 KiB chunks)."""
    handler = type("Handler", (_Routes,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_aiohttp(app: Any) -> Iterator[str]:
    """Run an aiohttp application on 127.0.0.1 in a thread of its own; yields the base URL."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
