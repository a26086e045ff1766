"""The models as OpenAPI 3.0 schemas (`components.schemas` of `/openapi.json`)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from pipeline.api_models.answers import (
    Error,
    GroupList,
    Health,
    ItemAnswer,
    ItemPage,
    MediaAccepted,
    MediaJob,
    MediaQueue,
    ParseAccepted,
    PlaylistItem,
    PlaylistJob,
)
from pipeline.api_models.base import REF_TEMPLATE, ApiModel
from pipeline.api_models.submits import MediaUpload, ParseRequest
from pipeline.settings import Settings

Schema = dict[str, Any]


class OpenAPI30(GenerateJsonSchema):
    """JSON Schema as OpenAPI 3.0 reads it: `nullable` instead of a null type, no
    per-field titles."""

    def nullable_schema(self, schema: Any) -> Schema:
        inner = self.generate_inner(schema["schema"])
        if "$ref" in inner:  # 3.0 ignores keys beside a $ref
            return {"allOf": [inner], "nullable": True}
        return {**inner, "nullable": True}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: Any) -> Schema:
        out = super().default_schema(schema)
        if out.get("default", 0) is None and not out.get("nullable"):
            del out["default"]  # filled in at validation (e.g. `uploaded_at`: now)
        return out


REQUESTS: tuple[type[ApiModel], ...] = (ParseRequest, MediaUpload)
ANSWERS: tuple[type[ApiModel], ...] = (Error, ParseAccepted, PlaylistJob, PlaylistItem,
                                       MediaAccepted, MediaJob, MediaQueue, Health,
                                       GroupList, ItemPage, ItemAnswer)


def openapi_schemas(settings: Settings) -> dict[str, Schema]:
    """`components.schemas`: every model above (nested ones shared by reference),
    with the values that come from settings."""
    modes: list[tuple[type[ApiModel], JsonSchemaMode]] = [
        *((m, "validation") for m in REQUESTS), *((m, "serialization") for m in ANSWERS)]
    _, top = models_json_schema(modes, ref_template=REF_TEMPLATE, schema_generator=OpenAPI30)
    schemas: dict[str, Schema] = top["$defs"]
    schemas["ParseRequest"]["properties"]["url"]["maxLength"] = settings.max_url_length
    schemas["MediaUpload"]["properties"]["bucket"]["default"] = settings.media_bucket
    return schemas

