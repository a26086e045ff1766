"""Request bodies: `POST /api/playlist/parse` and `POST /api/media/uploads` (also the
value of a `media.uploads` record, which the media rules check with the same model)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from pipeline.api_models.base import (
    BUCKET_PATTERN,
    MAX_CONTENT_TYPE_CHARS,
    MAX_DESTINATION_CHARS,
    MAX_KEY_BYTES,
    MAX_OBJECT_BYTES,
    MEDIA_ID_PATTERN,
    ApiModel,
)
from pipeline.records import MEDIA_KINDS as KINDS
from pipeline.urls import validate_playlist_url


def _max_bytes(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value.encode()) > limit:
            raise ValueError(f"longer than {limit} bytes")
        return value
    return AfterValidator(check)


def _one_of(choices: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")
        return value
    return AfterValidator(check)


def timestamp(value: Any, now: float) -> float:
    """Epoch seconds from a number or an ISO-8601 string; `now` when absent or 0."""
    if value is None or value == 0:
        return now
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    try:
        ok = not isinstance(value, bool) and isinstance(value, int | float) \
            and math.isfinite(value) and 0 <= value < 1e11
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise ValueError("not epoch seconds")
    return float(value)


def _uploaded_at(value: Any, info: ValidationInfo) -> float:
    return timestamp(value, (info.context or {})["now"])


MediaId = Annotated[StrictStr, StringConstraints(pattern=MEDIA_ID_PATTERN)]
Bucket = Annotated[StrictStr, StringConstraints(pattern=BUCKET_PATTERN)]
ObjectKey = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_KEY_BYTES),
                      _max_bytes(MAX_KEY_BYTES)]
Size = Annotated[StrictInt, Field(ge=0, le=MAX_OBJECT_BYTES, description="Bytes.")]
Kind = Annotated[StrictStr, _one_of(KINDS), WithJsonSchema({"type": "string",
                                                            "enum": list(KINDS)})]
# Absent, null and "" all mean "none" (`or`): the rules have always read them so.
ContentType = Annotated[StrictStr, BeforeValidator(lambda v: v or ""),
                        StringConstraints(max_length=MAX_CONTENT_TYPE_CHARS)]
Destination = Annotated[
    Annotated[StrictStr, StringConstraints(max_length=MAX_DESTINATION_CHARS)] | None,
    BeforeValidator(lambda v: v or None)]
UploadedAt = Annotated[float, BeforeValidator(_uploaded_at), WithJsonSchema({
    "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "format": "date-time"}],
    "description": "Epoch seconds or ISO-8601; default now."})]


class ParseRequest(ApiModel):
    """Body of `POST /api/playlist/parse`."""

    url: StrictStr = Field(
        min_length=1, description="http(s) playlist URL; credentials in it are never shown.",
        json_schema_extra={"example": "https://provider.example/get.php?username=u&password=p"
                                      "&type=m3u_plus"})
    force: StrictBool = Field(False, description="Parse again even when a fresh result exists.")
    # Read and checked by the view (`pipeline.web.callbacks`); here for the schema only.
    callback_url: StrictStr | None = Field(None, exclude=True, description=(
        "Webhook for the job's outcome (docs/events.md); needs PIPELINE_WEBHOOK_SECRET."))

    error_messages: ClassVar[dict[str, str]] = {"force": "`force` must be true or false"}

    @model_validator(mode="before")
    @classmethod
    def _url_rules(cls, data: Any, info: ValidationInfo) -> Any:
        # The URL rules have their own codes (invalid_url 400, url_refused 422).
        if isinstance(data, Mapping):
            max_length = (info.context or {})["max_url_length"]
            return {**data, "url": validate_playlist_url(data.get("url"), max_length)}
        return data


class MediaUpload(ApiModel):
    """Body of `POST /api/media/uploads`, and the value of a `media.uploads` record."""

    media_id: MediaId
    bucket: Bucket = Field("", description="Source bucket; default `PIPELINE_MEDIA_BUCKET`.")
    key: ObjectKey
    size: Size
    kind: Kind
    content_type: ContentType = ""
    uploaded_at: UploadedAt = Field(None, validate_default=True)
    destination: Destination = Field(None, description=(
        "Override: null://, s3://, http(s)://, file:// (allowed prefixes only)."))
    force: StrictBool = False
    # Read and checked by the view (`pipeline.web.callbacks`); here for the schema only.
    callback_url: StrictStr | None = Field(None, exclude=True, description=(
        "Webhook for the job's outcome (docs/events.md); needs PIPELINE_WEBHOOK_SECRET."))

    error_messages: ClassVar[dict[str, str]] = {
        "media_id": "`media_id` must be a non-empty string of at most 200 bytes",
        "bucket": "`bucket` must be a non-empty string of at most 255 bytes",
        "key": f"`key` must be a non-empty string of at most {MAX_KEY_BYTES} bytes",
        "size": "`size` must be a whole number of bytes, 0 to 5 TiB",
        "kind": f"`kind` must be one of {', '.join(KINDS)}",
        "content_type": "`content_type` must be a string of at most "
                        f"{MAX_CONTENT_TYPE_CHARS} characters",
        "uploaded_at": "`uploaded_at` must be epoch seconds or ISO-8601",
        "destination": f"`destination` must be a URL string of at most "
                       f"{MAX_DESTINATION_CHARS} characters",
        "force": "`force` must be true or false",
    }

    @model_validator(mode="before")
    @classmethod
    def _default_bucket(cls, data: Any, info: ValidationInfo) -> Any:
        # Absent means the operator's bucket; null or "" stay errors.
        if isinstance(data, Mapping) and "bucket" not in data:
            return {**data, "bucket": (info.context or {})["default_bucket"]}
        return data

