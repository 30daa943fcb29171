"""Service fixtures: settings on the shipped models (detector and default embedder), and the random placeholder
embedder for the few tests that need a network whose torch source is known (ONNX export parity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import REPO_ROOT, Settings
from service.decisions import identify_decision, verify_decision
from service.vision.model_card import ModelCard, load_model_card

DEFAULT_EMBEDDER: str = Settings.model_fields["embedder"].default  # what a fresh clone serves, whatever FACEVER_* says


@pytest.fixture(scope="session")
def random_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/resnet20-random built from seed 0 into a session temp dir (about 20 s, ~87 MB): build_embedder(0)
    exported, for tests that compare torch with ONNX; its similarities mean nothing and its card has no threshold."""
    pytest.importorskip("torch")
    from training.export.embedder import export_random_placeholder

    model_dir = tmp_path_factory.mktemp("models") / "resnet20-random"
    export_random_placeholder(model_dir, seed=0)
    return model_dir


@pytest.fixture(scope="session")
def service_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on the repository's models folder (the committed detector and the shipped default embedder, whose
    card carries calibrated thresholds) and a fresh SQLite gallery; tests copy it with model_copy(update=...)."""
    database = tmp_path_factory.mktemp("db") / "facever.db"
    return Settings(models_dir=REPO_ROOT / "models", embedder=DEFAULT_EMBEDDER, database_url=f"sqlite:///{database}")


@pytest.fixture(scope="session")
def service_card(service_settings: Settings) -> ModelCard:
    """The card of the embedder the service tests run on, read at run time: its thresholds are the expected ones."""
    card = load_model_card(service_settings.embedder_dir)
    assert card.thresholds.best_accuracy is not None, f"{service_settings.embedder_dir} has no calibrated threshold"
    return card


def verify_threshold(card: ModelCard, faces: int = 1) -> float | None:
    """The threshold /v1/verify applies when the request names none (photo against photo: 1 face)."""
    return verify_decision(card, None, None, faces).threshold


def identify_threshold(card: ModelCard, faces: int, identities: int) -> float | None:
    """The threshold /v1/identify holds a candidate of `faces` faces to among `identities`, when none is named."""
    return identify_decision(card, None, None, faces, identities).threshold
