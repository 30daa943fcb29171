"""One rule for the face a request uses, on every route: the policy chooses among faces that pass the quality gate.

Photos whose largest detected face is doubtful (a detection score under FACEVER_MIN_ENROL_DETECTION_SCORE)
beside a good face: enrolment keeps the good face, so /identify and /verify must use that same face.
"""

from __future__ import annotations

import pytest

from tests.service.api.helpers import assert_error, lfw, shrunk

# (LFW person, photo): each has a low-score largest face beside a good one, or (the last two) was reported so
PHOTOS = (("Columba_Bush", 1), ("Katie_Wagner", 1), ("Princess_Masako", 1), ("Robert_Bullock", 1),
          ("Ben_Chandler", 1), ("Bernadette_Peters", 1))


@pytest.mark.parametrize("photo", PHOTOS, ids=[name for name, _ in PHOTOS])
def test_an_enrolled_photo_identifies_and_verifies_as_its_own_identity(admin, client_role, photo):
    name, number = photo
    data = lfw(name, number)
    identity = admin.post("/v1/identities", json={"name": name}).json()["id"]
    enrolled = admin.post(f"/v1/identities/{identity}/faces", files=[("images", ("e.jpg", data, "image/jpeg"))],
                          data={"pick_largest": "true"})
    assert enrolled.status_code == 201, enrolled.text
    face_id = enrolled.json()["results"][0]["face_id"]

    found = client_role.post("/v1/identify", files={"image": ("q.jpg", data, "image/jpeg")})
    assert found.status_code == 200, found.text
    match = found.json()["match"]
    assert match is not None and match["identity"]["id"] == identity and match["face_id"] == face_id
    assert match["similarity"] == pytest.approx(1.0, abs=1e-3)  # the very face that was enrolled

    verified = client_role.post("/v1/verify", files={"image_a": ("a.jpg", data, "image/jpeg")},
                                data={"identity_id": str(identity)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["similarity"] == pytest.approx(1.0, abs=1e-3)


def test_no_face_passing_the_gate_is_the_same_coded_refusal_on_every_route(admin, client_role):
    small = shrunk(lfw("Aaron_Peirsol", 1))  # found, but under the 40 px minimum
    image = ("s.jpg", small, "image/jpeg")
    assert_error(client_role.post("/v1/identify", files={"image": image}), 422, "face_too_small")
    assert_error(client_role.post("/v1/identify", files={"image": image}, data={"all_faces": "true"}),
                 422, "face_too_small")
    body = assert_error(client_role.post("/v1/verify", files={"image_a": image, "image_b": image}),
                        422, "face_too_small")
    assert body["error"]["details"]["field"] == "image_a"
    identity = admin.post("/v1/identities", json={"name": "Too Small"}).json()["id"]
    enrolled = admin.post(f"/v1/identities/{identity}/faces", files=[("images", image)])
    assert enrolled.json()["error"]["details"]["results"][0]["reason"] == "face_too_small"
