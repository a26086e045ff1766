"""Every topic name the pipeline uses, as one pure function of settings.

The worker (`pipeline.topics`), the CLI (`pipeline.commands.kafka_admin`) and
replay all name topics through `topic_names`, so the `.events`/`.dlq` rule is
written once. No Faust import: the CLI uses this without loading the app.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pipeline.settings import Settings

EVENTS_SUFFIX = ".events"
DLQ_SUFFIX = ".dlq"
# Requests re-keyed by the intake onto the partition that owns their job (docs/events.md).
KEYED_SUFFIX = ".keyed"


@dataclass(frozen=True)
class TopicNames:
    """The topics: input, re-keyed input, internal run events, results and dead
    letters per domain, and the catalogue changes of finished parse runs."""

    parse_requests: str
    parse_events: str
    parse_results: str
    parse_dlq: str
    media_uploads: str
    prewarm_events: str
    prewarm_results: str
    media_dlq: str
    parse_keyed: str = ""
    media_keyed: str = ""
    webhooks: str = "pipeline.webhooks"  # webhook attempt outcomes (internal)
    webhooks_dlq: str = "pipeline.webhooks.dlq"  # deliveries given up
    catalogue_changes: str = "playlist.catalogue.changes"

    def all(self) -> list[str]:
        """Every name, in declaration order (for `pipeline topics --create`)."""
        return [getattr(self, f.name) for f in fields(self)]

    def roles(self) -> dict[str, str]:
        """Each topic with its role: input, internal, output or dead letters."""
        return {
            self.parse_requests: "input", self.parse_events: "internal",
            self.parse_results: "output", self.parse_dlq: "dead letters",
            self.media_uploads: "input", self.prewarm_events: "internal",
            self.prewarm_results: "output", self.media_dlq: "dead letters",
            self.parse_keyed: "internal", self.media_keyed: "internal",
            self.webhooks: "internal", self.webhooks_dlq: "dead letters",
            self.catalogue_changes: "output",
        }

    def events(self) -> list[str]:
        """The internal event topics (derived state, reset with the tables): run events
        and webhook attempt outcomes."""
        return [self.parse_events, self.prewarm_events, self.webhooks]

    def inputs(self) -> dict[str, str]:
        """The input topics by domain (`parse`, `media`): the ones replay may re-publish."""
        return {self.parse_requests: "parse", self.media_uploads: "media"}


def topic_names(settings: Settings) -> TopicNames:
    """All topic names for `settings`: run events and dead letters hang off the inputs."""
    req, up = settings.topic_parse_requests, settings.topic_media_uploads
    return TopicNames(
        parse_requests=req, parse_events=req + EVENTS_SUFFIX,
        parse_results=settings.topic_parse_results, parse_dlq=req + DLQ_SUFFIX,
        media_uploads=up, prewarm_events=up + EVENTS_SUFFIX,
        prewarm_results=settings.topic_prewarm_results, media_dlq=up + DLQ_SUFFIX,
        parse_keyed=req + KEYED_SUFFIX, media_keyed=up + KEYED_SUFFIX,
        webhooks=settings.topic_webhooks, webhooks_dlq=settings.topic_webhooks + DLQ_SUFFIX,
        catalogue_changes=settings.topic_catalogue_changes,
    )
