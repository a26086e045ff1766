"""Import every view module so the app registers its pages."""

from pipeline import broker  # noqa: F401
from pipeline.web import health  # noqa: F401
from pipeline.web import playlist  # noqa: F401
