"""Publish parse requests and media uploads straight to Kafka, without the HTTP API.

    async with Producer() as producer:      # PIPELINE_BROKER from settings
        job_id = await producer.parse("http://example.com/list.m3u")
        await producer.upload("m-42", bucket="media", key="u/42.jpg", size=81_000,
                              kind="photo", content_type="image/jpeg")

Keys are JSON strings (`pipeline.partitioning.key_bytes`) and the partition is
murmur2 of the key over the topic's partitions, exactly as the agents' topics
expect; values are the records' fields as a JSON object (docs/architecture.md, "Topics").
Topics must exist (a worker or `pipeline topics --create` makes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from pipeline.errors import NotReady, PipelineError
from pipeline.partitioning import key_bytes, key_partition
from pipeline.records import MediaUploaded, ParseRequest
from pipeline.settings import Settings, get_settings
from pipeline.urls import job_id_for, validate_playlist_url

# Bootstrap and every request give up after this long (the broker is down, not slow).
REQUEST_TIMEOUT_MS = 15_000


@contextlib.contextmanager
def kafka_errors(what: str) -> Iterator[None]:
    """Translate aiokafka failures into the pipeline's errors (one boundary)."""
    try:
        yield
    except (KafkaConnectionError, TimeoutError) as exc:
        raise NotReady(f"broker unreachable ({what}): {exc or type(exc).__name__}") from exc
    except KafkaError as exc:
        raise PipelineError(f"broker refused {what}: {exc}") from exc


def producer_options(settings: Settings, client_id: str) -> dict[str, Any]:
    """aiokafka producer options; one record per batch on the embedded broker
    (docs/embedded-broker.md)."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.broker_bootstrap,
        "client_id": client_id,
        "acks": "all",
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
    }
    if settings.embedded_broker:
        # Tansu reports a wrong log end for multi-record batches: keep batches single.
        opts["max_batch_size"] = 1
    return opts


class Producer:
    """An aiokafka producer that speaks the pipeline's topics. Start it once, reuse it."""

    def __init__(self, settings: Settings | None = None, *,
                 client_id: str = "pipeline-producer") -> None:
        self.settings = settings or get_settings()
        self._producer = AIOKafkaProducer(**producer_options(self.settings, client_id))
        self._partitions: dict[str, int] = {}

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            with kafka_errors(f"connect to {self.settings.broker_url}"):
                await self._producer.start()
        except PipelineError:
            await self._producer.stop()
            raise

    async def stop(self) -> None:
        await self._producer.stop()

    async def partition_for(self, topic: str, key: str) -> int:
        """The partition the agents expect `key` on (murmur2 of the JSON key)."""
        if topic not in self._partitions:
            with kafka_errors(f"metadata of {topic}"):
                parts = await self._producer.partitions_for(topic)
            self._partitions[topic] = len(parts)
        return key_partition(key, self._partitions[topic])

    async def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        """Publish one JSON value under a JSON key and wait for the broker's ack."""
        partition = await self.partition_for(topic, key)
        data = json.dumps(value, separators=(",", ":")).encode()
        with kafka_errors(f"publish to {topic}"):
            await self._producer.send_and_wait(topic, data, key=key_bytes(key),
                                               partition=partition)

    async def send_raw(self, topic: str, key: bytes | None, value: bytes,
                       partition: int) -> asyncio.Future[Any]:
        """Queue a record as is (replay); await the returned future for its ack."""
        with kafka_errors(f"publish to {topic}"):
            return await self._producer.send(topic, value, key=key, partition=partition)

    async def flush(self) -> None:
        with kafka_errors("flush"):
            await self._producer.flush()

    # --- the pipeline's input records

    async def send_parse_request(self, request: ParseRequest) -> str:
        """Publish a `ParseRequest` keyed by its job id; returns the job id."""
        job_id = job_id_for(request.url)
        await self.send(self.settings.topic_parse_requests, job_id, request.asdict())
        return job_id

    async def parse(self, url: str, *, force: bool = False, client: str = "producer",
                    request_id: str | None = None) -> str:
        """Request a parse of `url` (validated like the API does); returns the job id."""
        url = validate_playlist_url(url, self.settings.max_url_length)
        return await self.send_parse_request(ParseRequest(
            url=url, force=force, requested_at=time.time(), client=client,
            request_id=request_id or uuid.uuid4().hex))

    async def send_upload(self, upload: MediaUploaded) -> str:
        """Publish a `MediaUploaded` keyed by its media id; returns the media id."""
        await self.send(self.settings.topic_media_uploads, upload.media_id, upload.asdict())
        return upload.media_id

    async def upload(self, media_id: str, bucket: str, key: str, *, size: int = 0,
                     kind: str = "other", content_type: str = "",
                     uploaded_at: float | None = None, destination: str | None = None,
                     force: bool = False) -> str:
        """Announce a stored object for prewarm; returns the media id."""
        return await self.send_upload(MediaUploaded(
            media_id=media_id, bucket=bucket, key=key, size=size, kind=kind,
            content_type=content_type,
            uploaded_at=time.time() if uploaded_at is None else uploaded_at,
            destination=destination, force=force))
