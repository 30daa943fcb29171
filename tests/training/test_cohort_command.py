"""`facever cohort`: a model ships its score-normalisation cohort, embedded by itself from real prepared faces; its
card names the file, drops what was measured on the old scores, and takes only reports scored the new way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from pydantic import ValidationError
from typer.testing import CliRunner

from service.cli import app
from service.errors import FaceverError
from service.vision.cohort import COHORT_FILE, Cohort
from service.vision.embedder import Embedder
from service.vision.model_card import Calibration, FarCurve, load_model_card
from tests.training.data.conftest import prepared, source_dir  # noqa: F401  reused session fixtures
from training.export.cohort import cohort_crops, crops_of_cohort
from training.export.compact import compact_model
from training.export.embedder import export_embedder
from training.nets import build_embedder


def _lfw_report(name: str, sha: str, cohort: dict | None) -> dict:
    return {"dataset": "lfw", "model": name, "onnx_sha256": sha, "cohort": cohort, "result": {
        "mean_accuracy": 0.9, "std_accuracy": 0.01, "n_pairs": 600, "best_threshold": {"value": 0.2},
        "tar_at_far": [{"far": 1e-3, "tar": 0.5, "threshold": 0.4}]}}


def _calibrate(model_dir: Path, report: dict, tmp_path: Path) -> int:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return CliRunner().invoke(app, ["calibrate", str(model_dir), "--report", str(path)]).exit_code


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A random-weight quarter-width model, calibrated on plain cosines as a model without a cohort is."""
    export_embedder(build_embedder(0, width=0.25), tmp_path / "model", name="r20-w025")
    card = load_model_card(tmp_path / "model")
    assert _calibrate(tmp_path / "model", _lfw_report(card.name, card.onnx_sha256, None), tmp_path) == 0
    return tmp_path / "model"


def test_the_cohort_is_the_models_own_embedding_of_one_face_per_person(model_dir: Path, prepared, tmp_path: Path) -> None:  # noqa: F811
    data_dir = prepared[0]
    before = load_model_card(model_dir)
    run = CliRunner().invoke(app, ["cohort", str(model_dir), str(data_dir), "--faces", "10", "--version", "9.1.0"])
    assert run.exit_code == 0, run.output
    embedder = Embedder(model_dir, threads=1)  # loads: the file matches the card's sha256 and shape
    card, cohort = embedder.card, embedder.scoring.cohort
    people = 3  # the prepared folder's people with a face: fewer than asked for
    assert card.cohort is not None and (card.cohort.faces, card.cohort.top_k) == (people, people)
    assert "LFW" in card.cohort.source and "seed 0" in card.cohort.source
    expected = embedder.embed(cohort_crops([data_dir], 10, seed=0))
    assert cohort.vectors == pytest.approx(expected, abs=2e-3)  # float16 on disk
    assert card.thresholds.best_accuracy is None and card.metrics.lfw_mean is None and card.calibration is None
    assert (card.metrics.sep_mean, card.onnx_sha256) == (before.metrics.sep_mean, before.onnx_sha256)
    assert (before.version, card.version) == ("0.1.0", "9.1.0")
    # only a report scored with this very cohort goes into the card
    assert _calibrate(model_dir, _lfw_report(card.name, card.onnx_sha256, None), tmp_path) == 2
    other = {"sha256": "0" * 64, "faces": people, "top_k": people}
    assert _calibrate(model_dir, _lfw_report(card.name, card.onnx_sha256, other), tmp_path) == 2
    same = other | {"sha256": card.cohort.sha256}
    assert _calibrate(model_dir, _lfw_report(card.name, card.onnx_sha256, same), tmp_path) == 0
    assert load_model_card(model_dir).thresholds.best_accuracy == 0.2


def test_a_changed_cohort_file_stops_the_model_loading(model_dir: Path, prepared) -> None:  # noqa: F811
    assert CliRunner().invoke(app, ["cohort", str(model_dir), str(prepared[0])]).exit_code == 0
    np.save(model_dir / COHORT_FILE, np.zeros((3, 1024), np.float16))
    with pytest.raises(FaceverError, match="does not match the card"):
        Embedder(model_dir, threads=1)


def test_a_card_refuses_thresholds_of_the_other_scoring(model_dir: Path, prepared) -> None:  # noqa: F811
    assert CliRunner().invoke(app, ["cohort", str(model_dir), str(prepared[0])]).exit_code == 0
    card = load_model_card(model_dir)
    curve = FarCurve(faces=1, far=[1e-2, 1e-3], threshold=[0.3, 0.4], impostor_scores=1000)
    plain = Calibration(curves=[curve], calibrated_on="x")
    with pytest.raises(ValidationError, match="does not match a card with a cohort"):
        card.updated(calibration=plain)
    assert card.updated(calibration=plain.model_copy(update={"scoring": "mean_template_cohort"})).calibration
    with pytest.raises(ValidationError, match="does not match a card without a cohort"):
        card.updated(cohort=None, calibration=plain.model_copy(update={"scoring": "mean_template_cohort"}))


def test_a_folder_that_was_not_prepared_is_a_clear_error(model_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos" / "someone"
    photos.mkdir(parents=True)
    card_before = (model_dir / "model.json").read_bytes()
    run = CliRunner().invoke(app, ["cohort", str(model_dir), str(photos.parent)])
    assert run.exit_code == 2 and "facever prepare" in run.output and "Traceback" not in run.output
    assert (model_dir / "model.json").read_bytes() == card_before and not (model_dir / COHORT_FILE).exists()


def test_another_form_of_the_network_reuses_the_cohorts_faces(model_dir: Path, prepared, tmp_path: Path) -> None:  # noqa: F811
    data_dir = prepared[0]
    half = tmp_path / "half"
    assert CliRunner().invoke(app, ["cohort", str(model_dir), str(data_dir), "--seed", "1"]).exit_code == 0
    compact_model(model_dir, half, "fp16", name="r20-w025-fp16")  # loads at once, on the source's cohort
    assert Embedder(half, threads=1).card.cohort == load_model_card(model_dir).cohort
    run = CliRunner().invoke(app, ["cohort", str(half), str(data_dir), "--faces-of", str(model_dir)])
    assert run.exit_code == 0, run.output
    embedder = Embedder(half, threads=1)
    faces = cohort_crops([data_dir], seed=1)
    assert not np.array_equal(faces, cohort_crops([data_dir], seed=0))  # so the default seed would not pass
    expected = embedder.embed(faces)
    assert embedder.scoring.cohort.vectors == pytest.approx(expected, abs=2e-3)
    assert embedder.card.cohort.source.startswith("the faces of r20-w025's cohort: 3 faces")


def test_a_cohort_whose_faces_are_not_in_the_folders_is_refused(model_dir: Path, prepared) -> None:  # noqa: F811
    random = np.random.default_rng(0).standard_normal((4, 1024)).astype(np.float32)
    strangers = Cohort(random / np.linalg.norm(random, axis=1, keepdims=True), top_k=2)
    with pytest.raises(ValueError, match="4 of 4 cohort faces are not in"):
        crops_of_cohort([prepared[0]], strangers, Embedder(model_dir, threads=1).embed)
    card_before = (model_dir / "model.json").read_bytes()
    run = CliRunner().invoke(app, ["cohort", str(model_dir), str(prepared[0]), "--faces-of", str(model_dir)])
    assert run.exit_code == 2 and "ships no cohort" in run.output and "Traceback" not in run.output
    assert (model_dir / "model.json").read_bytes() == card_before
