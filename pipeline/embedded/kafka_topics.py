"""Topics made, and listed by the broker, before a worker first starts on a new Kafka.

A worker that creates its topics itself joins its group at once; Kafka's
metadata may not list a just-created topic yet, and Faust's assignor then
skips it ("Ignoring missing topic"): an input topic's records wait for the
next rebalance, a missing changelog crashes the agent with PartitionsMismatch.
Tansu lists new topics at once. See docs/production-engine.md.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import NewTopic

from pipeline.commands import kafka_admin as ka
from pipeline.settings import Settings

LISTED_TIMEOUT_S = 30.0


def ensure_topics(settings: Settings, replication: int = 1) -> list[str]:
    """Create the missing pipeline topics and changelogs; wait until all are listed.

    Returns the names created.
    """
    return asyncio.run(_ensure(settings, replication))


async def _ensure(settings: Settings, replication: int) -> list[str]:
    own, changelogs = list(ka.pipeline_topics(settings)), ka.changelog_topics(settings)
    async with ka.admin_client(settings) as admin:
        counts = await ka.partition_counts(admin, own + changelogs)
        missing = [name for name, count in counts.items() if count is None]
        if missing:
            await admin.create_topics([
                NewTopic(name, settings.topic_partitions, replication,
                         topic_configs={"cleanup.policy": "compact"} if name in changelogs
                         else {})
                for name in missing])
        deadline = time.monotonic() + LISTED_TIMEOUT_S
        while not set(own + changelogs) <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not listed after {LISTED_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.2)
    return missing
