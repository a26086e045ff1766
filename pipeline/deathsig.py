"""Child processes that must not outlive their parent (Linux ``PR_SET_PDEATHSIG``)."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies, even by
    SIGKILL (a no-op where there is no ``prctl``)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, sig)
    except OSError:
        pass


def term_with_parent() -> None:  # pragma: no cover - runs in the child
    """``die_with_parent(SIGTERM)``: a ``preexec_fn`` for children that stop cleanly."""
    die_with_parent(signal.SIGTERM)
