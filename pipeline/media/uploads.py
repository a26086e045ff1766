"""An upload event from an API body, checked against settings.

Records read from `media.uploads` are decoded by `pipeline.intake`, which
uses the same rules (`pipeline.media.rules`).
"""

from __future__ import annotations

from typing import Any

from pipeline.media import rules as media_rules
from pipeline.media.targets import Policy
from pipeline.settings import Settings


def checked_upload(body: dict[str, Any], now: float, settings: Settings) -> dict[str, Any]:
    """The upload event's fields; 400 for bad fields, 422 for a refused source or
    destination."""
    fields = media_rules.validate_upload(body, default_bucket=settings.media_bucket, now=now,
                                         allowed_buckets=settings.allowed_source_buckets)
    if fields["destination"]:
        policy = Policy.from_settings(settings)
        media_rules.check_destination(fields["destination"], default=policy.default,
                                      allowed=policy.allowed,
                                      protected_buckets=policy.protected_buckets)
    return fields

