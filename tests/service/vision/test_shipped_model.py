"""The shipped embedders (the default, and its int8 form) keep the promise of their model cards on real LFW
pairs, through the service's own pipeline (decode, MTCNN, alignment, ONNX embedder) and each card's own
decision threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import Settings
from service.vision.pipeline import FacePipeline
from training.evaluation import lfw_pairs
from training.evaluation.features import embed_images
from training.evaluation.verification import accuracy_at

PAIRS_PER_FOLD = 30  # the first 30 same + 30 different pairs of each fold: 600 fixed pairs
# At ~90 % accuracy one accuracy on 600 pairs has a binomial std of ~1.2 pp; 3 pp is 2.5 std below the card
TOLERANCE = 0.03


@pytest.fixture(scope="module", params=["default", "resnet20q-kd-cosface-rf-iam-int8"])
def shipped(request: pytest.FixtureRequest) -> FacePipeline:
    if request.param == "default":
        return FacePipeline.from_settings(Settings())  # the defaults are what a fresh clone serves
    return FacePipeline.from_settings(Settings(embedder=request.param))


def test_card_is_calibrated(shipped: FacePipeline) -> None:
    card = shipped.embedder.card
    assert card.metrics.lfw_mean is not None and card.metrics.lfw_std is not None
    assert card.thresholds.best_accuracy is not None and card.thresholds.calibrated_on
    assert card.training.epochs and card.training.base_loss  # a trained model, not the placeholder
    assert card.cohort is not None and shipped.embedder.scoring.cohort is not None  # scored as calibrated


def test_shipped_model_reaches_its_card_lfw_accuracy(shipped: FacePipeline, lfw_dir: Path) -> None:
    pairs = lfw_pairs(lfw_dir.parent / "pairs.txt", lfw_dir).first_per_fold(PAIRS_PER_FOLD)
    # scored as the service scores two photos: with the model's cohort
    features = embed_images(pairs.unique_paths(), shipped, workers=2).with_scoring(shipped.embedder.scoring)
    card = shipped.embedder.card
    accuracy = accuracy_at(features.pair_similarities(pairs), pairs.same, card.thresholds.best_accuracy)
    assert len(pairs) == 600
    assert accuracy >= card.metrics.lfw_mean - TOLERANCE, (accuracy, card.metrics.lfw_mean)
