"""Every topic the workers use is declared by them with the configured partition count.

A topic left to the broker's auto-create (a producer's first send) gets the
broker's default count, which breaks co-partitioning with the tables' changelogs:
an agent then crashes with PartitionsMismatch on its first record.
"""

from __future__ import annotations

from pipeline.topic_names import topic_names
from pipeline.worker import app, settings, worker


def _agent_topics() -> dict[str, object]:
    found = {}
    for agent in app.agents.values():
        for name in agent.channel.topics:  # type: ignore[attr-defined]
            found[name] = agent.channel
    return found


def test_agent_source_topics_are_declared_with_our_partitions() -> None:
    topics = _agent_topics()
    assert settings.topic_media_uploads in topics and settings.topic_parse_requests in topics
    for name, topic in topics.items():
        assert topic.internal, f"{name} would be auto-created by the broker"  # type: ignore[attr-defined]
        assert topic.partitions == settings.topic_partitions, name  # type: ignore[attr-defined]


def test_every_pipeline_topic_is_read_by_an_agent_or_declared_as_output() -> None:
    outputs = {t.get_topic_name() for t in worker.topics.outputs()}
    assert set(topic_names(settings).all()) <= set(_agent_topics()) | outputs


def test_topic_names_follow_the_events_and_dlq_rule() -> None:
    names = topic_names(settings)
    assert names.parse_events == settings.topic_parse_requests + ".events"
    assert names.parse_dlq == settings.topic_parse_requests + ".dlq"
    assert names.prewarm_events == settings.topic_media_uploads + ".events"
    assert names.media_dlq == settings.topic_media_uploads + ".dlq"
    assert names.webhooks_dlq == settings.topic_webhooks + ".dlq"
    assert len(set(names.all())) == 13 and set(names.roles()) == set(names.all())
