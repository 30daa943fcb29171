"""Service fixtures: a models folder with the shipped detector and the random placeholder embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import REPO_ROOT, Settings


@pytest.fixture(scope="session")
def random_embedder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/resnet20-random built from seed 0 into a session temp dir (about 20 s, ~87 MB)."""
    pytest.importorskip("torch")
    from training.export.embedder import export_random_placeholder

    model_dir = tmp_path_factory.mktemp("models") / "resnet20-random"
    export_random_placeholder(model_dir, seed=0)
    return model_dir


@pytest.fixture(scope="session")
def service_settings(random_embedder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on a models folder holding the committed detector beside the placeholder embedder,
    and a fresh SQLite gallery; tests copy it with model_copy(update=...) to change a knob."""
    models_dir = random_embedder_dir.parent
    detector = models_dir / "detector"
    if not detector.exists():
        detector.symlink_to(REPO_ROOT / "models" / "detector", target_is_directory=True)
    database = tmp_path_factory.mktemp("db") / "facever.db"
    return Settings(models_dir=models_dir, embedder=random_embedder_dir.name, database_url=f"sqlite:///{database}")
