"""Worker side of a parse run: spawn the child, relay progress, enforce the memory cap."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from pipeline.errors import ParseCrashed, ParseMemoryExceeded
from pipeline.parse_job import ParseSpec, child_main

# How often the child's memory and liveness are checked.
WATCH_EVERY_S = 0.25
_CTX = multiprocessing.get_context("spawn")


@dataclass
class Outcome:
    ok: bool
    fields: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float = 0.0

    @property
    def error(self) -> dict[str, Any]:
        return {k: self.fields[k] for k in ("code", "message") if k in self.fields}

    @property
    def transient(self) -> bool:
        return bool(self.fields.get("transient"))


ProgressFn = Callable[[int, int], None]


async def run_in_child(spec: ParseSpec, on_progress: ProgressFn, max_rss_mb: int) -> Outcome:
    """Run one parse in a fresh child process; cancelling this kills the child."""
    loop = asyncio.get_running_loop()
    reader, writer = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=child_main, args=(spec, writer), daemon=True,
                        name=f"parse-{spec.job_id[:8]}")
    proc.start()
    writer.close()
    messages: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            messages.put_nowait(reader.recv())
        except (EOFError, OSError):
            loop.remove_reader(reader.fileno())
            messages.put_nowait(("eof",))

    loop.add_reader(reader.fileno(), readable)
    peak = 0.0
    try:
        ps = psutil.Process(proc.pid)
        while True:
            try:
                msg = await asyncio.wait_for(messages.get(), timeout=WATCH_EVERY_S)
            except TimeoutError:
                msg = None
            peak = max(peak, _rss_mb(ps))
            if peak > max_rss_mb:
                proc.kill()
                err = ParseMemoryExceeded(f"parse process passed {max_rss_mb} MB RSS")
                return Outcome(False, {**err.to_dict(), "transient": True}, peak)
            if msg is None:
                continue
            if msg[0] == "progress":
                on_progress(msg[1], msg[2])
            elif msg[0] in ("done", "failed"):
                return Outcome(msg[0] == "done", msg[1], peak)
            else:  # pipe closed without an outcome: the child died
                await loop.run_in_executor(None, proc.join, 5)
                crash = ParseCrashed(f"parse process exited with code {proc.exitcode}")
                return Outcome(False, {**crash.to_dict(), "transient": True}, peak)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(reader.fileno())
        reader.close()
        if proc.is_alive():
            proc.kill()
        await loop.run_in_executor(None, proc.join, 5)


def _rss_mb(ps: psutil.Process) -> float:
    try:
        return float(ps.memory_info().rss) / 2**20
    except psutil.Error:
        return 0.0
