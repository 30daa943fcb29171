"""The gallery commands of the CLI: db upgrade, keys, enrol DIR, identify, verify (in-process)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from service.cli import app
from tests.conftest import lfw_image
from tests.service.api.helpers import GREY
from tests.service.conftest import identify_threshold, verify_threshold

runner = CliRunner()


@pytest.fixture
def env(service_settings, tmp_path, monkeypatch) -> str:
    """FACEVER_* variables pointing at the test models and a fresh SQLite file."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FACEVER_MODELS_DIR", str(service_settings.models_dir))
    monkeypatch.setenv("FACEVER_EMBEDDER", service_settings.embedder)
    monkeypatch.setenv("FACEVER_DATABASE_URL", url)
    return url


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_db_upgrade_and_keys(env):
    assert "head" in _run("db", "upgrade")
    created = json.loads(_run("keys", "create", "--role", "admin", "--name", "ops"))
    assert created["role"] == "admin" and created["key"].startswith("fv_")
    listed = [json.loads(line) for line in _run("keys", "list").splitlines()]
    assert [(k["id"], k["revoked"]) for k in listed] == [(created["id"], False)]
    assert created["key"] not in _run("keys", "list")
    _run("keys", "revoke", str(created["id"]))
    assert json.loads(_run("keys", "list").splitlines()[0])["revoked"] is True
    assert runner.invoke(app, ["keys", "revoke", "999"]).exit_code == 2
    assert runner.invoke(app, ["keys", "create", "--role", "root"]).exit_code == 2


