"""Base of the API models: limits, the model base class, validation with readable 400s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.encoding import require_utf8
from pipeline.errors import BadRequest

# --- limits: defined here only (media rules, intake and the API document use them)

# The largest S3 object; also keeps sizes inside the JSON/int64 range.
MAX_OBJECT_BYTES = 5 * 1024**4
MEDIA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@=+-]{0,199}$"  # ASCII: at most 200 bytes
BUCKET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
MAX_KEY_BYTES = 1024  # S3's limit, in UTF-8 bytes
MAX_CONTENT_TYPE_CHARS = 255
MAX_DESTINATION_CHARS = 2048
# `GET /api/media/queue?limit=`
DEFAULT_QUEUE_LIMIT = 20
MAX_QUEUE_LIMIT = 1000

REF_TEMPLATE = "#/components/schemas/{model}"  # where /openapi.json keeps them
M = TypeVar("M", bound="ApiModel")


class ApiModel(BaseModel):
    """Base of every body: unknown fields are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    # field -> the 400 message for any error in it (else pydantic's own, prefixed).
    error_messages: ClassVar[dict[str, str]] = {}


def validate(model: type[M], body: Mapping[str, Any], **context: Any) -> M:
    """`body` as `model`; BadRequest (400 `bad_request`) with a readable message.

    Text must be encodable UTF-8 first (lone surrogates are 400, not 500). Rules
    that raise a `PipelineError` themselves (the playlist URL: `invalid_url`,
    `url_refused`) keep their code: pydantic lets those through.
    """
    require_utf8(body)
    try:
        return model.model_validate(body, context=context)
    except ValidationError as exc:
        raise BadRequest(error_message(model, exc)) from None


def error_message(model: type[ApiModel], exc: ValidationError) -> str:
    """One line for the first error: which field, and what it must be."""
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    field = str(loc[0]) if loc else ""
    if error["type"] == "missing":
        return f"`{field}` is required"
    if error["type"] == "string_pattern_mismatch":
        return f"`{field}` has characters that are not allowed"
    if field in model.error_messages:
        return model.error_messages[field]
    where = ".".join(str(part) for part in loc)
    return f"`{where}`: {error['msg']}" if where else str(error["msg"])

