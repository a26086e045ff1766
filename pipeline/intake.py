"""Intake: turn a record from ANY producer into a keyed request or a dead letter.

Records on `playlist.parse.requests` and `media.uploads` may carry any key or
none and sit on any partition. The value alone decides: it is validated here,
the job id (normalised URL hash) or media id is derived from it, and the caller
re-keys the request onto the partition the tables need unless
:func:`in_place` says it is already there. A record that fails becomes a
:class:`Rejected` with a stable reason code and the original bytes.
Pure: no Faust, network or clock. Rules and codes: docs/events.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.errors import BadRequest, PipelineError, URLRefused
from pipeline.media import rules as media_rules
from pipeline.media.targets import Policy
from pipeline.partitioning import key_bytes, key_partition
from pipeline.urls import job_id_for, validate_playlist_url

if TYPE_CHECKING:
    from pipeline.settings import Settings

# Reason codes of a dead letter (a contract: operators filter and redrive by them).
EMPTY, NOT_JSON, NOT_OBJECT = "empty", "not_json", "not_object"
MISSING_FIELD, BAD_FIELD, UNKNOWN_FIELD = "missing_field", "bad_field", "unknown_field"
TOO_LARGE, REFUSED = "too_large", "refused"
REASONS = (EMPTY, NOT_JSON, NOT_OBJECT, MISSING_FIELD, BAD_FIELD, UNKNOWN_FIELD, TOO_LARGE,
           REFUSED)

# Faust writes this field into every record it serialises; it is ours, never unknown.
FAUST_META = "__faust"
PARSE_FIELDS = frozenset({"url", "force", "requested_at", "client", "request_id", "replay",
                          "callback_url", FAUST_META})
PARSE_REQUIRED = ("url",)
MEDIA_FIELDS = frozenset({"media_id", "bucket", "key", "size", "kind", "content_type",
                          "uploaded_at", "destination", "force", "replay", "callback_url",
                          FAUST_META})
MEDIA_REQUIRED = ("media_id", "key", "size", "kind")
# Short free-text fields (`client`, `request_id`): longer values are refused, not cut.
MAX_TEXT_CHARS = 200


@dataclass(frozen=True)
class RawRecord:
    """A record as the consumer saw it: bytes, not yet decoded."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class IntakeRules:
    """Limits and policy for intake (built from settings by :meth:`from_settings`).

    Up to `unknown_tolerance` unknown top-level fields are dropped (a newer
    producer may add fields); more than that is a dead letter (`unknown_field`).
    """

    partitions: int = 8
    max_bytes: int = 64 * 1024
    max_url_length: int = 4096
    unknown_tolerance: int = 8
    # A dead letter keeps at most this many bytes of the original value.
    keep_bytes: int = 256 * 1024
    default_bucket: str = "media"
    allowed_buckets: frozenset[str] = frozenset()
    default_destination: str = "null://"
    allowed_destinations: tuple[str, ...] = ()
    protected_buckets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeRules:
        return cls(
            partitions=settings.topic_partitions, max_bytes=settings.max_body_bytes,
            max_url_length=settings.max_url_length, default_bucket=settings.media_bucket,
            allowed_buckets=settings.allowed_source_buckets,
            default_destination=settings.default_destination,
            allowed_destinations=tuple(settings.prewarm_allowed_destinations),
            protected_buckets=tuple(Policy.from_settings(settings).protected_buckets))


@dataclass(frozen=True)
class Accepted:
    """A valid request: `key` is the job id or media id, `value` the canonical fields."""

    key: str
    value: dict[str, Any]
    key_state: str  # how the record was keyed: see key_state()
    ignored: tuple[str, ...] = ()  # unknown fields dropped (within the tolerance)


@dataclass(frozen=True)
class Rejected:
    """A record that goes to `<topic>.dlq`."""

    reason: str  # one of REASONS
    message: str
    record: RawRecord
    error_code: str = ""  # the PipelineError code behind it, when there is one
    extra: dict[str, Any] = field(default_factory=dict)

    def dead_letter(self, at: float, keep_bytes: int = IntakeRules.keep_bytes) -> dict[str, Any]:
        """The JSON document for the DLQ: where the record was, why, and its bytes."""
        rec = self.record
        return {"reason": self.reason, "message": self.message, "error_code": self.error_code,
                "topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
                "key": encode_bytes(rec.key, keep_bytes),
                "value": encode_bytes(rec.value, keep_bytes), "at": at, **self.extra}


