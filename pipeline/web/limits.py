"""Web server connection limits Faust does not expose as settings.

aiohttp keeps an idle connection for about an hour by default, and that timer is
also the only bound on a client that opens a connection and never finishes its
request headers. `PIPELINE_WEB_KEEPALIVE_TIMEOUT_S` caps both; the body read is
bounded by `PIPELINE_WEB_READ_TIMEOUT_S` where the body is read (`read_json`).
"""

from __future__ import annotations

from typing import Any


def apply_server_limits(web: Any, settings: Any) -> None:
    """Set the aiohttp server options before the web server starts."""
    runner = getattr(web, "_runner", None)
    kwargs = getattr(runner, "_kwargs", None)
    if isinstance(kwargs, dict):  # Faust's aiohttp driver; other drivers keep theirs
        kwargs["keepalive_timeout"] = settings.web_keepalive_timeout_s
