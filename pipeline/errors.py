"""Every error the pipeline raises on purpose, with a stable ``code``.

    PipelineError                      internal          500
    ├── BadRequest                     bad_request       400
    │   └── InvalidURL                 invalid_url       400
    ├── Unauthorized                   unauthorized      401
    ├── Forbidden                      forbidden         403
    ├── NotFound                       not_found         404
    ├── JobFailed                      (the job's code)  409
    ├── JobFinished                    job_finished      409
    ├── PayloadTooLarge                payload_too_large 413
    ├── UnsupportedMediaType           unsupported_media_type 415
    ├── URLRefused                     url_refused       422
    ├── RateLimited                    rate_limited      429
    ├── NotReady                       not_ready         503
    ├── JobError (a job failed; carried in job rows and result events)
    │   ├── NotAPlaylist               not_a_playlist
    │   ├── FetchError
    │   │   ├── FetchTimeout           fetch_timeout          (transient)
    │   │   ├── FetchConnectionError   fetch_connection       (transient)
    │   │   ├── UpstreamStatus         upstream_status        (transient for 5xx/429)
    │   │   ├── TooLarge               too_large
    │   │   ├── TooManyRedirects       too_many_redirects
    │   │   └── FetchRefused           url_refused
    │   ├── ParseCrashed               parse_crashed          (transient)
    │   ├── ParseMemoryExceeded        parse_memory_exceeded  (transient)
    │   ├── StorageError               storage_error          (transient)
    │   │   └── StorageRefused         storage_refused        (S3 refused the request)
    │   ├── ObjectNotFound             object_not_found
    │   └── DestinationError           destination_error      (transient unless 4xx)
    └── ConfigError                    config_error

`http_status` is used by the web layer (`pipeline.web.errors`); `transient`
tells the retry policy whether another attempt can help.
"""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Root of the pipeline's errors."""

    code: str = "internal"
    http_status: int = 500
    transient: bool = False

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used in API answers and job rows."""
        return {"code": self.code, "message": self.message}


class BadRequest(PipelineError):
    code, http_status = "bad_request", 400


class InvalidURL(BadRequest):
    code = "invalid_url"


class Unauthorized(PipelineError):
    code, http_status = "unauthorized", 401


class Forbidden(PipelineError):
    code, http_status = "forbidden", 403


class NotFound(PipelineError):
    code, http_status = "not_found", 404


class JobFailed(PipelineError):
    """A finished job has no result (failed or cancelled); the answer carries its code."""

    code, http_status = "job_failed", 409

    def __init__(self, message: str = "", job_code: str = "") -> None:
        super().__init__(message or "the job failed", job_code=job_code)
        if job_code:
            self.code = job_code


class JobFinished(PipelineError):
    """A cancel of a job that already ended (done or failed): nothing to stop."""

    code, http_status = "job_finished", 409


class UnsupportedMediaType(PipelineError):
    code, http_status = "unsupported_media_type", 415


class PayloadTooLarge(PipelineError):
    code, http_status = "payload_too_large", 413


class URLRefused(PipelineError):
    code, http_status = "url_refused", 422


class RateLimited(PipelineError):
    code, http_status = "rate_limited", 429

    def __init__(self, message: str = "", retry_after: int = 60) -> None:
        super().__init__(message or "too many requests", retry_after=retry_after)
        self.retry_after = retry_after


class NotReady(PipelineError):
    code, http_status = "not_ready", 503

    def __init__(self, message: str = "", retry_after: int = 5) -> None:
        super().__init__(message or "service not ready", retry_after=retry_after)
        self.retry_after = retry_after


class ConfigError(PipelineError):
    code = "config_error"


class JobError(PipelineError):
    """A job failed; the code lands in the job row and the result event."""

    code = "job_error"


class NotAPlaylist(JobError):
    code = "not_a_playlist"


class FetchError(JobError):
    code = "fetch_error"


class FetchTimeout(FetchError):
    code, transient = "fetch_timeout", True


class FetchConnectionError(FetchError):
    code, transient = "fetch_connection", True


class UpstreamStatus(FetchError):
    code = "upstream_status"

    def __init__(self, message: str = "", status: int = 0) -> None:
        super().__init__(message or f"upstream answered HTTP {status}", status=status)
        self.status = status
        self.transient = status >= 500 or status == 429


class TooLarge(FetchError):
    code = "too_large"


class TooManyRedirects(FetchError):
    code = "too_many_redirects"


class FetchRefused(FetchError):
    """The URL (or a redirect hop) points at a refused address or scheme."""

    code, http_status = "url_refused", 422


class ParseCrashed(JobError):
    code, transient = "parse_crashed", True


class ParseMemoryExceeded(JobError):
    code, transient = "parse_memory_exceeded", True


class StorageError(JobError):
    code, transient = "storage_error", True


class StorageRefused(StorageError):
    """S3 refused the request itself (bad bucket name, bad key, access denied):
    another attempt cannot help."""

    code, transient = "storage_refused", False


class ObjectNotFound(JobError):
    code, http_status = "object_not_found", 404


class DestinationError(JobError):
    code = "destination_error"

    def __init__(self, message: str = "", transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


_BY_CODE: dict[str, type[PipelineError]] = {}


def _index(cls: type[PipelineError]) -> None:
    for sub in cls.__subclasses__():
        _BY_CODE.setdefault(sub.code, sub)
        _index(sub)


_index(PipelineError)


def error_class(code: str) -> type[PipelineError]:
    """The class for a stable code (for clients rebuilding errors)."""
    return _BY_CODE.get(code, PipelineError)
