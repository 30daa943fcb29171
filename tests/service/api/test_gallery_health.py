"""Gallery health and what the console shows of faces, through HTTP on SQLite and Postgres: /v1/gallery/separability
against Sep computed here from the pipeline's own embeddings, the enrolment warning for a face that matches another
identity better, stored crops, and aligned crops returned by verify and identify."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.config import Settings
from service.vision.pipeline import FacePipeline
from tests.service.api.conftest import ADMIN_KEY
from tests.service.api.helpers import assert_error, lfw, side_by_side
from tests.service.conftest import identify_threshold

PHOTOS = {
    "blix": [lfw("Hans_Blix", 7), lfw("Hans_Blix", 8)],
    "garner": [lfw("Jennifer_Garner", 1), lfw("Jennifer_Garner", 3)],
    "peirsol": [lfw("Aaron_Peirsol", 1), lfw("Aaron_Peirsol", 3)],
}
MISPLACED = lfw("Hans_Blix", 24)  # a photo of Blix, enrolled under Garner


def _enrol(admin, identity_id: int, *images: bytes):
    files = [("images", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    return admin.post(f"/v1/identities/{identity_id}/faces", files=files)


def _jpeg_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


@pytest.fixture(scope="module")
def pipeline(service_settings: Settings) -> FacePipeline:
    return FacePipeline.from_settings(service_settings)


@pytest.fixture(scope="module")
def vectors(pipeline: FacePipeline) -> dict[str, np.ndarray]:
    """Each identity's embeddings as the gallery should hold them, computed here, without the service."""
    def embed(images: list[bytes]) -> np.ndarray:
        return np.stack([pipeline.embed_one(data).embedding for data in images])

    found = {name: embed(images) for name, images in PHOTOS.items()}
    found["garner"] = np.concatenate([found["garner"], embed([MISPLACED])])
    return found


@pytest.fixture(scope="module")
def gallery(admin) -> dict:
    """Three identities; Garner also holds the misplaced photo of Blix, whose enrolment answer is kept."""
    ids = {name: admin.post("/v1/identities", json={"name": name}).json()["id"] for name in PHOTOS}
    for name, images in PHOTOS.items():
        response = _enrol(admin, ids[name], *images)
        assert response.status_code == 201, response.text
        assert [item["warning"] for item in response.json()["results"]] == [None, None], name
    misplaced = _enrol(admin, ids["garner"], MISPLACED)
    assert misplaced.status_code == 201, misplaced.text
    return {"ids": ids, "misplaced": misplaced.json()["results"][0]}


