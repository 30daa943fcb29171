"""gather-utkface: UTKFace's faces split by the age their file name starts with; other files skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR
from training.distill.__main__ import main
from training.distill.utkface import age_of, split_by_age

PHOTOS = sorted((DATA_DIR / "celeba" / "faces").glob("*/*.jpg"))[:4]
NAMES = ["3_1_0_20170109194429785.jpg.chip.jpg", "14_0_2_20170104005522519.jpg.chip.jpg",
         "15_1_3_20170104222204751.jpg.chip.jpg", "61_0_0_20170111171443391.jpg.chip.jpg"]


@pytest.fixture
def utkface(tmp_path: Path) -> Path:
    """Four real face photos under UTKFace names (ages 3, 14, 15, 61), one unnamed image and a text file."""
    source = tmp_path / "UTKFace" / "unlabeled"
    source.mkdir(parents=True)
    for name, photo in zip(NAMES, PHOTOS, strict=True):
        shutil.copyfile(photo, source / name)
    shutil.copyfile(PHOTOS[0], source / "portrait.jpg")
    (source / "README.txt").write_text("not an image")
    return source.parent


def test_ages_come_from_the_first_field_of_the_name() -> None:
    assert age_of(NAMES[0]) == 3 and age_of(NAMES[3]) == 61
    assert age_of("portrait.jpg") is None and age_of("26.jpg") is None and age_of("x_1_0_2017.jpg") is None


def test_children_and_adults_go_to_their_own_parts(utkface: Path, tmp_path: Path) -> None:
    out = tmp_path / "utk"
    done = split_by_age(utkface, out)
    assert (done.adults, done.children, done.unnamed) == (2, 2, 1)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == [
        f"adult/015/{NAMES[2]}", f"adult/061/{NAMES[3]}", f"child/003/{NAMES[0]}", f"child/014/{NAMES[1]}"]
    assert (out / "child" / "003" / NAMES[0]).read_bytes() == PHOTOS[0].read_bytes()
    with pytest.raises(FileExistsError):
        split_by_age(utkface, out)
    assert split_by_age(utkface, tmp_path / "older", child_age=62).adults == 0


def test_the_command_reports_the_split_and_refuses_a_folder_without_utkface_names(
        utkface: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gather-utkface", str(utkface), "--out", str(tmp_path / "utk"), "--child-age", "18"]) == 0
    assert "1 faces aged 18+" in capsys.readouterr().out  # 15 is under 18: one adult, three children
    parts = sorted(p.parent.parent.name for p in (tmp_path / "utk").rglob("*.jpg"))
    assert parts == ["adult", "child", "child", "child"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "portrait.jpg").write_bytes(PHOTOS[0].read_bytes())
    with pytest.raises(SystemExit, match="expected UTKFace"):
        main(["gather-utkface", str(empty), "--out", str(tmp_path / "none")])
