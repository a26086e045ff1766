"""Bodies of the HTTP API as pydantic models: the one source for request validation
(the views, the media rules and the Kafka intake of uploads) and for the schemas of
`/openapi.json`. See docs/api-models.md.

Pure: no Faust, aiohttp or clock. Values that depend on settings or on the moment
(the default bucket, the URL length limit, `now`) come in as validation context.
"""

from __future__ import annotations

from pipeline.api_models.answers import (
    Error,
    Health,
    MediaAccepted,
    MediaJob,
    MediaQueue,
    ParseAccepted,
    PlaylistItem,
    PlaylistJob,
    error_codes,
)
from pipeline.api_models.base import (
    BUCKET_PATTERN,
    DEFAULT_QUEUE_LIMIT,
    MAX_CONTENT_TYPE_CHARS,
    MAX_DESTINATION_CHARS,
    MAX_KEY_BYTES,
    MAX_OBJECT_BYTES,
    MAX_QUEUE_LIMIT,
    MEDIA_ID_PATTERN,
    ApiModel,
    validate,
)
from pipeline.api_models.schemas import openapi_schemas
from pipeline.api_models.submits import MediaUpload, ParseRequest

__all__ = [
    "BUCKET_PATTERN", "DEFAULT_QUEUE_LIMIT", "MAX_CONTENT_TYPE_CHARS", "MAX_DESTINATION_CHARS",
    "MAX_KEY_BYTES", "MAX_OBJECT_BYTES", "MAX_QUEUE_LIMIT", "MEDIA_ID_PATTERN", "ApiModel",
    "Error", "Health", "MediaAccepted", "MediaJob", "MediaQueue", "MediaUpload",
    "ParseAccepted", "ParseRequest", "PlaylistItem", "PlaylistJob", "error_codes",
    "openapi_schemas", "validate",
]
