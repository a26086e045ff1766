"""Destinations cannot escape: one check (`targets.resolve`) for the submit and the writer."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest

from pipeline.errors import DestinationError, URLRefused
from pipeline.media import rules as media_rules
from pipeline.media import targets
from pipeline.media.destinations import (
    FileDestination,
    HttpOptions,
    PushItem,
    S3Destination,
    open_destination,
)
from tests.unit.traversal import traversal_matrix


@pytest.fixture
def warm(tmp_path: Path) -> Path:
    root = tmp_path / "warm"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "link-out")
    return root


def _policy(warm: Path) -> targets.Policy:
    return targets.Policy(f"file://{warm}", (), frozenset({"pipeline-results"}))


def test_traversal_matrix_refused_at_submit(warm: Path) -> None:
    matrix = traversal_matrix(str(warm))
    assert len(matrix) >= 30
    for url in matrix:
        with pytest.raises(URLRefused):
            media_rules.check_destination(url, default=f"file://{warm}", allowed=(),
                                   protected_buckets=("pipeline-results",))


def test_traversal_matrix_refused_by_the_writer(warm: Path) -> None:
    http = HttpOptions("PUT", {}, None)  # type: ignore[arg-type]
    for url in traversal_matrix(str(warm)):
        with pytest.raises(DestinationError) as caught:
            open_destination(url, s3=None, session=None, http=http, policy=_policy(warm))
        assert not caught.value.transient, url


def test_paths_under_the_warm_directory_are_allowed(warm: Path) -> None:
    for url in (f"file://{warm}", f"file://{warm}/", f"file://{warm}/sub/dir",
                f"file://{warm}/a%20b", f"file://{warm}/x..y"):
        target = targets.resolve(url, _policy(warm))
        assert target.root == warm.resolve()


def _push(dest: FileDestination, bucket: str = "media", key: str = "up/a.jpg") -> str:
    item = PushItem("m1", bucket, key, "image/jpeg", 3)
    return asyncio.run(dest.push(io.BytesIO(b"abc"), item))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_writer_refuses_a_symlink_planted_inside_the_warm_directory(warm: Path) -> None:
    outside = warm.parent / "outside"
    os.symlink(outside, warm / "media")  # the bucket directory points outside
    before = _tree(outside)
    target = targets.resolve(f"file://{warm}", _policy(warm))
    assert target.path is not None
    with pytest.raises(DestinationError) as caught:
        _push(FileDestination(target.path, target.root))
    assert not caught.value.transient
    assert _tree(outside) == before


def test_writer_keys_cannot_climb(warm: Path) -> None:
    before = _tree(warm.parent / "outside")
    ref = _push(FileDestination(warm.resolve()), key="../../../outside/x.jpg")
    assert ref == f"file://{warm.resolve()}/media/outside/x.jpg"
    assert _tree(warm.parent / "outside") == before


def test_writer_replaces_a_symlink_at_the_final_name(warm: Path) -> None:
    victim = warm.parent / "outside" / "victim"
    victim.write_bytes(b"keep")
    (warm / "media" / "up").mkdir(parents=True)
    os.symlink(victim, warm / "media" / "up" / "a.jpg")
    _push(FileDestination(warm.resolve()))
    assert victim.read_bytes() == b"keep"
    assert (warm / "media" / "up" / "a.jpg").read_bytes() == b"abc"


S3_POLICY = targets.Policy("file:///srv/warm", ("s3://copy/warm",),
                           frozenset({"media", "pipeline-results", "pipeline-broker"}))


@pytest.mark.parametrize("url", [
    "s3://media/victim", "s3://media/warm", "s3://pipeline-results/warm",
    "s3://pipeline-broker/x", "s3://copy", "s3://copy/", "s3://copy/other",
    "s3://copy/warmer", "s3://copy/warm/../other", "s3://copy/warm/%2e%2e/other",
    "s3://copy/warm//x", "s3://other/warm",
])
def test_s3_destinations_only_under_an_allowed_prefix(url: str) -> None:
    with pytest.raises(URLRefused):
        targets.resolve(url, S3_POLICY)


def test_s3_allowed_prefix_and_per_media_id_layout() -> None:
    target = targets.resolve("s3://copy/warm/team-a/", S3_POLICY)
    assert (target.bucket, target.prefix, target.sub) == ("copy", "warm", "team-a")
    dest = S3Destination(None, target.bucket, target.prefix, target.sub)
    item = PushItem("m-1", "media", "../victim/./photo.jpg", "image/jpeg", 1)
    assert dest.object_key(item) == "warm/m-1/team-a/victim/photo.jpg"
    # Media id `team-a` cannot reach m-1's object through its key: the first segment
    # below the allowed prefix is always the writer's own media id.
    plain = S3Destination(None, "copy", "warm")
    other = PushItem("team-a", "media", "m-1/victim/photo.jpg", "image/jpeg", 1)
    assert plain.object_key(other) == "warm/team-a/m-1/victim/photo.jpg"
    assert not plain.object_key(other).startswith("warm/m-1/")


def test_settings_refuse_unsafe_allowed_destinations() -> None:
    from pipeline.settings import Settings

    for bad in ("s3://copy", "s3://copy/", "s3://media/warm", "s3://pipeline-results/x",
                "s3://copy/warm,s3://copy/warm/team", "s3://copy/a,s3://copy/a/"):
        with pytest.raises(ValueError):
            Settings(prewarm_allowed_destinations=bad)
    with pytest.raises(ValueError):
        Settings(prewarm_destination="s3://copy/", prewarm_allowed_destinations="s3://copy/w")
    assert Settings(prewarm_allowed_destinations="s3://copy/warm,s3://copy/warmer,s3://b/warm")
    assert Settings(prewarm_allowed_destinations="s3://copy/warm").prewarm_allowed_destinations
