"""User docs speak about the product, not about how it was developed (hand-written text only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.config import REPO_ROOT

# words that only make sense to the people building facever, never to its users
DEVELOPMENT_WORDS = ("this VM", "session", "device machine", "issue #")
# blocks written by the scripts in benchmarks/ (and training/), refreshed by re-running them
_GENERATED = re.compile(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", re.DOTALL)

USER_DOCS = sorted(["README.md", *(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "docs").glob("*.md"))])


def hand_written(text: str) -> str:
    """The text with every generated block removed."""
    return _GENERATED.sub("", text)


def test_generated_blocks_are_removed() -> None:
    text = "kept <!-- a-b:start -->\nthis VM\n<!-- a-b:end --> kept too"
    assert hand_written(text) == "kept  kept too"


@pytest.mark.parametrize("doc", USER_DOCS)
def test_user_docs_do_not_mention_development(doc: str) -> None:
    text = hand_written((REPO_ROOT / doc).read_text(encoding="utf-8"))
    found = [(word, line) for line in text.splitlines() for word in DEVELOPMENT_WORDS if word.lower() in line.lower()]
    assert not found, f"{doc} talks about development: {found}"
