"""Destination strings that try to leave the warm directory (shared by the unit and
integration tests; no pipeline imports, so it loads against any version)."""

from __future__ import annotations


def traversal_matrix(warm: str) -> list[str]:
    """Destination strings that try to leave `warm` (an absolute path without a slash
    at the end): dot segments in every encoding, absolute paths, odd hosts."""
    outside = "tmp/escaped"
    return [
        f"file://{warm}/../{outside}",
        f"file://{warm}/../../../../{outside}",
        f"file://{warm}/%2e%2e/%2e%2e/%2e%2e/{outside}",
        f"file://{warm}/%2E%2E/{outside}",
        f"file://{warm}/%2e./{outside}",
        f"file://{warm}/.%2e/{outside}",
        f"file://{warm}/%252e%252e/{outside}",
        f"file://{warm}/%25252e%25252e/{outside}",
        f"file://{warm}/%c0%ae%c0%ae/{outside}",
        f"file://{warm}/%e0%80%ae%e0%80%ae/{outside}",
        f"file://{warm}/%ef%bc%8e%ef%bc%8e/{outside}",  # fullwidth dots
        f"file://{warm}/\uff0e\uff0e/{outside}",
        f"file://{warm}/..%2f{outside}",
        f"file://{warm}/..%2F..%2F{outside}",
        f"file://{warm}/%2e%2e%2f%2e%2e%2f{outside}",
        f"file://{warm}/..\\..\\{outside}",
        f"file://{warm}/%5c..%5c{outside}",
        f"file://{warm}/..%5c{outside}",
        f"file://{warm}/./../{outside}",
        f"file://{warm}/sub/../../{outside}",
        f"file://{warm}//../{outside}",
        f"file://{warm}/...//{outside}",
        f"file://{warm}/%00/../{outside}",
        f"file://{warm}/..%00/{outside}",
        f"file://{warm}/.. /{outside}",
        f"file://{warm}%2f..%2f{outside}",
        f"file://{warm}/%2e%2e",
        f"file://{warm}/..",
        f"file://{warm}/.../../{outside}",
        f"file:///{outside}",
        f"file:////{outside}",
        "file:///etc",
        "file:///",
        "file:/tmp/escaped",
        f"file://localhost/{outside}",
        f"file://evil.example{warm}",
        f"file:{warm}/../{outside}",
        f"file://{warm}/../{outside}?x=1",
        f"file://{warm}/link-out",
        f"file://{warm}/link-out/deeper",
        f"file://{warm}er",
        f"FILE://{warm}/%2e%2e/{outside}",
    ]
