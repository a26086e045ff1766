"""Ports for the embedded stack: picked outside the ephemeral range, readiness by owner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from pipeline.embedded.ports import _ephemeral_start, free_port, listening


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    top = _ephemeral_start()
    ports = [free_port() for _ in range(20)]
    if top:
        assert all(port < top for port in ports), (top, ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_listening_names_the_process_that_holds_the_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        port = server.getsockname()[1]
        assert listening(os.getpid(), port)
        # A process that does not hold the port (a server that failed to bind it)
        # is not ready, although the port accepts connections.
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not listening(other.pid, port)
        finally:
            other.kill()
            other.wait()
    assert not listening(os.getpid(), port)
    assert not listening(None, port)
