"""A supervised child process: start, stream its output with a prefix, stop without orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from pipeline.deathsig import term_with_parent


@dataclass
class ChildSpec:
    """How to run one child of the stack."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    # Lines for which this returns False are not shown (e.g. known-harmless noise).
    line_filter: Callable[[str], bool] = lambda line: True
    stop_grace_s: float = 10.0


@dataclass
class Child:
    """A running child; `stop()` is idempotent and never leaves the process behind."""

    spec: ChildSpec
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    proc: subprocess.Popen[str] | None = None
    _pump: threading.Thread | None = None
    stopping: bool = False

    def start(self) -> None:
        self.stopping = False
        self.proc = subprocess.Popen(
            list(self.spec.argv),
            env=self.spec.env,
            cwd=self.spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            # Own process group: Ctrl-C reaches only the supervisor, which stops
            # children in order instead of them dying in a race.
            start_new_session=True,
            preexec_fn=term_with_parent if sys.platform.startswith("linux") else None,
        )
        self._pump = threading.Thread(target=self._stream, daemon=True, name=f"pump-{self.name}")
        self._pump.start()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def _stream(self) -> None:
        assert self.proc and self.proc.stdout
        prefix = f"{self.name:>7} | "
        for line in self.proc.stdout:
            if self.spec.line_filter(line):
                try:
                    self.out.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
                    self.out.flush()
                except ValueError:  # output closed during shutdown
                    return

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM the child's process group, wait, then SIGKILL what is left."""
        self.stopping = True
        proc = self.proc
        if proc is None:
            return
        grace = self.spec.stop_grace_s if grace_s is None else grace_s
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
        # The group may hold grandchildren (parse processes): make sure they go too.
        _signal_group(proc, signal.SIGKILL)
        if self._pump:
            self._pump.join(timeout=2)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str,
               child: Child | None = None, interval_s: float = 0.1) -> None:
    """Poll `predicate` until true; fail early if `child` exits, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if child is not None and not child.alive():
            raise RuntimeError(f"{what}: process exited with code {child.returncode()}")
        time.sleep(interval_s)
    raise TimeoutError(f"{what}: not ready after {timeout_s:.0f} s")
