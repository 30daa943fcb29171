"""The LFW protocol end to end through the service pipeline on a small fixed subset.

The pipeline runs the shipped default embedder, but 20 pairs say little about accuracy (tests/service/vision/
test_shipped_model.py checks that), so only structure and invariants are checked here; the torch-versus-ONNX
check runs on the random placeholder, whose torch source build_embedder(0) is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.config import Settings
from service.vision.cohort import Cohort, Scoring
from service.vision.embedder import Embedder
from service.vision.pipeline import FacePipeline
from training.evaluation import AlignedSet, Features, PairList, align_images, embed_aligned, pair_report
from training.evaluation.cli import main
from training.evaluation.features import align_one
from training.evaluation.torch_embed import network_embedder
from training.nets import build_embedder


@pytest.fixture(scope="module")
def subset(lfw_all_pairs: PairList) -> PairList:
    """The first 5 same and 5 different pairs of folds 1 and 2: 20 pairs."""
    return lfw_all_pairs.first_per_fold(5, folds=2)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crops")


@pytest.fixture(scope="module")
def aligned(subset: PairList, pipeline: FacePipeline, cache_dir: Path) -> AlignedSet:
    return align_images(subset.unique_paths(), pipeline, workers=2, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def features(aligned: AlignedSet, pipeline: FacePipeline) -> Features:
    return embed_aligned(aligned, pipeline.embedder.embed)


def test_features_are_unit_vectors_of_each_unique_image(subset: PairList, features: Features) -> None:
    assert features.paths == tuple(str(path) for path in subset.unique_paths())
    assert features.vectors.shape == (len(features.paths), 1024)
    np.testing.assert_allclose(np.linalg.norm(features.vectors, axis=1), 1.0, atol=1e-5)


def test_an_image_without_a_face_falls_back_to_a_centre_crop(tmp_path: Path, pipeline: FacePipeline) -> None:
    grey = tmp_path / "grey.jpg"
    Image.new("RGB", (250, 250), (128, 128, 128)).save(grey)
    crop, fell_back = align_one(str(grey), pipeline)
    assert fell_back and crop.shape == (112, 96, 3) and crop.dtype == np.uint8


def test_the_same_image_twice_has_similarity_1(subset: PairList, features: Features) -> None:
    a = subset.path_a[0]
    twice = PairList((a,), (a,), np.array([True]), np.array([0]))
    assert features.pair_similarities(twice)[0] == pytest.approx(1.0, abs=1e-5)


def test_verification_on_the_subset_has_the_right_structure(subset: PairList, features: Features,
                                                            service_settings: Settings, pipeline: FacePipeline) -> None:
    sha256 = pipeline.embedder.card.onnx_sha256
    report = pair_report("lfw-subset", service_settings.embedder, sha256, subset, features, [], 0)
    result = report.result
    assert (result.n_pairs, result.n_same, len(result.fold_accuracies)) == (20, 10, 2)
    assert all(0.0 <= acc <= 1.0 for acc in result.fold_accuracies) and 0.0 <= result.auc <= 1.0
    assert all(-1.0 <= t <= 1.0 + 1e-6 for t in result.fold_thresholds)
    assert report.n_images == len(subset.unique_paths())
    assert len(report.fallback_paths) == features.n_fallback
    json.dumps(report.to_dict())  # JSON-ready


def test_the_crop_cache_is_reused(subset: PairList, pipeline: FacePipeline, cache_dir: Path,
                                  aligned: AlignedSet) -> None:
    assert len(list(cache_dir.glob("crops-*.npz"))) == 1
    cached = align_images(subset.unique_paths(), pipeline, cache_dir=cache_dir)
    assert cached.paths == aligned.paths
    np.testing.assert_array_equal(cached.crops, aligned.crops)
    np.testing.assert_array_equal(cached.fallback, aligned.fallback)


def test_a_torch_network_embeds_like_its_onnx_export(aligned: AlignedSet, random_embedder_dir: Path) -> None:
    # the placeholder ONNX is build_embedder(seed=0) exported: the torch callable must agree with it
    first = AlignedSet(aligned.paths[:8], aligned.crops[:8], aligned.fallback[:8])
    torch_features = embed_aligned(first, network_embedder(build_embedder(0)))
    onnx_features = embed_aligned(first, Embedder(random_embedder_dir).embed)
    np.testing.assert_allclose(torch_features.vectors, onnx_features.vectors, atol=1e-4)


def test_cli_writes_json_and_roc(service_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 lfw_dir: Path, cache_dir: Path, aligned: AlignedSet) -> None:
    out = tmp_path / "out"
    # the fixtures' subset and cache (`aligned` filled it): the CLI finds the crops aligned already
    code = main(["lfw", "--pairs", "5", "--folds", "2", "--lfw-dir", str(lfw_dir.parent),
                 "--embedder", service_settings.embedder, "--models-dir", str(service_settings.models_dir),
                 "--out", str(out), "--cache-dir", str(cache_dir)])
    assert code == 0 and "over 2 folds" in capsys.readouterr().out
    report = json.loads((out / f"lfw-{service_settings.embedder}.json").read_text())
    assert report["result"]["n_pairs"] == 20 and len(report["result"]["fold_accuracies"]) == 2
    assert report["missing_paths"] == [] and report["dropped_pairs"] == 0
    assert (out / f"lfw-{service_settings.embedder}-roc.png").stat().st_size > 0


def test_a_cohort_scores_every_pair_less_the_mean_of_its_shifts(subset: PairList, features: Features) -> None:
    cohort = Cohort(features.vectors[:8], top_k=3)  # any unit vectors will do as a cohort here
    normed = features.with_scoring(Scoring(cohort))
    a, b = features.rows(subset.path_a), features.rows(subset.path_b)
    shifts = cohort.shifts(features.vectors)
    expected = features.pair_similarities(subset) - (shifts[a] + shifts[b]) / 2
    assert normed.pair_similarities(subset) == pytest.approx(expected, abs=1e-6)
    assert not features.shifts.any()  # the plain features are left as they were: the cosine, no shift


@pytest.mark.parametrize("argv", [["identities", "--write-docs", "--plain"], ["identities", "--pairs", "5"]])
def test_options_that_do_not_fit_the_protocol_are_refused(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert ("drop --plain" if "--plain" in argv else "--pairs choose LFW pairs") in said, said
