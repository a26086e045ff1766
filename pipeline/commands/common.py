"""What every command shares: the API client, running a coroutine, exit codes, error lines."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pipeline.errors import PipelineError, RateLimited

if TYPE_CHECKING:  # imported when used: `pipeline --help` must not pay for aiohttp
    from pipeline.client import AsyncClient

T = TypeVar("T")

# Exit codes (also listed in `pipeline --help`).
EXIT_OK = 0
EXIT_JOB_FAILED = 1  # the job (or a step of reset-state) failed
EXIT_USAGE = 2  # bad arguments (click's own code)
EXIT_ERROR = 3  # the API or broker refused the request or could not be reached
EXIT_TIMEOUT = 4  # --wait gave up after --timeout

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the job failed (its error code is printed); 2 bad usage; "
    "3 the API or broker refused or could not be reached; 4 --wait timed out."
)


@dataclass
class CliState:
    """Options of the `pipeline` group that subcommands read."""

    api_url: str | None = None


def api_client(ctx: click.Context) -> AsyncClient:
    """An API client for `--api` (else PIPELINE_API_URL, else the local web port)."""
    from pipeline.client import AsyncClient

    state = ctx.find_object(CliState)
    return AsyncClient(state.api_url if state else None)


def error_line(exc: PipelineError) -> str:
    """`<code>: <message>`, with any credentials in the message masked."""
    from pipeline.urls import redact_text

    line = f"{exc.code}: {redact_text(exc.message)}"
    if isinstance(exc, RateLimited):
        line += f" (retry in {exc.retry_after} s)"
    return line


def quiet_kafka_logs() -> None:
    """aiokafka logs every failed connection attempt; the command reports the outcome."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def fail(exc: PipelineError, exit_code: int = EXIT_ERROR, prefix: str = "error") -> NoReturn:
    click.echo(f"{prefix}: {error_line(exc)}", err=True)
    sys.exit(exit_code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a pipeline error becomes one line on stderr and exit 3."""
    import asyncio

    try:
        return asyncio.run(coro)
    except PipelineError as exc:
        fail(exc)


def echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