def test_enrol_a_folder_then_identify_and_verify(env, tmp_path, service_card):
    people = tmp_path / "people"
    for name, numbers in {"Hans_Blix": (7, 8), "Jennifer_Garner": (1,)}.items():
        (people / name).mkdir(parents=True)
        for n in numbers:
            shutil.copy(lfw_image(name, n), people / name)
    (people / "Hans_Blix" / "blank.png").write_bytes(GREY)
    result = runner.invoke(app, ["enrol", str(people)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "identities": 2, "enrolled": 3, "already_enrolled": 0, "rejected": 1}
    assert "blank.png: no_face" in result.stderr
    rerun = json.loads(_run("enrol", str(people)).splitlines()[-1])  # idempotent: same identities, duplicates
    assert rerun == {"identities": 2, "enrolled": 0, "already_enrolled": 3, "rejected": 1}

    top = json.loads(_run("identify", str(lfw_image("Jennifer_Garner", 1))))["candidates"][0]
    assert top["name"] == "Jennifer Garner" and top["similarity"] == pytest.approx(1.0, abs=1e-4)
    for margin, match in ((-0.01, True), (0.01, False)):  # an explicit threshold applies to the score as is
        verdict = json.loads(_run("verify", str(lfw_image("Jennifer_Garner", 1)), "--identity",
                                  str(top["identity_id"]), "--threshold", f"{top['score'] + margin:.6f}"))
        assert verdict["match"] is match and verdict["score"] == pytest.approx(top["score"], abs=1e-6)
    pair = json.loads(_run("verify", str(lfw_image("Hans_Blix", 7)), str(lfw_image("Hans_Blix", 7))))
    assert pair["similarity"] == pytest.approx(1.0, abs=1e-5)

    # a photo that was not enrolled: found as its person, and verified against them at the card's threshold
    new_photo = str(lfw_image("Hans_Blix", 37))
    blix = json.loads(_run("identify", new_photo))["candidates"][0]
    assert blix["name"] == "Hans Blix" and blix["similarity"] < 1.0 - 1e-3
    verdict = json.loads(_run("verify", new_photo, "--identity", str(blix["identity_id"])))
    faces = blix["enrolled_faces"]  # the threshold for an identity of that many faces
    assert verdict["threshold"] == pytest.approx(verify_threshold(service_card, faces)) and verdict["match"] is True
    assert (verdict["identity_id"], verdict["enrolled_faces"], verdict["name"]) == (blix["identity_id"], faces,
                                                                                    "Hans Blix")
    assert verdict["far"] == service_card.calibration.default_far and "identity_id" not in pair
    verdict = json.loads(_run("verify", new_photo, "--identity", str(top["identity_id"])))  # Jennifer Garner
    assert verdict["match"] is False, verdict["similarity"]
    found = runner.invoke(app, ["identify", new_photo])
    assert json.loads(found.stdout)["match"]["name"] == "Hans Blix" and "no match" not in found.stderr
    assert json.loads(found.stdout)["far"] == service_card.calibration.default_far
    assert json.loads(_run("identify", new_photo, "--threshold", "0.5"))["far"] is None


def test_identify_says_no_match_and_names_the_best_candidate(env, tmp_path, service_card):
    people = tmp_path / "people" / "Hans_Blix"
    people.mkdir(parents=True)
    shutil.copy(lfw_image("Hans_Blix", 7), people)
    empty = runner.invoke(app, ["identify", str(lfw_image("Serena_Williams", 1))])  # nobody enrolled yet
    assert empty.exit_code == 0 and json.loads(empty.stdout)["match"] is None
    assert empty.stderr.startswith("no match: nobody is enrolled")
    _run("enrol", str(people.parent))
    stranger = runner.invoke(app, ["identify", str(lfw_image("Serena_Williams", 1))])
    assert stranger.exit_code == 0, stranger.output
    answer = json.loads(stranger.stdout)
    assert answer["match"] is None and answer["identities"] == 1
    assert answer["threshold"] == pytest.approx(identify_threshold(service_card, 1, 1))
    best = answer["candidates"][0]
    assert stranger.stderr.strip() == (
        f"no match: the best candidate, Hans Blix (identity {best['identity_id']}), has score "
        f"{best['score']}, below the threshold {answer['threshold']}")


@pytest.mark.parametrize("layout", ["loose-photos", "nested-too-deep", "empty"])
def test_enrol_refuses_a_folder_without_person_folders(env, tmp_path, layout):
    people = tmp_path / "people"
    where = {"loose-photos": people, "nested-too-deep": people / "group" / "Hans_Blix", "empty": people}[layout]
    where.mkdir(parents=True)
    if layout != "empty":
        shutil.copy(lfw_image("Hans_Blix", 7), where)
    (people / "Empty_Person").mkdir()
    result = runner.invoke(app, ["enrol", str(people)])
    assert result.exit_code == 2, result.output
    assert f"{people}/<person>/*.jpg" in result.stderr and "nothing to enrol" in result.stderr
    assert ("1 image file(s) directly in it" if layout == "loose-photos" else "any sub-folder") in result.stderr
    listed = json.loads(_run("identify", str(lfw_image("Hans_Blix", 7))))
    assert listed["candidates"] == []  # nothing was stored, not even an identity for the empty folder


def test_enrol_skips_loose_photos_beside_person_folders_and_says_so(env, tmp_path):
    people = tmp_path / "people"
    (people / "Hans_Blix").mkdir(parents=True)
    shutil.copy(lfw_image("Hans_Blix", 7), people / "Hans_Blix")
    shutil.copy(lfw_image("Jennifer_Garner", 1), people)
    result = runner.invoke(app, ["enrol", str(people)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["enrolled"] == 1
    assert f"skipped 1 image file(s) directly in {people}" in result.stderr


def test_enrol_says_how_to_take_the_largest_of_faces_of_similar_size(env, tmp_path):
    person = tmp_path / "people" / "Barbara_Boxer"
    person.mkdir(parents=True)
    shutil.copy(lfw_image("Barbara_Boxer", 1), person)  # a man's face beside hers, larger than hers
    refused = runner.invoke(app, ["enrol", str(person.parent)])
    assert refused.exit_code == 1
    assert "Barbara_Boxer_0001.jpg: multiple_faces: 2 faces were found, the second-largest with" in refused.stderr
    assert "rerun with --pick-largest to enrol the largest face" in refused.stderr
    assert "pick_largest=true" not in refused.stderr  # the API's field means nothing on the command line
    forced = json.loads(_run("enrol", str(person.parent), "--pick-largest").splitlines()[-1])
    assert forced["enrolled"] == 1


def test_enrol_takes_the_person_of_a_photo_with_a_small_background_face(env, tmp_path):
    person = tmp_path / "people" / "Billy_Crystal"
    person.mkdir(parents=True)
    shutil.copy(lfw_image("Billy_Crystal", 5), person)  # a passer-by's small face behind him
    assert json.loads(_run("enrol", str(person.parent)).splitlines()[-1])["enrolled"] == 1


def test_reembed_moves_the_gallery_to_a_new_model(env, service_settings, tmp_path, monkeypatch):
    _run("keys", "list")  # migrates the embedded database
    people = tmp_path / "people" / "Hans_Blix"
    people.mkdir(parents=True)
    shutil.copy(lfw_image("Hans_Blix", 7), people)
    _run("enrol", str(people.parent))
    # "a new model": the same weights under another name, so its similarities can be checked
    models = tmp_path / "models"
    models.mkdir()
    (models / "detector").symlink_to(service_settings.models_dir / "detector")
    (models / "next-model").symlink_to(service_settings.embedder_dir)
    monkeypatch.setenv("FACEVER_MODELS_DIR", str(models))
    monkeypatch.setenv("FACEVER_EMBEDDER", "next-model")
    assert json.loads(_run("identify", str(lfw_image("Hans_Blix", 7))))["candidates"] == []
    assert json.loads(_run("reembed").splitlines()[-1])["reembedded"] == 1
    assert json.loads(_run("reembed").splitlines()[-1])["reembedded"] == 0  # re-runnable
    top = json.loads(_run("identify", str(lfw_image("Hans_Blix", 7))))["candidates"][0]
    assert top["name"] == "Hans Blix" and top["similarity"] > 0.98  # the crop went through JPEG once
