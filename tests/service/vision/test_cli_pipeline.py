"""The pipeline commands of the CLI on real LFW photos: detect, embed, compare."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import lfw_image
from tests.service.conftest import verify_threshold

runner = CliRunner()
PHOTO_A = str(lfw_image("Aaron_Peirsol", 1))
PHOTO_B = str(lfw_image("Aaron_Peirsol", 3))


@pytest.fixture(autouse=True)
def models(service_settings, monkeypatch):
    monkeypatch.setenv("FACEVER_MODELS_DIR", str(service_settings.models_dir))
    monkeypatch.setenv("FACEVER_EMBEDDER", service_settings.embedder)


def _run(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_detect_lists_faces_with_landmarks():
    faces = _run("detect", PHOTO_A)["faces"]
    assert len(faces) >= 1
    assert all(len(face["box"]) == 4 and len(face["landmarks"]) == 5 for face in faces)
    assert max(face["score"] for face in faces) > 0.99


def test_embed_prints_a_unit_vector_and_writes_npy(tmp_path):
    faces = _run("embed", PHOTO_A)["faces"]
    vector = np.array(faces[0]["embedding"])
    assert vector.shape == (1024,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    out = tmp_path / "a.npy"
    _run("embed", PHOTO_A, "--out", str(out))
    assert np.load(out).shape == (1024,)  # the chosen face: one vector
    np.testing.assert_allclose(np.load(out), vector, atol=1e-5)


def test_embed_with_policy_all_writes_one_row_per_face(tmp_path):
    faces = _run("embed", PHOTO_A, "--policy", "all")["faces"]
    out = tmp_path / "all.npy"
    _run("embed", PHOTO_A, "--policy", "all", "--out", str(out))
    assert np.load(out).shape == (len(faces), 1024)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (120, 120), (128, 128, 128)).save(blank)
    _run("embed", str(blank), "--policy", "all", "--out", str(out))
    assert np.load(out).shape == (0, 1024)
    result = runner.invoke(app, ["embed", str(blank), "--out", str(tmp_path / "none.npy")])  # no face to choose
    assert result.exit_code == 2 and json.loads(result.stderr)["error"]["code"] == "no_face"


def test_compare_prints_a_similarity_and_the_cards_decision(service_card):
    same = _run("compare", PHOTO_A, PHOTO_A)
    assert same["similarity"] == pytest.approx(1.0, abs=1e-5)
    other = _run("compare", PHOTO_A, PHOTO_B)  # two photos of one person
    assert -1.0 <= other["similarity"] < 1.0 and other["model"] == service_card.name
    assert other["threshold"] == pytest.approx(verify_threshold(service_card))
    assert other["match"] is True, other["similarity"]
    stranger = _run("compare", PHOTO_A, str(lfw_image("Hans_Blix", 8)))
    assert stranger["match"] is False, stranger["similarity"]


def test_no_face_is_a_coded_failure(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (120, 120), (128, 128, 128)).save(blank)
    result = runner.invoke(app, ["compare", str(blank), PHOTO_A])
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["code"] == "no_face"
