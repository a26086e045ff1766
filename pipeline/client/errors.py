"""The client's typed errors: error answers, failed jobs, and the `Retry-After` hint.

A non-2xx answer becomes the `pipeline.errors` class of its `error.code`
(:func:`api_error`); a job that ended `failed` or `cancelled` becomes its
error (:func:`job_error`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipeline.errors import (
    BadRequest,
    NotFound,
    NotReady,
    PayloadTooLarge,
    PipelineError,
    RateLimited,
    Unauthorized,
    URLRefused,
    error_class,
)

Job = dict[str, Any]
ProgressCallback = Callable[[Job], None]

_BY_STATUS: dict[int, type[PipelineError]] = {
    400: BadRequest, 401: Unauthorized, 404: NotFound, 413: PayloadTooLarge,
    422: URLRefused, 429: RateLimited, 503: NotReady,
}


def api_error(status: int, body: Any, retry_after: float | None = None) -> PipelineError:
    """The typed error for an error answer `{"error": {"code", "message"}}`."""
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "")
    message = str(err.get("message") or f"HTTP {status}")
    cls = error_class(code) if code else _BY_STATUS.get(status, PipelineError)
    exc = cls(message)
    exc.code = code or exc.code  # keep the server's code even when this client lacks it
    exc.http_status = status
    if retry_after is not None and isinstance(exc, RateLimited | NotReady):
        exc.retry_after = max(0, round(retry_after))
    return exc


class EventsUnavailable(PipelineError):
    """The server refused the event stream (no such route, or nothing listening)."""

    code, http_status = "events_unavailable", 501


def job_error(job: Job) -> PipelineError:
    """The typed error of a failed or cancelled job; the document rides in `details["job"]`."""
    err = job.get("error") or {}
    code = str(err.get("code") or ("cancelled" if job.get("status") == "cancelled"
                                   else "job_error"))
    exc = error_class(code)(str(err.get("message") or code))
    exc.code = code
    exc.details["job"] = job
    return exc


def outcome(job: Job) -> Job:
    """`job` when it is not `failed` / `cancelled`; else its error, raised."""
    if job.get("status") in ("failed", "cancelled"):
        raise job_error(job)
    return job


def parse_retry_after(headers: Any) -> float | None:
    """An answer's `Retry-After` in seconds, or None (absent or not a number)."""
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:  # the HTTP-date form is not used by this API
        return None


def loads_or_empty(raw: bytes) -> Any:
    """The JSON document of an answer body; `{}` for an empty or non-JSON body."""
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}
