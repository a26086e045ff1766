"""Submit-time SSRF check: refuse a private target with 422 before queueing.

The fetch re-checks every address and redirect hop at download time; this
check only gives the client an immediate, clear answer.
"""

from __future__ import annotations

import asyncio
import socket

from yarl import URL

from pipeline.errors import FetchRefused, URLRefused
from pipeline.netguard import AddressPolicy
from pipeline.urls import parse_ip_literal

DNS_TIMEOUT_S = 2.0


async def refuse_private_target(url: str, policy: AddressPolicy) -> None:
    """Raise URLRefused when the URL's host is (or resolves to) a refused address."""
    host = URL(url).host or ""
    if policy.host_allowed(host):
        return
    try:
        policy.check_host(host)  # IP literals, localhost and metadata names
        if parse_ip_literal(host) is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), DNS_TIMEOUT_S)
        except (OSError, TimeoutError):
            return  # DNS trouble now is not a refusal; the fetch will report it
        for info in infos:
            ip = parse_ip_literal(str(info[4][0]))
            if ip is not None:
                policy.check_ip(ip)
    except FetchRefused as exc:
        raise URLRefused(exc.message) from exc
