"""prepare: counts, failures, crops identical to the service pipeline, determinism, resume, shard size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.config import Settings
from service.vision.image_io import read_image
from service.vision.pipeline import FacePipeline
from tests.training.data.conftest import BROKEN, IDENTITIES, PER_IDENTITY, SHARD_MB, copy_of
from training.data.prepare import PrepareReport, main, prepare
from training.data.shards import (
    CROP_SHAPE,
    MIB,
    load_shard,
    load_teacher_inputs,
    read_manifest,
    shard_capacity,
    verify_shards,
)
from training.distill.teacher import LOOSE_SCALE, LOOSE_SIZE, loose_crop


def _shard_bytes(data_dir: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(data_dir.glob("shard-*.npy"))]


def test_counts_failures_and_labels(prepared: tuple[Path, PrepareReport]) -> None:
    out, report = prepared
    faces = len(IDENTITIES) * PER_IDENTITY
    assert (report.images, report.aligned, report.no_face, report.unreadable) == (faces + 2, faces, 1, 1)
    assert (report.identities, report.shards, report.skipped) == (len(IDENTITIES), 3, 0)
    manifest = read_manifest(out)
    assert manifest.complete and manifest.identities == [*IDENTITIES, BROKEN]
    assert [(f.path, f.kind) for f in manifest.failures] == [
        (f"{IDENTITIES[-1]}/grey.jpg", "no_face"), (f"{BROKEN}/corrupt.jpg", "unreadable")]
    arrays = [load_shard(out, shard) for shard in manifest.shards]
    crops = np.concatenate([c for c, _ in arrays])
    labels = np.concatenate([lab for _, lab in arrays])
    assert crops.dtype == np.uint8 and crops.shape == (faces, *CROP_SHAPE)
    assert labels.dtype == np.int32 and labels.tolist() == np.repeat(np.arange(len(IDENTITIES)), PER_IDENTITY).tolist()


def test_crops_are_the_service_pipelines(prepared: tuple[Path, PrepareReport], source_dir: Path) -> None:
    out, _ = prepared
    first = min((source_dir / IDENTITIES[0]).iterdir())
    pipeline = FacePipeline.from_settings(Settings(), with_embedder=False)
    expected = pipeline.align(read_image(first), "centre")[0].crop
    np.testing.assert_array_equal(load_shard(out, read_manifest(out).shards[0])[0][0], expected)


def test_cli_in_one_process_gives_identical_bytes(prepared: tuple[Path, PrepareReport], source_dir: Path,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = prepared
    assert main([str(source_dir), str(tmp_path), "--workers", "1", "--shard-mb", str(SHARD_MB)]) == 0
    assert json.loads(capsys.readouterr().out)["aligned"] == len(IDENTITIES) * PER_IDENTITY
    assert _shard_bytes(tmp_path) == _shard_bytes(out)
    assert (tmp_path / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_rerun_of_a_finished_folder_does_nothing(prepared: tuple[Path, PrepareReport], source_dir: Path,
                                                 tmp_path: Path) -> None:
    out, first = prepared
    data = copy_of(out, tmp_path)
    again = prepare(source_dir, data, workers=1, shard_mb=SHARD_MB)
    assert again.skipped == again.images and (again.aligned, again.shards) == (first.aligned, first.shards)


def test_resume_after_losing_the_last_shard(prepared: tuple[Path, PrepareReport], source_dir: Path,
                                            tmp_path: Path) -> None:
    out, first = prepared
    data = copy_of(out, tmp_path)
    manifest = read_manifest(data)
    manifest.shards[-1].files(data)[0].unlink()  # as if the run died while writing it
    resumed = prepare(source_dir, data, workers=1, shard_mb=SHARD_MB)
    assert resumed.skipped == manifest.shards[-2].next_item  # only the lost shard's images were redone
    assert (resumed.aligned, resumed.no_face, resumed.unreadable) == (first.aligned, first.no_face, first.unreadable)
    assert _shard_bytes(data) == _shard_bytes(out)
    assert (data / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


def test_refuses_to_resume_with_other_settings(prepared: tuple[Path, PrepareReport], source_dir: Path,
                                               tmp_path: Path) -> None:
    data = copy_of(prepared[0], tmp_path)
    with pytest.raises(ValueError, match="other inputs or settings"):
        prepare(source_dir, data, workers=1, shard_mb=1)


def test_shards_stay_within_shard_mb(prepared: tuple[Path, PrepareReport]) -> None:
    out, _ = prepared
    assert all(0 < path.stat().st_size <= SHARD_MB * MIB for path in out.glob("shard-*.npy"))
    assert shard_capacity(48) == 1560  # the default: 48 MiB shards of 112x96x3 crops
    with pytest.raises(ValueError):
        shard_capacity(64)


def test_verify_shards_catches_a_changed_byte(prepared: tuple[Path, PrepareReport], tmp_path: Path) -> None:
    verify_shards(prepared[0])
    data = copy_of(prepared[0], tmp_path)
    path = read_manifest(data).shards[1].files(data)[0]
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="shard-00001"):
        verify_shards(data)


def test_shards_keep_the_teachers_loose_crop_and_box(prepared: tuple[Path, PrepareReport], source_dir: Path) -> None:
    out, _ = prepared
    manifest = read_manifest(out)
    assert manifest.settings["loose"] == {"size": LOOSE_SIZE, "scale": LOOSE_SCALE}
    first = min((source_dir / IDENTITIES[0]).iterdir())
    rgb = read_image(first)
    face = FacePipeline.from_settings(Settings(), with_embedder=False).align(rgb, "centre")[0].face
    expected_crop, expected_box = loose_crop(rgb, face.box)
    loose, boxes = load_teacher_inputs(out, manifest.shards[0])
    assert loose.shape == (3, LOOSE_SIZE, LOOSE_SIZE, 3) and boxes.shape == (3, 4)
    np.testing.assert_array_equal(loose[0], expected_crop)
    np.testing.assert_allclose(boxes[0], expected_box)
    assert shard_capacity(48, LOOSE_SIZE * LOOSE_SIZE * 3) == 655  # the default shards with loose crops


def test_no_loose_gives_the_smaller_shards(source_dir: Path, tmp_path: Path) -> None:
    prepare(source_dir, tmp_path, workers=1, shard_mb=SHARD_MB, loose=False)
    manifest = read_manifest(tmp_path)
    assert manifest.settings["loose"] is None and all(s.loose_sha256 is None for s in manifest.shards)
    assert not list(tmp_path.glob("*.loose.npy"))
    with pytest.raises(ValueError, match="no loose crops"):
        load_teacher_inputs(tmp_path, manifest.shards[0])
