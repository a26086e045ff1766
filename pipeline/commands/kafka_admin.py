"""Topic and consumer-group administration through the aiokafka admin client.

Topic names come from `pipeline.topic_names` (the CLI does not load the Faust
app); `tests/unit/test_replay_window.py` checks them against the worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.admin import DeleteGroupsRequest

from pipeline import compat
from pipeline.producer import REQUEST_TIMEOUT_MS, kafka_errors
from pipeline.settings import Settings
from pipeline.topic_names import topic_names

# Table names as declared in `tables/` (kept literal: the CLI does not import Faust).
TABLES = ("playlist_jobs", "media_jobs", "playlist_webhooks", "media_webhooks")
# Kafka error codes with a meaning of their own for a group deletion.
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND = 68, 69
CONNECT_TIMEOUT_S = 15.0


def pipeline_topics(settings: Settings) -> dict[str, str]:
    """The pipeline's own topics, with their role."""
    return topic_names(settings).roles()


def changelog_topics(settings: Settings) -> list[str]:
    """The tables' changelog topics, named by Faust `<app_id>-<table>-changelog`."""
    return [f"{settings.app_id}-{table}-changelog" for table in TABLES]


def events_topics(settings: Settings) -> list[str]:
    """Internal run-event topics: derived state of runs, reset with the tables."""
    return topic_names(settings).events()


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; `NotReady` when the broker cannot be reached."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_bootstrap,
                                client_id="pipeline-admin",
                                request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        with kafka_errors(f"connect to {settings.broker_url}"):
            await asyncio.wait_for(admin.start(), CONNECT_TIMEOUT_S)
        yield admin
    finally:
        await admin.close()


def _error_name(code: int) -> str:
    return str(for_code(code).__name__)


async def partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int | None]:
    """Partitions per topic; None for a topic that does not exist (never auto-created)."""
    with kafka_errors("list topics"):
        existing = set(await admin.list_topics())
        present = [name for name in names if name in existing]
        described = await admin.describe_topics(present) if present else []
    counts = {t["topic"]: len(t["partitions"]) for t in described}
    return {name: counts.get(name) for name in names}


async def settled_counts(admin: AIOKafkaAdminClient, names: list[str], created: list[str],
                         partitions: int, timeout_s: float = 15.0) -> dict[str, int | None]:
    """``partition_counts`` once the topics just created list all their partitions:
    on a multi-node cluster a node's metadata can show a new topic with none yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        counts = await partition_counts(admin, names)
        if all(counts[name] == partitions for name in created) or loop.time() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def create_topics(admin: AIOKafkaAdminClient, names: list[str], partitions: int,
                        replication: int) -> dict[str, str]:
    """Create `names`; the outcome per topic (`created` or the broker's error)."""
    if not names:
        return {}
    with kafka_errors("create topics"):
        resp = await admin.create_topics(
            [NewTopic(name, partitions, replication) for name in names])
    return {topic: "created" if code == 0 else _error_name(code)
            for topic, code, *_ in resp.topic_errors}


async def delete_topics(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, str]:
    """Delete the existing ones of `names`: `deleted`, `absent` or the broker's error."""
    with kafka_errors("list topics"):
        existing = set(await admin.list_topics())
    outcome = {name: "absent" for name in names if name not in existing}
    present = [name for name in names if name in existing]
    if not present:
        return outcome
    try:
        resp = await admin.delete_topics(present)
    except KafkaError as exc:
        return outcome | {name: f"not deleted: {type(exc).__name__}" for name in present}
    for topic, code, *_ in resp.topic_error_codes:
        outcome[topic] = "deleted" if code == 0 else f"not deleted: {_error_name(code)}"
    return outcome


async def group_members(admin: AIOKafkaAdminClient, group: str) -> int | None:
    """Members of a consumer group now; None when the broker cannot tell."""
    try:
        answers = await admin.describe_consumer_groups([group])
        groups: list[Any] = [g for resp in answers for g in resp.groups]
    except (KafkaError, ValueError):
        return None
    for entry in groups:
        if entry[1] == group and entry[0] == 0:
            return 0 if entry[2] in ("Empty", "Dead") else len(entry[5])
    return 0


async def delete_group(admin: AIOKafkaAdminClient, group: str) -> str:
    """Delete a consumer group and its committed offsets: `deleted`, `absent` or why not."""
    # aiokafka has no delete_consumer_groups(): send DeleteGroups to the group coordinator.
    try:
        coordinator = await admin.find_coordinator(group)
        resp = await compat.send_request_to_node(admin, coordinator,
                                                 DeleteGroupsRequest([group]))
    except (KafkaError, ValueError, TypeError) as exc:
        return f"not deleted: the broker cannot delete groups ({type(exc).__name__})"
    code = next((c for name, c in resp.results if name == group), 0)
    if code == 0:
        return "deleted"
    if code == GROUP_ID_NOT_FOUND:
        return "absent"
    if code == NON_EMPTY_GROUP:
        return "not deleted: the group still has members (stop every worker)"
    return f"not deleted: {_error_name(code)}"
