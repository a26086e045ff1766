"""Retry backoff shared by both domains (playlist parses and media prewarms)."""

from __future__ import annotations


def backoff_s(attempt: int, base_s: float, jitter: float, cap_s: float = 300.0) -> float:
    """Exponential backoff with jitter in [0.5, 1.5) (`jitter` in [0, 1) is passed in)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)) * (0.5 + jitter))
