"""Search folding: case- and accent-insensitive text ("Ação" -> "acao").

casefold, then NFKD, then combining marks removed. Applied in bulk to a whole
block of names (C-speed string operations), and to the query the same way.
"""

from __future__ import annotations

import re
import unicodedata

# The combining-mark blocks (Latin, Greek, Cyrillic, Hebrew and Arabic diacritics).
_MARKS_RE = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f\u3099\u309a]"
)  # one mark per match: a pattern that is a bare class is searched about twice as fast


def fold(text: str) -> str:
    """``text`` case- and accent-folded; newlines are kept (block names rely on it)."""
    if text.isascii():
        return text.lower()
    return _MARKS_RE.sub("", unicodedata.normalize("NFKD", text.casefold()))
