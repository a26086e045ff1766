"""Import every view module so the app registers its pages."""

from pipeline import broker  # noqa: F401
from pipeline.app import app, settings
from pipeline.web import health, media, openapi, playlist  # noqa: F401
from pipeline.web.limits import apply_server_limits

apply_server_limits(app.web, settings)
