"""The teacher cache: one unit vector per packed face, resumable, and refused when stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.data.shards import load_teacher_inputs, read_manifest, write_manifest, write_shard
from training.distill.cache import (
    CACHE_MANIFEST,
    StaleCacheError,
    cache_dir,
    load_teacher_vectors,
    read_cache_manifest,
    teach,
)
from training.distill.teacher import TEACHER_DIM, DlibTeacher, TeacherFiles


def _copy(data: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(data, tmp_path / "copy"))


def test_one_unit_vector_per_face_equal_to_the_teacher(taught: Path) -> None:
    vectors = load_teacher_vectors(taught, TeacherFiles.installed().sha256())
    manifest = read_manifest(taught)
    assert vectors.shape == (manifest.images, TEACHER_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    loose, boxes = load_teacher_inputs(taught, manifest.shards[1])
    expected = DlibTeacher().embed(np.asarray(loose), boxes)
    np.testing.assert_allclose(vectors[manifest.shards[0].count:][:len(expected)], expected, atol=1e-5)


def test_an_interrupted_cache_resumes_from_the_missing_shard(taught: Path, tmp_path: Path) -> None:
    data = _copy(taught, tmp_path)
    cache = read_cache_manifest(data)
    assert cache is not None
    del cache.shards["shard-00002"]
    (cache_dir(data) / CACHE_MANIFEST).write_text(json.dumps(cache.__dict__))
    (cache_dir(data) / "shard-00002.teacher.npy").unlink()
    kept = (cache_dir(data) / "shard-00000.teacher.npy").stat().st_mtime_ns
    with pytest.raises(StaleCacheError, match="lacks 1 shard"):
        load_teacher_vectors(data)
    teach(data, workers=1)
    assert (cache_dir(data) / "shard-00000.teacher.npy").stat().st_mtime_ns == kept  # not recomputed
    np.testing.assert_allclose(load_teacher_vectors(data), load_teacher_vectors(taught), atol=1e-6)


def test_a_changed_shard_makes_the_cache_stale(taught: Path, tmp_path: Path) -> None:
    data = _copy(taught, tmp_path)
    manifest = read_manifest(data)
    old = manifest.shards[1]
    crops, labels = np.load(old.files(data)[0]), np.load(old.files(data)[1])
    loose, boxes = load_teacher_inputs(data, old)
    manifest.shards[1] = write_shard(data, 1, crops[::-1].copy(), labels[::-1].copy(), old.next_item,
                                     np.asarray(loose)[::-1].copy(), boxes[::-1].copy())
    write_manifest(data, manifest)
    for action in (lambda: load_teacher_vectors(data), lambda: teach(data, workers=1)):
        with pytest.raises(StaleCacheError, match="shard-00001 changed.*facever distill teach"):
            action()


def test_another_teacher_is_refused(taught: Path) -> None:
    other = {name: "0" * 64 for name in TeacherFiles.installed().sha256()}
    with pytest.raises(StaleCacheError, match="another teacher"):
        load_teacher_vectors(taught, other)


def test_a_folder_without_a_cache_says_how_to_make_one(prepared: tuple) -> None:
    with pytest.raises(StaleCacheError, match="facever distill teach"):
        load_teacher_vectors(prepared[0])
