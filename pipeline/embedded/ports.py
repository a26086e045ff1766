"""Port checks for the embedded stack."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import psutil

from pipeline.errors import ConfigError

# Ports handed out below the kernel's ephemeral range: a port picked there stays free
# until its server binds it. In the ephemeral range, any outgoing connection (or a
# port-0 bind elsewhere) may take it meanwhile, and the server then fails with
# "address in use" while a readiness probe connects to whatever took it.
_LOWEST_PORT = 15000
_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _bind_error(port: int, reuse: bool = False) -> OSError | None:
    """Why 127.0.0.1:`port` cannot be bound now; None when it can. With `reuse`,
    a port held only by closed connections (TIME_WAIT) counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc
    return None


def free_port() -> int:
    """An unused TCP port on 127.0.0.1, below the ephemeral range where the OS
    has one (else any port the OS picks)."""
    top = _ephemeral_start()
    if top - _LOWEST_PORT >= 1000:
        for _ in range(100):
            port = random.randrange(_LOWEST_PORT, top)
            if _bind_error(port) is None:
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listening(pid: int | None, port: int) -> bool:
    """True when process `pid` itself listens on `port`: a readiness check that a
    server which failed to bind cannot pass because something else holds the port."""
    if pid is None:
        return False
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.AccessDenied:  # a platform that hides sockets: the weaker check
        return port_open(port)
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
               for c in conns)  # fmt: skip


def ensure_free(port: int, setting: str) -> None:
    """Raise a clear error naming the setting to change when `port` is taken."""
    exc = _bind_error(port, reuse=True)
    if exc is not None:
        raise ConfigError(f"port {port} is already in use ({exc.strerror}); "
                          f"stop what uses it or set {setting} to a free port") from exc
