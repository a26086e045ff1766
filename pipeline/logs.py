"""JSON logs, one event per line, for our events and Faust's.

Our events use a stable name as the message and fields as ``extra``::

    log.info("parse_end", extra={"job_id": job_id, "items": 12, "duration_s": 3.2})

Every line passes through a redaction filter, so a playlist URL with
credentials never reaches the log unredacted, whoever logged it.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# Attributes every LogRecord has; everything else is a field passed with `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactFilter(logging.Filter):
    """Redact credentials in the message, every extra field and tracebacks of every
    record, with the same function the API answers use (`pipeline.redaction.redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pipeline.redaction import redact, redact_text

        if record.args:
            try:
                record.msg = record.getMessage()
            except Exception:  # a bad format string must not kill logging
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str | dict | list | tuple):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class PipelineJsonFormatter(JsonFormatter):
    """`{"ts", "level", "logger", "event", ...fields}`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger",
                           "message": "event"},
            timestamp=False,
            json_ensure_ascii=False,
        )


def logging_config(fmt: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` document (also handed to Faust's worker)."""
    formatter = (
        {"()": "pipeline.logs.PipelineJsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "pipeline.logs.RedactFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "main": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "main",
                "filters": ["redact"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["main"]},
        "loggers": {
            # Faust and aiokafka are chatty at INFO about every rebalance step.
            "aiokafka": {"level": "WARNING"},
            "botocore": {"level": "WARNING"},
            "aiobotocore": {"level": "WARNING"},
        },
    }
