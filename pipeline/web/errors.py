"""The one place where errors become HTTP answers."""

from __future__ import annotations

from typing import Any

from pipeline.errors import NotReady, PipelineError, RateLimited
from pipeline.redaction import redact


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) for any exception raised by a view."""
    if isinstance(exc, PipelineError):
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimited | NotReady):
            headers["Retry-After"] = str(exc.retry_after)
        status = exc.http_status if exc.http_status >= 400 else 500
        return status, error_body(exc.code, redact(exc.message)), headers
    return 500, error_body("internal", "internal error"), {}
