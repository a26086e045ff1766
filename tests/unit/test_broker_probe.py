"""The broker probe's count of a cluster's brokers (what /health calls degraded)."""

from __future__ import annotations

from pipeline.broker import BrokerProbe
from pipeline.metrics import Metrics
from pipeline.settings import Settings


def test_a_broker_that_leaves_the_metadata_is_missing_until_it_returns() -> None:
    probe = BrokerProbe(Settings(), Metrics())
    probe._count_brokers(3)
    assert (probe.brokers_live, probe.brokers_missing) == (3, 0)
    probe._count_brokers(2)
    assert (probe.brokers_live, probe.brokers_missing) == (2, 1)
    probe._count_brokers(3)
    assert (probe.brokers_live, probe.brokers_missing) == (3, 0)


def test_a_single_broker_is_never_missing() -> None:
    probe = BrokerProbe(Settings(), Metrics())
    probe._count_brokers(1)
    assert probe.brokers_missing == 0
