"""The face-scale reproduction runner: rows train, are scored on real LFW pairs, are kept, and fill the docs section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from service.config import Settings
from service.vision.pipeline import FacePipeline
from tests.conftest import DATA_DIR
from tests.training.data.conftest import prepared, source_dir  # noqa: F401  tiny prepared CelebA folder
from training.data.prepare import PrepareReport
from training.evaluation import align_images, lfw_pairs, present_pairs
from training.face_repro.report import FIG5, FIG6, RunInfo, faces_section
from training.face_repro.rows import rows, sweep_rows
from training.face_repro.run import LfwPairs, result_path, run_row

LFW = DATA_DIR / "lfw"
TINY = ("batch_size=4", "log_every=1", "data.workers=0")  # 9 crops: 2 steps per epoch


@pytest.fixture(scope="module")
def lfw_subset(tmp_path_factory: pytest.TempPathFactory) -> LfwPairs:
    """The first 3 same + 3 different LFW pairs of 2 folds, aligned by the service pipeline."""
    listed = lfw_pairs(LFW / "pairs.txt", LFW / "lfw-deepfunneled").first_per_fold(3, 2)
    pairs, _ = present_pairs(listed)
    pipeline = FacePipeline.from_settings(Settings(), with_embedder=False)
    return LfwPairs(pairs, align_images(pairs.unique_paths(), pipeline, 2, tmp_path_factory.mktemp("crops")))


def test_rows_cover_the_issue_comparisons() -> None:
    keys = {r.key for r in rows(2)}
    assert {"softmax", "softmax_rf", "normface", "normface_iam", "cosface", "cosface_rf", "cosface_iam"} <= keys
    assert [r.lambda_ for r in sweep_rows(rows(2))] == [0.0, 2.0, 6.0, 18.0]
    annealed = next(r for r in rows(28) if r.key == "cosface_rf")
    assert "loss.lambda_warmup_epochs=3" in annealed.overrides  # RF's 3 of 28 epochs
    by_key = {r.key: r for r in rows(2)}
    assert not any(o.startswith("loss.lambda_") for o in by_key["cosface_iam"].overrides)  # RF off: no λ at all
    assert {"loss.beta=0.8", "loss.lambda_=6"} <= set(by_key["cosface_rf_iam"].overrides)


def test_rows_train_score_persist_and_report(
    prepared: tuple[Path, PrepareReport], lfw_subset: LfwPairs, tmp_path: Path  # noqa: F811
) -> None:
    data, _ = prepared
    chosen = [r for r in rows(1) if r.key in ("cosface", "cosface_rf", "cosface_rf_noanneal")]
    extra = (f"data.dir={data}", *TINY)
    results = {r.key: run_row(r, 1, lfw_subset, tmp_path, extra) for r in chosen}
    for row in chosen:
        result = results[row.key]
        assert result.steps == 2 and 0.0 <= result.lfw_mean <= 1.0 and 0.0 <= result.auc <= 1.0
        assert -1.0 <= result.sep_mean <= 1.0
        assert json.loads(result_path(tmp_path, row).read_text())["lfw_mean"] == result.lfw_mean
    # a finished row is read back, not retrained
    assert run_row(chosen[0], 1, lfw_subset, tmp_path, extra) == results["cosface"]

    docs = tmp_path / "docs"
    section = faces_section(RunInfo("python -m training.face_repro", 1), rows(1), results, docs, tmp_path)
    for row in chosen:
        assert f"| {row.label} | {100 * results[row.key].lfw_mean:.2f} ± " in section
    not_run = section.split("Not run yet: ", 1)[1].split("\n", 1)[0]
    assert all(r.label in not_run for r in rows(1) if r.key not in results)
    assert (docs / FIG5).stat().st_size > 0 and (docs / FIG6).stat().st_size > 0