def encode_bytes(raw: bytes | None, keep_bytes: int = IntakeRules.keep_bytes) -> dict | None:
    """Bytes as JSON: UTF-8 text when they are, else base64; cut at `keep_bytes`."""
    if raw is None:
        return None
    kept = raw[:keep_bytes]
    try:
        doc: dict[str, Any] = {"text": kept.decode("utf-8")}
    except UnicodeDecodeError:
        doc = {"base64": base64.b64encode(kept).decode("ascii")}
    if len(kept) < len(raw):
        doc.update(truncated=True, length=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    return doc


def decode_bytes(doc: Mapping[str, Any] | None) -> bytes | None:
    """The bytes :func:`encode_bytes` stored (the kept part when it was truncated)."""
    if doc is None:
        return None
    if "text" in doc:
        return str(doc["text"]).encode("utf-8")
    return base64.b64decode(str(doc.get("base64", "")))


def key_state(raw_key: bytes | None, key: str) -> str:
    """`absent`, `ours` (JSON string, as Faust and docs/events.md send it),
    `raw` (the id as plain bytes) or `other` (anything else: re-keyed)."""
    if raw_key is None or raw_key == b"":
        return "absent"
    if raw_key == key_bytes(key):
        return "ours"
    return "raw" if raw_key == key.encode() else "other"


def in_place(record: RawRecord, key: str, partitions: int) -> bool:
    """True when the record already has our key on the owning partition: no extra hop."""
    return record.key == key_bytes(key) and record.partition == key_partition(key, partitions)


class _Reject(Exception):
    def __init__(self, reason: str, message: str, error_code: str = "",
                 **extra: Any) -> None:
        super().__init__(message)
        self.reason, self.message, self.error_code, self.extra = reason, message, error_code, extra


def _load(record: RawRecord, rules: IntakeRules, known: frozenset[str],
          required: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The value as a JSON object with only known fields, and the unknown ones dropped."""
    raw = record.value
    if not raw:
        raise _Reject(EMPTY, "record has no value")
    if len(raw) > rules.max_bytes:
        raise _Reject(TOO_LARGE, f"value is {len(raw)} bytes; the limit is {rules.max_bytes}")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _Reject(NOT_JSON, "value is not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise _Reject(NOT_OBJECT, f"value is a JSON {type(body).__name__}, not an object")
    unknown = tuple(sorted(name for name in body if name not in known))
    if len(unknown) > rules.unknown_tolerance:
        raise _Reject(UNKNOWN_FIELD, f"{len(unknown)} unknown fields (at most "
                      f"{rules.unknown_tolerance} are ignored)", fields=list(unknown[:20]))
    for name in required:
        if body.get(name) is None:
            raise _Reject(MISSING_FIELD, f"`{name}` is required", field=name)
    return {k: v for k, v in body.items() if k in known and k != FAUST_META}, unknown


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"`{name}` must be true or false")
    return value


def _short_text(body: Mapping[str, Any], name: str, default: str) -> str:
    value = body.get(name) or default
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise BadRequest(f"`{name}` must be a string of at most {MAX_TEXT_CHARS} characters")
    return value


def _epoch(body: Mapping[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadRequest(f"`{name}` must be epoch seconds")
    return float(value)


def callback_url(body: Mapping[str, Any], rules: IntakeRules) -> str | None:
    """The optional webhook URL, checked like a playlist URL (addresses at delivery)."""
    value = body.get("callback_url")
    if value is None or value == "":
        return None
    return validate_playlist_url(value, rules.max_url_length)


def _parse_fields(record: RawRecord, body: dict[str, Any], rules: IntakeRules,
                  now: float) -> tuple[str, dict[str, Any]]:
    url = validate_playlist_url(body["url"], rules.max_url_length)
    request_id = _short_text(body, "request_id", f"{record.partition}:{record.offset}")
    return job_id_for(url), {
        "url": url, "force": _flag(body, "force"), "replay": _flag(body, "replay"),
        "requested_at": _epoch(body, "requested_at", now),
        "client": _short_text(body, "client", "kafka"), "request_id": request_id,
        "callback_url": callback_url(body, rules)}


def _media_fields(record: RawRecord, body: dict[str, Any], rules: IntakeRules,
                  now: float) -> tuple[str, dict[str, Any]]:
    fields = media_rules.validate_upload(body, default_bucket=rules.default_bucket, now=now,
                                        allowed_buckets=rules.allowed_buckets)
    if fields["destination"]:
        media_rules.check_destination(fields["destination"], default=rules.default_destination,
                                     allowed=rules.allowed_destinations,
                                     protected_buckets=rules.protected_buckets)
    fields["replay"] = _flag(body, "replay")
    fields["callback_url"] = callback_url(body, rules)
    return fields["media_id"], fields


Fields = Callable[[RawRecord, dict[str, Any], IntakeRules, float], tuple[str, dict[str, Any]]]


def _decode(record: RawRecord, rules: IntakeRules, now: float, known: frozenset[str],
            required: tuple[str, ...], fields: Fields) -> Accepted | Rejected:
    try:
        body, unknown = _load(record, rules, known, required)
        key, value = fields(record, body, rules, now)
    except _Reject as exc:
        return Rejected(exc.reason, exc.message, record, exc.error_code, exc.extra)
    except PipelineError as exc:
        # URLRefused: well-formed but against policy (scheme, bucket, destination).
        reason = REFUSED if isinstance(exc, URLRefused) else BAD_FIELD
        return Rejected(reason, exc.message, record, exc.code)
    except ValueError as exc:  # e.g. urlsplit() on "http://[::1" inside a validator
        return Rejected(BAD_FIELD, f"a field cannot be parsed: {exc}", record, "bad_request")
    return Accepted(key, value, key_state(record.key, key), unknown)


def decode_parse_request(record: RawRecord, rules: IntakeRules, now: float) -> Accepted | Rejected:
    """A `playlist.parse.requests` record: the job id and ParseRequest fields, or why not."""
    return _decode(record, rules, now, PARSE_FIELDS, PARSE_REQUIRED, _parse_fields)


def decode_media_upload(record: RawRecord, rules: IntakeRules, now: float) -> Accepted | Rejected:
    """A `media.uploads` record: the media id and upload fields, or why not."""
    return _decode(record, rules, now, MEDIA_FIELDS, MEDIA_REQUIRED, _media_fields)
