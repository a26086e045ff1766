"""Topic declarations (names from settings; JSON keys everywhere, see EMBEDDED.md)."""

from __future__ import annotations

from faust.types import TopicT

from pipeline.app import app, settings
from pipeline.records import (
    DeadLetter,
    MediaUploaded,
    ParseEvent,
    ParseRequest,
    ParseResult,
    PrewarmEvent,
    PrewarmResult,
)


def _topic(name: str, value_type: type) -> TopicT:
    return app.topic(
        name,
        key_type=str,
        value_type=value_type,
        key_serializer="json",
        value_serializer="json",
        partitions=settings.topic_partitions,
        # Declared by the worker with our partition count: a broker's auto-create
        # default would break co-partitioning with the tables' changelogs.
        internal=True,
    )


parse_requests = _topic(settings.topic_parse_requests, ParseRequest)
parse_events = _topic(settings.topic_parse_requests + ".events", ParseEvent)
parse_results = _topic(settings.topic_parse_results, ParseResult)
parse_dlq = _topic(settings.topic_parse_requests + ".dlq", DeadLetter)

media_uploads = _topic(settings.topic_media_uploads, MediaUploaded)
prewarm_events = _topic(settings.topic_media_uploads + ".events", PrewarmEvent)
prewarm_results = _topic(settings.topic_prewarm_results, PrewarmResult)
media_dlq = _topic(settings.topic_media_uploads + ".dlq", DeadLetter)


def all_topic_names() -> list[str]:
    """Every topic the pipeline uses (for `pipeline topics --create`)."""
    return [
        settings.topic_parse_requests, settings.topic_parse_requests + ".events",
        settings.topic_parse_results, settings.topic_parse_requests + ".dlq",
        settings.topic_media_uploads, settings.topic_media_uploads + ".events",
        settings.topic_prewarm_results, settings.topic_media_uploads + ".dlq",
    ]


@app.task
async def declare_output_topics() -> None:
    """Create the topics we only produce to (agents declare the ones they read)."""
    for topic in (parse_results, parse_dlq, prewarm_results, media_dlq):
        await topic.maybe_declare()
