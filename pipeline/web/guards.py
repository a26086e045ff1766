"""Request guards of the HTTP API: cross-site requests, content types, content coding.

Pure functions of headers and settings (no Faust imports), called from the views'
base class; see SECURITY.md "Cross-site requests".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pipeline.errors import Forbidden, JobFailed, UnsupportedMediaType

JSON_TYPE = "application/json"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"
CORS_MAX_AGE_S = "600"


def _norm(origin: str) -> str:
    # Scheme and host are case-insensitive; operators may write a trailing slash.
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed: Collection[str]) -> bool:
    return origin is not None and _norm(origin) in {_norm(a) for a in allowed}


def check_origin(headers: Mapping[str, str], allowed: Collection[str]) -> None:
    """403 for a request whose `Origin` is not an allowed origin.

    Browsers send `Origin` on cross-site requests (and on same-site POSTs); scripts
    and CLIs send none, so requests without it pass (the token still applies).
    """
    origin = headers.get("Origin")
    if origin is not None and not origin_allowed(origin, allowed):
        raise Forbidden("cross-origin request refused (PIPELINE_ALLOWED_ORIGINS)")


def require_json(content_type: str | None) -> None:
    """415 unless the body is declared `application/json` (a browser's "simple"
    cross-site POST can only be text/plain, form or multipart: no preflight)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime != JSON_TYPE:
        raise UnsupportedMediaType("request body must be Content-Type: application/json")


def cors_headers(headers: Mapping[str, str], allowed: Collection[str]) -> dict[str, str]:
    """CORS answer headers, only for an allowed origin (none otherwise)."""
    origin = headers.get("Origin")
    if origin is None or not origin_allowed(origin, allowed):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": CORS_MAX_AGE_S}


def _qvalue(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def accepted_codings(header: str | None) -> dict[str, float]:
    """`Accept-Encoding` as {coding: q}, lower-cased (RFC 9110 section 12.5.3)."""
    out: dict[str, float] = {}
    for item in (header or "").split(","):
        coding, *params = item.split(";")
        name = coding.strip().lower()
        if name:
            out[name] = _qvalue(params)
    return out


def accepts_gzip(header: str | None) -> bool:
    """True when the client accepts gzip: listed with q > 0, or covered by `*`."""
    codings = accepted_codings(header)
    for name in ("gzip", "x-gzip"):
        if name in codings:
            return codings[name] > 0
    return codings.get("*", 0.0) > 0


# Job statuses that will never have a result (a retry needs a new submit with force).
NO_RESULT = ("failed", "cancelled")


def refuse_finished_without_result(status: str, error: Any) -> None:
    """409 with the job's own error code for a failed or cancelled job's items (a 503
    with Retry-After would have clients poll forever)."""
    if status not in NO_RESULT:
        return
    err = error if isinstance(error, Mapping) else {}
    code = str(err.get("code") or ("cancelled" if status == "cancelled" else "job_failed"))
    message = str(err.get("message") or f"the job is {status}; it has no items")
    raise JobFailed(f"the job is {status}: {message}", job_code=code)
