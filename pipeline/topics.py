"""Topic declarations on the app (names from `pipeline.topic_names`).

Keys are JSON everywhere: raw and JSON keys hash to different partitions
(docs/embedded-broker.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from pipeline.records import (
    CatalogueChanges,
    DeadLetter,
    MediaUploaded,
    ParseEvent,
    ParseRequest,
    ParseResult,
    PrewarmEvent,
    PrewarmResult,
    WebhookAttempt,
)
from pipeline.settings import Settings
from pipeline.topic_names import TopicNames, topic_names


@dataclass(frozen=True)
class Topics:
    """The typed topics of one app, plus the raw reader of `media.uploads`."""

    names: TopicNames
    parse_requests: TopicT
    parse_events: TopicT
    parse_results: TopicT
    parse_dlq: TopicT
    media_uploads: TopicT  # typed, for senders
    raw_uploads: TopicT  # bytes, for the agent that validates records itself
    prewarm_events: TopicT
    prewarm_results: TopicT
    media_dlq: TopicT
    # Bytes readers of the inputs and the re-keyed internal topics (pipeline.intake).
    raw_requests: TopicT
    parse_keyed: TopicT
    media_keyed: TopicT
    webhooks: TopicT  # webhook attempt outcomes, keyed like the job (agents.webhooks)
    webhooks_dlq: TopicT  # webhook deliveries given up
    catalogue_changes: TopicT

    def outputs(self) -> tuple[TopicT, ...]:
        """The topics only produced to (no agent declares them)."""
        return (self.parse_results, self.parse_dlq, self.prewarm_results, self.media_dlq,
                self.webhooks_dlq, self.catalogue_changes)


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Declare every topic on `app` with the configured partition count."""
    names = topic_names(settings)

    def topic(name: str, value_type: type) -> TopicT:
        return app.topic(
            name, key_type=str, value_type=value_type, key_serializer="json",
            value_serializer="json", partitions=settings.topic_partitions,
            # Declared by the worker with our partition count: a broker's auto-create
            # default would break co-partitioning with the tables' changelogs.
            internal=True,
        )

    def raw(name: str) -> TopicT:
        # internal=True for the same reason: a producer's first send must not auto-create it.
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=settings.topic_partitions,
                         internal=True)

    return Topics(
        names=names,
        parse_requests=topic(names.parse_requests, ParseRequest),
        parse_events=topic(names.parse_events, ParseEvent),
        parse_results=topic(names.parse_results, ParseResult),
        parse_dlq=topic(names.parse_dlq, DeadLetter),
        media_uploads=topic(names.media_uploads, MediaUploaded),
        raw_uploads=raw(names.media_uploads),
        prewarm_events=topic(names.prewarm_events, PrewarmEvent),
        prewarm_results=topic(names.prewarm_results, PrewarmResult),
        media_dlq=topic(names.media_dlq, DeadLetter),
        raw_requests=raw(names.parse_requests),
        parse_keyed=raw(names.parse_keyed),
        media_keyed=raw(names.media_keyed),
        webhooks=topic(names.webhooks, WebhookAttempt),
        webhooks_dlq=topic(names.webhooks_dlq, DeadLetter),
        catalogue_changes=topic(names.catalogue_changes, CatalogueChanges),
    )
