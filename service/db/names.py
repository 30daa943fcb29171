"""The one rule name searches match by: Unicode compatibility normalisation and full case folding."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """`text` as name searches compare it: NFKC, case-folded (so "ß" and "SS" match), NFKC again."""
    # casefold can leave a string unnormalised (e.g. after U+0345), hence the second NFKC
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
