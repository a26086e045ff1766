"""Worker side of parse runs: a pool of parse processes, progress relay, memory cap.

At most `parse_concurrency` processes exist; each runs one parse at a time and is
reused for the next. A process that crashes, passes `parse_max_rss_mb`, or whose
run is cancelled is killed and replaced, so a bad parse takes down only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import psutil

from pipeline.errors import ParseCrashed, ParseMemoryExceeded
from pipeline.parse_job import ParseSpec, child_loop

# How often a running child's memory and liveness are checked.
WATCH_EVERY_S = 0.25
# A pooled process whose RSS stays above this share of the cap after a job is replaced.
RECYCLE_SHARE = 0.6
_CTX = multiprocessing.get_context("spawn")


@dataclass
class Outcome:
    ok: bool
    fields: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    base_rss_mb: float = 0.0  # the process's RSS when the run started

    @property
    def rss_delta_mb(self) -> float:
        """How much the run grew its process (peak minus RSS at start)."""
        return max(0.0, self.peak_rss_mb - self.base_rss_mb)

    @property
    def error(self) -> dict[str, Any]:
        return {k: self.fields[k] for k in ("code", "message") if k in self.fields}

    @property
    def transient(self) -> bool:
        return bool(self.fields.get("transient"))


ProgressFn = Callable[[int, int], None]


@dataclass
class _Proc:
    process: BaseProcess
    conn: Connection

    @classmethod
    def spawn(cls) -> _Proc:
        parent, child = _CTX.Pipe(duplex=True)
        process = _CTX.Process(target=child_loop, args=(child,), daemon=True, name="parse")
        process.start()
        child.close()
        return cls(process, parent)

    def rss_mb(self) -> float:
        try:
            return float(psutil.Process(self.process.pid).memory_info().rss) / 2**20
        except (psutil.Error, ValueError):
            return 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


class ParsePool:
    """Idle parse processes kept for reuse (the caller bounds concurrency)."""

    def __init__(self, max_rss_mb: int) -> None:
        self.max_rss_mb = max_rss_mb
        self.idle: list[_Proc] = []

    def _take(self) -> _Proc:
        while self.idle:
            proc = self.idle.pop()
            if proc.process.is_alive():
                return proc
            proc.kill()
        return _Proc.spawn()

    def _give_back(self, proc: _Proc) -> None:
        if proc.process.is_alive() and proc.rss_mb() < self.max_rss_mb * RECYCLE_SHARE:
            self.idle.append(proc)
        else:
            proc.kill()

    async def run(self, spec: ParseSpec, on_progress: ProgressFn) -> Outcome:
        """Run one parse in a pooled process; cancelling this kills that process."""
        proc = self._take()
        reusable = False
        try:
            proc.conn.send(spec)
            outcome = await _watch(proc, on_progress, self.max_rss_mb)
            reusable = outcome.fields.get("code") not in ("parse_crashed",
                                                           "parse_memory_exceeded")
            return outcome
        finally:
            if reusable:
                self._give_back(proc)
            else:
                proc.kill()
                await asyncio.get_running_loop().run_in_executor(None, proc.process.join, 5)


async def _watch(proc: _Proc, on_progress: ProgressFn, max_rss_mb: int) -> Outcome:
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[Any] = asyncio.Queue()
    fd = proc.conn.fileno()

    def readable() -> None:
        try:
            messages.put_nowait(proc.conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(fd)
            messages.put_nowait(("eof",))

    loop.add_reader(fd, readable)
    peak = base = 0.0
    try:
        while True:
            try:
                msg = await asyncio.wait_for(messages.get(), timeout=WATCH_EVERY_S)
            except TimeoutError:
                msg = None
            peak = max(peak, proc.rss_mb())
            if peak > max_rss_mb:
                err = ParseMemoryExceeded(f"parse process passed {max_rss_mb} MB RSS")
                return Outcome(False, {**err.to_dict(), "transient": True}, peak, base)
            if msg is None:
                if not proc.process.is_alive():
                    msg = ("eof",)
                else:
                    continue
            if msg[0] == "start":
                base = msg[1]
            elif msg[0] == "progress":
                on_progress(msg[1], msg[2])
            elif msg[0] in ("done", "failed"):
                return Outcome(msg[0] == "done", msg[1], peak, base)
            else:  # pipe closed without an outcome: the process died
                await loop.run_in_executor(None, proc.process.join, 5)
                crash = ParseCrashed(f"parse process exited with code {proc.process.exitcode}")
                return Outcome(False, {**crash.to_dict(), "transient": True}, peak, base)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
