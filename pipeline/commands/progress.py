"""The `parse --wait` display: one live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

import click

# A job in one of these has ended: the summary or the error says how.
FINAL = ("done", "failed", "cancelled")
# Plain-line mode prints a running job's progress at most this often.
PLAIN_EVERY_S = 2.0
MB = 1_000_000


def megabytes(nbytes: int) -> str:
    """`0.04 MB`, `3.25 MB`, `812.4 MB`: two decimals below 10 MB."""
    value = nbytes / MB
    return f"{value:.2f} MB" if value < 10 else f"{value:,.1f} MB"


def describe(job: dict[str, Any]) -> str:
    """One line for a job that is still going (or just ended)."""
    status = job.get("status", "?")
    if status == "queued":
        position = job.get("position")
        if position == 0:
            return "queued, starting"
        eta = job.get("eta_s")
        about = f", about {eta:.0f} s to done (estimate)" if isinstance(eta, int | float) else ""
        return "queued" + (f", position {position} in the queue" if position else "") + about
    if status == "running":
        progress = job.get("progress") or {}
        items, nbytes = progress.get("items", 0), progress.get("bytes", 0)
        return f"running: {items:,} items, {megabytes(nbytes)}"
    return str(status)


def summary(job: dict[str, Any]) -> str:
    """The closing line of a done job: counts by type, groups, duration."""
    result = job.get("result") or {}
    counts = result.get("counts") or {}
    by_type = ", ".join(f"{kind} {counts.get(kind, 0):,}" for kind in ("live", "movie", "series"))
    nbytes = (job.get("progress") or {}).get("bytes", 0)
    return (f"done: {result.get('items', 0):,} items ({by_type}), "
            f"{result.get('groups', 0):,} groups, {megabytes(nbytes)} "
            f"in {result.get('duration_s') or 0:.1f} s (run {job.get('runs', 0)})")


class ProgressDisplay:
    """`on_progress` callback for `AsyncClient.wait`."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or click.get_text_stream("stdout")
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self._last_line = ""
        self._last_state: tuple[Any, Any] | None = None
        self._last_at = float("-inf")
        self._live = False

    def seen(self, job: dict[str, Any]) -> None:
        """Note a state already shown elsewhere (the submit line) without printing it."""
        self._last_line = describe(job)
        self._last_state = (job.get("status"), job.get("position"))
        self._last_at = self.clock()

    def __call__(self, job: dict[str, Any]) -> None:
        if job.get("status") in FINAL:
            return  # the summary (or the error) says it
        line = describe(job)
        if self.tty:
            if line != self._last_line:
                self.stream.write("\r\x1b[K" + line)
                self.stream.flush()
                self._live = True
        elif self._due(job):
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last_line = line

    def _due(self, job: dict[str, Any]) -> bool:
        """Plain mode: print every status or queue-position change, progress every 2 s."""
        state = (job.get("status"), job.get("position"))
        now = self.clock()
        if state != self._last_state or now - self._last_at >= PLAIN_EVERY_S:
            due = describe(job) != self._last_line or state != self._last_state
            self._last_state = state
            if due:
                self._last_at = now
            return due
        return False

    def close(self) -> None:
        """End the live line so what follows starts on its own line."""
        if self._live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._live = False
