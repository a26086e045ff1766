"""Owner routing: forward to the owner once; a forwarded request is answered where it lands."""

from __future__ import annotations

from typing import Any

import faust
import pytest

from pipeline.settings import Settings
from pipeline.web.routing import FORWARDED_HEADER, OwnerRouter


class _Request:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> OwnerRouter:
    for name in [k for k in __import__("os").environ if k.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)
    app = faust.App("routing-test", store="memory://", autodiscover=False)
    return OwnerRouter(app, Settings())


def _owned_by(router: OwnerRouter, monkeypatch: pytest.MonkeyPatch, owner: str | None) -> None:
    monkeypatch.setattr(router, "owner_url", lambda table, key: owner)


def test_a_key_owned_elsewhere_is_forwarded_to_its_owner(
        router: OwnerRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    _owned_by(router, monkeypatch, "http://peer:6066")
    assert router.route(_Request({}), object(), "k") == "http://peer:6066"  # type: ignore[arg-type]


def test_a_key_owned_here_is_answered_here(router: OwnerRouter,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _owned_by(router, monkeypatch, None)
    assert router.route(_Request({}), object(), "k") is None  # type: ignore[arg-type]


def test_a_forwarded_request_is_never_forwarded_again(
        router: OwnerRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers that disagree during a rebalance must not bounce a request."""
    _owned_by(router, monkeypatch, "http://peer:6066")
    forwarded: Any = _Request({FORWARDED_HEADER: router._forward_token()})
    assert router.was_forwarded(forwarded)
    assert router.route(forwarded, object(), "k") is None
    forged: Any = _Request({FORWARDED_HEADER: "not-the-token"})
    assert not router.was_forwarded(forged)
    assert router.route(forged, object(), "k") == "http://peer:6066"
