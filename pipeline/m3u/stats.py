"""Parse counters and the item type shared by the M3U modules."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

Item = dict[str, Any]
"""One parsed playlist entry: a plain, JSON-ready dict (docs/architecture.md, "Parsed item")."""

TYPES = ("live", "movie", "series")
_TYPE = operator.itemgetter("type")
_GROUP = operator.methodcaller("get", "group")


@dataclass
class ParseStats:
    """What one parse saw.

    ``items`` entries were yielded; ``skipped_lines`` are comments, unknown
    tags and malformed directives; ``dropped_entries`` are ``#EXTINF`` lines
    with no URL after them; ``bad_entries`` are entries that could not be
    turned into an item; ``long_lines`` are lines over ``max_line_bytes``;
    ``bytes`` is the raw input size; ``counts`` is items by type; ``groups`` is
    the number of distinct groups.
    """

    items: int = 0
    skipped_lines: int = 0
    dropped_entries: int = 0
    bad_entries: int = 0
    long_lines: int = 0
    bytes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TYPES, 0))
    group_names: set[str] = field(default_factory=set, repr=False)

    @property
    def groups(self) -> int:
        """Number of distinct non-empty groups seen."""
        return len(self.group_names)

    def add_items(self, items: list[Item]) -> None:
        """Count items by type and collect their groups (``items`` is counted elsewhere)."""
        if not items:
            return
        kinds = list(map(_TYPE, items))
        counts = self.counts
        for kind in TYPES:
            counts[kind] += kinds.count(kind)
        groups = self.group_names
        groups.update(map(_GROUP, items))
        groups.discard(None)  # type: ignore[arg-type]  # items without a group

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the shape the CLI's ``--summary`` prints)."""
        return {
            "items": self.items,
            "counts": dict(self.counts),
            "groups": self.groups,
            "skipped_lines": self.skipped_lines,
            "dropped_entries": self.dropped_entries,
            "bad_entries": self.bad_entries,
            "long_lines": self.long_lines,
            "bytes": self.bytes,
        }
