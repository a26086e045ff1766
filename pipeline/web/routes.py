"""Import every view module so the app registers its pages."""

from pipeline import broker  # noqa: F401
from pipeline.web import health, media, openapi, playlist  # noqa: F401
