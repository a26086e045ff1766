"""`pipeline media publish` and `pipeline media status`: media prewarm over the HTTP API."""

from __future__ import annotations

import hashlib
from typing import Any

import click

from pipeline import storage
from pipeline.client import AsyncClient
from pipeline.commands.common import api_client, echo_json, run
from pipeline.commands.media_wait import follow_media
from pipeline.media.score import KINDS
from pipeline.settings import get_settings

# Content-type families that name a kind of their own; anything else is `other`.
_KIND_OF_TYPE = {"image": "photo", "video": "video", "audio": "audio"}


def media_id_for(bucket: str, key: str) -> str:
    """Default media id: stable for an object, so publishing it twice is deduplicated."""
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:32]


def kind_for(content_type: str) -> str:
    """photo for image/*, video for video/*, audio for audio/*, else other."""
    return _KIND_OF_TYPE.get(content_type.split("/", 1)[0].strip().lower(), "other")


@click.group()
def media() -> None:
    """Media prewarm: announce uploaded objects, read their prewarm status."""


@media.command()
@click.option("--bucket", metavar="B",
              help="Bucket of the object (default: PIPELINE_MEDIA_BUCKET, `media`).")
@click.option("--key", "key", required=True, metavar="K", help="Object key in the bucket.")
@click.option("--size", type=click.IntRange(min=0), metavar="N",
              help="Object size in bytes (default: read from S3 with HEAD).")
@click.option("--content-type", metavar="TYPE",
              help="MIME type, e.g. image/jpeg (default: read from S3 with HEAD).")
@click.option("--kind", type=click.Choice(KINDS),
              help="What the object is; weighs in its prewarm priority (default: photo for "
                   "image/*, video for video/*, audio for audio/*, else other).")
@click.option("--destination", metavar="D",
              help="Where to push it: file://, http(s)://, s3:// or null:// (default: "
                   "PIPELINE_PREWARM_DESTINATION).")
@click.option("--media-id", metavar="ID",
              help="Media id, the topic key (default: a hash of bucket and key).")
@click.option("--force", is_flag=True, help="Prewarm again even if it was done already.")
@click.option("--callback-url", metavar="URL",
              help="POST the signed outcome to URL when the job ends (a webhook).")
@click.option("--wait", "wait_", is_flag=True,
              help="Follow the job (server-sent events, else polling) until it ends; exits 1 "
                   "with the error code when it fails or is cancelled.")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="SECONDS",
              help="With --wait: stop waiting after this many seconds (exit 4).")
@click.pass_context
def publish(ctx: click.Context, bucket: str | None, key: str, size: int | None,
            content_type: str | None, kind: str | None, destination: str | None,
            media_id: str | None, force: bool, callback_url: str | None, wait_: bool,
            timeout: float | None) -> None:
    """Announce an object already stored in S3 so that it is prewarmed.

    Size and content type are read with an S3 HEAD when not given (which also
    checks that the object exists). Prints the media id, status and priority score.
    """
    bucket = bucket or get_settings().media_bucket
    media_id = media_id or media_id_for(bucket, key)
    body = run(_publish(api_client(ctx), bucket, key, size, content_type, kind,
                        destination, media_id, force, callback_url))
    click.echo(f"media {body.get('media_id')}: {body.get('status')}, "
               f"score {body.get('score')}")
    if wait_:
        follow_media(api_client(ctx), media_id, timeout)


async def _publish(api: AsyncClient, bucket: str, key: str, size: int | None,
                   content_type: str | None, kind: str | None, destination: str | None,
                   media_id: str, force: bool, callback_url: str | None) -> dict[str, Any]:
    if size is None or content_type is None:
        async with storage.open_client(get_settings()) as s3:
            meta = await storage.head(s3, bucket, key)
        size = meta["size"] if size is None else size
        content_type = meta["content_type"] if content_type is None else content_type
    async with api:
        return await api.publish_upload(
            media_id, bucket, key, size=size, kind=kind or kind_for(content_type),
            content_type=content_type, destination=destination, force=force,
            callback_url=callback_url)


@media.command("status")
@click.argument("media_id")
@click.pass_context
def media_status(ctx: click.Context, media_id: str) -> None:
    """Print the prewarm job of MEDIA_ID as JSON (status, score, attempts, error)."""
    echo_json(run(_media_status(api_client(ctx), media_id)))


async def _media_status(api: AsyncClient, media_id: str) -> dict[str, Any]:
    async with api:
        return await api.media_status(media_id)
