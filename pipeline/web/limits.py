"""Web server connection limits Faust does not expose as settings.

aiohttp keeps an idle connection for about an hour by default, and that timer is
also the only bound on a client that opens a connection and never finishes its
request headers. `PIPELINE_WEB_KEEPALIVE_TIMEOUT_S` caps both; the body read is
bounded by `PIPELINE_WEB_READ_TIMEOUT_S` where the body is read (`read_json`).
"""

from __future__ import annotations

from typing import Any

from pipeline import compat


def apply_server_limits(web: Any, settings: Any) -> None:
    """Set the aiohttp server options before the web server starts."""
    compat.set_web_server_option(web, "keepalive_timeout", settings.web_keepalive_timeout_s)
