"""Generated sections of the docs: each script owns the text between its own `<!-- name:start/end -->` markers."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, name: str, body: str, header: str) -> None:
    """Replace the block of section `name` in `path` (or append it; a missing file starts with `header`)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else header
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