def _centre(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(axis=0)
    return total / np.linalg.norm(total)


def test_sep_per_identity_is_the_cosine_to_the_nearest_other_centre(admin, gallery, vectors, service_card):
    health = admin.get("/v1/gallery/separability").json()
    centres = {name: _centre(rows) for name, rows in vectors.items()}
    expected = {}
    for name, centre in centres.items():
        nearest = max((other for other in centres if other != name), key=lambda other: centre @ centres[other])
        expected[gallery["ids"][name]] = (gallery["ids"][nearest], float(centre @ centres[nearest]))
    rows = health["neighbours"]["items"]
    assert {row["identity"]["id"]: row["nearest"]["id"] for row in rows} == {k: v[0] for k, v in expected.items()}
    for row in rows:
        assert row["cosine"] == pytest.approx(expected[row["identity"]["id"]][1], abs=1e-4)
    assert [row["cosine"] for row in rows] == sorted((row["cosine"] for row in rows), reverse=True)
    seps = [value for _, value in expected.values()]
    assert health["sep"]["mean"] == pytest.approx(np.mean(seps), abs=1e-4)
    assert health["sep"]["std"] == pytest.approx(np.std(seps), abs=1e-4)
    assert (health["identities"], health["faces"]) == (3, 7)
    assert health["identify_threshold"] == pytest.approx(identify_threshold(service_card, 1, health["identities"]))


def test_the_misplaced_face_is_the_one_stray_and_its_pair_comes_first(admin, gallery, vectors, pipeline):
    health = admin.get("/v1/gallery/separability").json()
    misplaced_id = gallery["misplaced"]["face_id"]
    (stray,) = health["strays"]
    assert health["strays_total"] == 1
    assert (stray["face_id"], stray["identity"]["id"], stray["nearest"]["id"]) == (
        misplaced_id, gallery["ids"]["garner"], gallery["ids"]["blix"])
    misplaced = vectors["garner"][-1]
    assert stray["own_cosine"] == pytest.approx(misplaced @ _centre(vectors["garner"][:-1]), abs=1e-4)
    assert stray["cosine"] == pytest.approx(misplaced @ _centre(vectors["blix"]), abs=1e-4)
    pairs = health["pairs"]
    assert {frozenset((p["identity_a"]["id"], p["identity_b"]["id"])) for p in pairs} >= {
        frozenset((gallery["ids"]["garner"], gallery["ids"]["blix"]))}
    assert len({frozenset((p["identity_a"]["id"], p["identity_b"]["id"])) for p in pairs}) == len(pairs)
    first = pairs[0]
    assert {first["identity_a"]["id"], first["identity_b"]["id"]} == {gallery["ids"]["garner"], gallery["ids"]["blix"]}
    # the pair's closest faces: the misplaced photo and the Blix face most like it
    assert misplaced_id in (first["face_a"], first["face_b"])
    assert first["face_similarity"] == pytest.approx(float(np.max(vectors["blix"] @ misplaced)), abs=1e-4)
    closest = vectors["blix"][int(np.argmax(vectors["blix"] @ misplaced))]
    assert first["face_score"] == pytest.approx(pipeline.embedder.scoring.pair(closest, misplaced)[1], abs=1e-4)


def test_the_enrolment_of_the_misplaced_face_warned(gallery, vectors, pipeline):
    warning = gallery["misplaced"]["warning"]
    misplaced = vectors["garner"][-1]
    assert warning["code"] == "closer_to_other_identity"
    assert warning["identity"]["id"] == gallery["ids"]["blix"]
    # both scored as /identify scores identities: against the template of each identity's faces
    scoring = pipeline.embedder.scoring
    assert warning["similarity"] == pytest.approx(float(misplaced @ _centre(vectors["blix"])), abs=1e-4)
    assert warning["score"] == pytest.approx(scoring.pair(misplaced, _centre(vectors["blix"]))[1], abs=1e-4)
    assert warning["own_score"] == pytest.approx(scoring.pair(misplaced, _centre(vectors["garner"][:-1]))[1], abs=1e-4)
    assert warning["own_score"] < warning["score"]
    assert "'blix'" in warning["message"]


def test_a_first_face_that_reaches_the_identify_threshold_for_another_identity_warns(admin, gallery, service_card):
    newcomer = admin.post("/v1/identities", json={"name": "newcomer"}).json()["id"]
    try:
        result = _enrol(admin, newcomer, lfw("Hans_Blix", 9)).json()["results"][0]
        assert result["status"] == "enrolled"
        warning = result["warning"]
        assert warning["identity"]["id"] == gallery["ids"]["blix"] and warning["own_score"] is None
        blix_faces = len(admin.get(f"/v1/identities/{gallery['ids']['blix']}/faces").json()["items"])
        identities = admin.post("/v1/identify", files={"image": ("q.jpg", lfw("Hans_Blix", 9), "image/jpeg")}).json()
        assert warning["score"] >= identify_threshold(service_card, blix_faces, identities["identities"] - 1)
    finally:
        admin.delete(f"/v1/identities/{newcomer}")


def test_the_health_page_of_results_and_its_bounds(admin, gallery):
    page = admin.get("/v1/gallery/separability", params={"offset": 1, "limit": 1, "pairs": 1, "strays": 0}).json()
    assert (page["neighbours"]["total"], len(page["neighbours"]["items"]), page["neighbours"]["offset"]) == (3, 1, 1)
    assert len(page["pairs"]) == 1 and page["strays"] == [] and page["strays_total"] == 1
    assert_error(admin.get("/v1/gallery/separability", params={"pairs": 501}), 422, "validation_error")
    assert_error(admin.get("/v1/gallery/separability", params={"limits": 3}), 422, "unexpected_field")


def test_a_stored_crop_is_the_aligned_face_of_its_image(admin, client_role, gallery, pipeline):
    identity = gallery["ids"]["blix"]
    face = admin.get(f"/v1/identities/{identity}/faces").json()["items"][0]
    response = client_role.get(f"/v1/identities/{identity}/faces/{face['id']}/crop")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    stored = _jpeg_pixels(response.content)
    assert stored.shape == (112, 96, 3)
    aligned = pipeline.align_one(PHOTOS["blix"][0]).crop.astype(np.float32)
    assert np.abs(stored - aligned).mean() < 3  # the same crop, through JPEG at quality 90
    assert_error(admin.get(f"/v1/identities/{gallery['ids']['garner']}/faces/{face['id']}/crop"), 404, "not_found")
    assert_error(admin.get(f"/v1/identities/{identity}/faces/999999/crop"), 404, "not_found")
    assert_error(admin.get(f"/v1/identities/{identity}/faces/0/crop"), 422, "validation_error")


def test_a_face_enrolled_without_its_crop_has_none_to_show(gallery_settings, tmp_path):
    settings = gallery_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'no-crops.db'}",
                                                   "store_crops": False})
    with TestClient(create_app(settings), headers={"X-API-Key": ADMIN_KEY}) as app:
        identity = app.post("/v1/identities", json={"name": "blix"}).json()["id"]
        face_id = _enrol(app, identity, PHOTOS["blix"][0]).json()["results"][0]["face_id"]
        body = assert_error(app.get(f"/v1/identities/{identity}/faces/{face_id}/crop"), 404, "not_found")
    assert "FACEVER_STORE_CROPS" in body["error"]["message"]


def _crop(data_url: str) -> np.ndarray:
    prefix = "data:image/jpeg;base64,"
    assert data_url.startswith(prefix)
    return _jpeg_pixels(base64.b64decode(data_url[len(prefix):]))


def test_verify_and_identify_return_the_aligned_crops_when_asked(client_role, pipeline):
    a, b = PHOTOS["blix"][0], PHOTOS["garner"][0]
    files = {"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")}
    plain = client_role.post("/v1/verify", files=files).json()
    assert plain["crop_a"] is None and plain["crop_b"] is None
    answer = client_role.post("/v1/verify", files=files, data={"return_crops": "true"}).json()
    for name, image in (("crop_a", a), ("crop_b", b)):
        assert np.abs(_crop(answer[name]) - pipeline.align_one(image).crop).mean() < 3
    assert answer["similarity"] == plain["similarity"]

    group = side_by_side(a, b)
    found = client_role.post("/v1/identify", files={"image": ("g.png", group, "image/png")},
                             data={"all_faces": "true", "return_crops": "true"}).json()
    assert len(found["faces"]) == 2
    for face in found["faces"]:
        assert _crop(face["crop"]).shape == (112, 96, 3)
    one = client_role.post("/v1/identify", files={"image": ("a.jpg", a, "image/jpeg")}).json()
    assert one["crop"] is None
