"""gather-celeba: the unlabelled CelebA photos are the copies' photos of people the labelled subset lacks, once each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR
from training.distill.__main__ import main
from training.distill.celeba_extra import gather, labelled_identities, read_identities

PHOTOS = sorted((DATA_DIR / "celeba" / "faces").glob("*/*.jpg"))[:4]


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """Two copies sharing 000002.jpg (different bytes), an identity file with a header, and a labelled manifest."""
    first, second = tmp_path / "first" / "imgs", tmp_path / "second"
    for folder, names, photos in ((first, ["000001.jpg", "000002.jpg"], PHOTOS[:2]),
                                  (second, ["000002.jpg", "000003.jpg", "000004.jpg"], PHOTOS[1:])):
        folder.mkdir(parents=True)
        for name, photo in zip(names, photos, strict=True):
            shutil.copyfile(photo, folder / name)
    (second / "notes.txt").write_text("not an image")
    identities = tmp_path / "identity_CelebA.txt"
    identities.write_text("img label\n000001.jpg 7\n000002.jpg 8\n000003.jpg 9\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,identity,source,crop\nfaces/00009/111111.jpg,9,trung,mtcnn-box-x1.8\n")
    return first.parent, second, identities, manifest


def test_gathers_unlabelled_people_once_first_copy_winning(copies: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    first, second, identities, manifest = copies
    out = tmp_path / "extra"
    done = gather([first, second], read_identities(identities), labelled_identities(manifest), out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == ["00007/000001.jpg", "00008/000002.jpg"]
    assert (out / "00008" / "000002.jpg").read_bytes() == (first / "imgs" / "000002.jpg").read_bytes()
    assert (done.photos, done.people, done.labelled_people, done.duplicates, done.unknown) == (2, 2, 1, 1, 1)


def test_refuses_a_folder_already_gathered_into(copies: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    first, second, identities, manifest = copies
    out = tmp_path / "extra"
    gather([first], read_identities(identities), labelled_identities(manifest), out)
    with pytest.raises(FileExistsError, match="not empty"):
        gather([second], read_identities(identities), labelled_identities(manifest), out)


def test_an_identity_file_of_another_format_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "list_attr_celeba.txt"
    wrong.write_text("202599\n5_o_Clock_Shadow Arched_Eyebrows\n000001.jpg -1 1\n")
    with pytest.raises(ValueError, match="identity_CelebA.txt"):
        read_identities(wrong)


def test_command_reports_what_it_gathered(copies: tuple[Path, Path, Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    first, second, identities, manifest = copies
    out = tmp_path / "extra"
    args = ["gather-celeba", str(first), str(second), "--identities", str(identities), "--labelled", str(manifest),
            "--out", str(out)]
    assert main(args) == 0
    assert "2 photos of 2 people; skipped 1 of people the labelled subset holds, 1 found again" in capsys.readouterr().out
