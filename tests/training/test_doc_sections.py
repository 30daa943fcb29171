"""A generated docs section replaces only its own marked block, or is appended when it has none yet."""

from __future__ import annotations

from pathlib import Path

from training.doc_sections import replace_section

START, END = "<!-- mnist:start -->", "<!-- mnist:end -->"


def test_replace_section_creates_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "reproduction.md"
    replace_section(doc, "mnist", "first", "# Report\n")
    assert doc.read_text() == f"# Report\n\n{START}\nfirst\n{END}\n"


def test_replace_section_replaces_only_its_block(tmp_path: Path) -> None:
    doc = tmp_path / "reproduction.md"
    faces = "<!-- faces:start -->\nfaces\n<!-- faces:end -->\n"
    doc.write_text(f"# Report\n\nintro\n\n{START}\nold\n{END}\n\n{faces}")
    replace_section(doc, "mnist", "new", "unused")
    assert doc.read_text() == f"# Report\n\nintro\n\n{START}\nnew\n{END}\n\n{faces}"


def test_replace_section_appends_a_new_block(tmp_path: Path) -> None:
    doc = tmp_path / "other.md"
    doc.write_text("# Other\n\nkept\n")
    replace_section(doc, "mnist", "added", "unused")
    assert doc.read_text() == f"# Other\n\nkept\n\n{START}\nadded\n{END}\n"
