"""The one typed settings object, read from ``PIPELINE_*`` environment variables.

This is the only module that reads the environment. Build it once at start
with :func:`get_settings` and pass it (or the values it holds) down.
"""

from __future__ import annotations

import json
import socket
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GIB = 1024**3

CommaList = Annotated[list[str], NoDecode]


class ScoreWeights(BaseModel):
    """Prewarm priority weights (`PIPELINE_SCORE__<NAME>`); see `pipeline.media.score`."""

    base: float = 100
    size_lt_100k: float = 50
    size_lt_1m: float = 30
    size_lt_5m: float = 10
    size_gt_20m: float = -20
    photo: float = 20
    video: float = -10
    age_lt_1min: float = 15
    age_gt_10min: float = -5


class Settings(BaseSettings):
    """Every knob of the pipeline. Field ``foo`` is ``PIPELINE_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix="PIPELINE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    # --- broker and topics
    broker: str = "embedded"
    app_id: str = "pipeline"
    topic_partitions: int = Field(8, ge=1)
    # Replicas of every topic and changelog the worker creates (3 on a production cluster).
    topic_replication_factor: int = Field(1, ge=1)
    topic_parse_requests: str = "playlist.parse.requests"
    topic_parse_results: str = "playlist.parse.results"
    topic_catalogue_changes: str = "playlist.catalogue.changes"
    topic_media_uploads: str = "media.uploads"
    topic_prewarm_results: str = "media.prewarm.results"

    # --- object storage
    s3_endpoint: str = ""
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "auto"
    s3_max_pool: int = Field(50, ge=1)
    s3_connect_timeout_s: float = 10
    s3_read_timeout_s: float = 60
    results_bucket: str = "pipeline-results"
    media_bucket: str = "media"
    broker_bucket: str = "pipeline-broker"

    # --- web server and API
    web_port: int = 6066
    web_bind: str = "127.0.0.1"
    web_host: str = ""
    api_token: SecretStr | None = None
    cluster_secret: SecretStr | None = None
    rate_limit: str = "5/minute"
    trusted_proxies: CommaList = []
    max_body_bytes: int = 64 * 1024
    max_url_length: int = 4096
    # Base URL the `pipeline` CLI and Python client talk to (default: this host's web port).
    api_url: str = ""
    # Browser origins (`scheme://host[:port]`) allowed to call the API; others get 403.
    allowed_origins: CommaList = []
    # Web server: idle keep-alive connections are closed after this; a client must
    # send a request's headers and body within the read timeout.
    web_keepalive_timeout_s: float = Field(15, gt=0)
    web_read_timeout_s: float = Field(30, gt=0)
    # /health's S3 probe: answer cached this long, each probe capped at the timeout.
    s3_probe_ttl_s: float = Field(5, ge=0)
    s3_probe_timeout_s: float = Field(2, gt=0)

    # --- embedded stack
    # Which broker `pipeline up` starts when PIPELINE_BROKER is `embedded`: Tansu (log in
    # memory, Python only) or Apache Kafka (log on disk under the data dir; needs java, mvn).
    embedded_engine: Literal["tansu", "kafka"] = Field(
        "tansu", validation_alias=AliasChoices("PIPELINE_EMBEDDED_BROKER",
                                               "PIPELINE_EMBEDDED_ENGINE"))
    embedded_broker_port: int = 9092
    embedded_s3_port: int = 8333
    # Tansu holds each consumer fetch for the whole wait even when data is there.
    embedded_fetch_wait_ms: int = Field(100, ge=10, le=1500)
    data_dir: Path = Path(".data")

    # --- outbound fetches
    url_allowlist: CommaList = []
    allow_private_urls: bool = False
    fetch_max_bytes: int = GIB
    fetch_connect_timeout_s: float = 10
    fetch_read_timeout_s: float = 30
    fetch_total_timeout_s: float = 900
    fetch_max_redirects: int = 5
    fetch_user_agent: str = "pipeline/0.1 (+playlist parser)"

    # --- playlist parsing
    parse_concurrency: int = Field(2, ge=1)
    parse_max_rss_mb: int = 300
    parse_max_attempts: int = Field(3, ge=1)
    parse_retry_base_s: float = 2.0
    result_ttl_s: int = 21600
    # Runs whose objects (result, catalogue, diff) are kept per job: the current
    # one and the one before it, which the next diff compares against.
    result_keep_runs: int = Field(2, ge=1)

    # --- media prewarm
    prewarm_concurrency: int = Field(5, ge=1)
    prewarm_destination: str = ""
    prewarm_http_method: Literal["PUT", "POST"] = "PUT"
    prewarm_http_headers: dict[str, str] = {}
    prewarm_max_attempts: int = Field(5, ge=1)
    prewarm_retry_base_s: float = 1.0
    prewarm_cache_ttl_s: float = 300
    prewarm_cache_max_items: int = 50
    prewarm_cache_max_bytes: int = 2 * GIB
    # Prefixes a per-event `destination` may use besides null:// and the default's origin;
    # the only way to allow s3:// (each entry `s3://bucket/prefix`, never a pipeline bucket).
    prewarm_allowed_destinations: CommaList = []
    # Buckets an upload event may name as its source besides `media_bucket`: the
    # pipeline's own buckets hold parse results (playlist credentials) and must
    # not be copied out to a destination.
    media_source_buckets: CommaList = []
    score: ScoreWeights = ScoreWeights()

    # --- pushes: server-sent events and webhooks (docs/events.md)
    # Open event streams one client may hold on one worker (more: 429).
    sse_max_streams_per_client: int = Field(20, ge=1)
    # A comment line this often keeps proxies from closing a quiet stream.
    sse_heartbeat_s: float = Field(15, gt=0)
    # Webhook signing secret(s): `whsec_<base64>` or text; several (rotation) comma-separated.
    webhook_secret: SecretStr | None = None
    # Callback used when a request carries none, per topic (empty: no webhook).
    webhook_default_playlist: str = ""
    webhook_default_media: str = ""
    # Retries back off from the base to the cap; no attempt starts after the total.
    webhook_retry_base_s: float = Field(5, gt=0)
    webhook_retry_cap_s: float = Field(900, gt=0)
    webhook_max_total_s: float = Field(86400, gt=0)
    webhook_timeout_s: float = Field(10, gt=0)
    webhook_concurrency: int = Field(20, ge=1)
    topic_webhooks: str = "pipeline.webhooks"

    # --- logging
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    @field_validator("trusted_proxies", "url_allowlist", "media_source_buckets",
                     "allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("prewarm_allowed_destinations", mode="before")
    @classmethod
    def _split_destinations(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_destinations(self) -> Settings:
        from pipeline.media.targets import check_settings

        check_settings(self.prewarm_allowed_destinations,
                       {self.results_bucket, self.broker_bucket, *self.allowed_source_buckets},
                       self.prewarm_destination)
        return self

    @field_validator("prewarm_http_headers", mode="before")
    @classmethod
    def _headers_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    # --- derived values (no environment access below this line)

    @property
    def embedded_broker(self) -> bool:
        """True when the broker is the local Tansu (started by `pipeline up` or tests)."""
        return self.broker == "embedded"

    @property
    def allowed_source_buckets(self) -> frozenset[str]:
        """Buckets prewarms may read: the media bucket and `media_source_buckets`."""
        return frozenset([self.media_bucket, *self.media_source_buckets])

    @property
    def embedded_s3(self) -> bool:
        return not self.s3_endpoint

    @property
    def broker_url(self) -> str:
        if self.embedded_broker:
            return f"kafka://127.0.0.1:{self.embedded_broker_port}"
        return self.broker

    @property
    def broker_bootstrap(self) -> list[str]:
        """``host:port`` strings for aiokafka clients."""
        return [part.split("://", 1)[-1] for part in self.broker_url.split(",")]

    @property
    def s3_endpoint_url(self) -> str:
        return self.s3_endpoint or f"http://127.0.0.1:{self.embedded_s3_port}"

    @property
    def s3_credentials_file(self) -> Path:
        return self.data_dir / "s3" / "credentials.json"

    def s3_credentials(self) -> tuple[str, str]:
        """Access and secret key: from settings, else the embedded S3's generated file."""
        if self.s3_access_key and self.s3_secret_key:
            return self.s3_access_key.get_secret_value(), self.s3_secret_key.get_secret_value()
        if self.embedded_s3 and self.s3_credentials_file.exists():
            doc = json.loads(self.s3_credentials_file.read_text())
            cred = doc["identities"][0]["credentials"][0]
            return cred["accessKey"], cred["secretKey"]
        return "", ""

    @property
    def advertised_web_host(self) -> str:
        """Host other workers use to reach this one's web server (table routing)."""
        if self.web_host:
            return self.web_host
        return "127.0.0.1" if self.web_bind.startswith("127.") else socket.gethostname()

    def cluster_secret_value(self) -> str:
        """Secret shared by workers to mark requests forwarded between them."""
        if self.cluster_secret:
            return self.cluster_secret.get_secret_value()
        if self.api_token:
            return self.api_token.get_secret_value()
        _, secret = self.s3_credentials()
        return f"{self.app_id}:{self.broker_url}:{secret}"

    @property
    def api_base_url(self) -> str:
        """Where clients reach the HTTP API: `PIPELINE_API_URL`, else the local web port."""
        return (self.api_url or f"http://127.0.0.1:{self.web_port}").rstrip("/")

    def webhook_secrets(self) -> list[str]:
        """The configured signing secrets (the first signs; all are sent during a rotation)."""
        raw = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        return [part.strip() for part in raw.split(",") if part.strip()]

    @property
    def table_dir(self) -> Path:
        return self.data_dir / "tables"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def default_destination(self) -> str:
        return self.prewarm_destination or f"file://{(self.data_dir / 'warm').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
